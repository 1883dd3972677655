#include "node_sim/prompt_parse.hpp"

#include <nlohmann/json.hpp>

#include "node_sim/hashing.hpp"
#include "node_sim/tokenizer.hpp"

namespace cic::node_sim {
namespace {

using nlohmann::json;

void add_text(std::string_view text, PromptInput& out) {
  out.tokens += count_tokens(text);
  out.hash = fnv1a(text, out.hash);
  out.hash = fnv1a_u64(0x1f, out.hash);  // field separator, so "ab"+"c" != "a"+"bc"
}

// A content part list: text parts count by the tokenizer, any other part (image, audio) counts
// as one token so the request is still billed for something.
std::optional<SimError> add_content(const json& content, PromptInput& out) {
  if (content.is_null()) return std::nullopt;
  if (content.is_string()) {
    add_text(content.get_ref<const std::string&>(), out);
    return std::nullopt;
  }
  if (!content.is_array()) return bad_request("messages: content must be a string or a list of parts");
  for (const json& part : content) {
    if (!part.is_object()) return bad_request("messages: every content part must be an object");
    auto text = part.find("text");
    if (text != part.end() && text->is_string()) {
      add_text(text->get_ref<const std::string&>(), out);
    } else {
      out.tokens += 1;
      out.hash = fnv1a(part.dump(), out.hash);
    }
  }
  return std::nullopt;
}

void add_tool_calls(const json& calls, PromptInput& out) {
  if (!calls.is_array()) return;
  for (const json& call : calls) {
    auto fn = call.find("function");
    if (fn == call.end() || !fn->is_object()) continue;
    for (const char* key : {"name", "arguments"}) {
      auto v = fn->find(key);
      if (v != fn->end() && v->is_string()) add_text(v->get_ref<const std::string&>(), out);
    }
  }
}

std::optional<SimError> add_token_ids(const json& ids, const char* field, PromptInput& out) {
  for (const json& id : ids) {
    if (!id.is_number_integer()) {
      return bad_request(std::string(field) + ": a token id list must contain only integers");
    }
    out.hash = fnv1a_u64(id.get<std::uint64_t>(), out.hash);
  }
  out.tokens += static_cast<std::uint32_t>(ids.size());
  return std::nullopt;
}

}  // namespace

std::optional<SimError> parse_chat_messages(const json& messages, std::uint64_t seed_hash,
                                            PromptInput& out) {
  if (!messages.is_array()) return bad_request("messages: Input should be a valid list");
  out.tokens = kChatTokensPerConversation;
  out.hash = seed_hash;
  for (const json& message : messages) {
    if (!message.is_object()) return bad_request("messages: every message must be an object");
    auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      return bad_request("messages: every message needs a string `role`");
    }
    out.tokens += kChatTokensPerMessage;
    out.hash = fnv1a(role->get_ref<const std::string&>(), out.hash);
    if (auto content = message.find("content"); content != message.end()) {
      if (auto error = add_content(*content, out)) return error;
    }
    if (auto name = message.find("name"); name != message.end() && name->is_string()) {
      add_text(name->get_ref<const std::string&>(), out);
    }
    if (auto calls = message.find("tool_calls"); calls != message.end()) add_tool_calls(*calls, out);
  }
  return std::nullopt;
}

std::optional<SimError> parse_prompt_list(const json& value, const char* field,
                                          std::uint64_t seed_hash, std::vector<PromptInput>& out) {
  out.clear();
  const std::string empty_message =
      std::string("Either ") + field + " or " + field + "_embeds must be provided and non-empty.";
  if (value.is_string()) {
    PromptInput prompt{0, seed_hash};
    add_text(value.get_ref<const std::string&>(), prompt);
    out.push_back(prompt);
    return std::nullopt;
  }
  if (!value.is_array() || value.empty()) return bad_request(empty_message);
  const json& first = value.front();
  if (first.is_number_integer()) {
    PromptInput prompt{0, seed_hash};
    if (auto error = add_token_ids(value, field, prompt)) return error;
    out.push_back(prompt);
    return std::nullopt;
  }
  for (const json& item : value) {
    PromptInput prompt{0, seed_hash};
    if (item.is_string()) {
      add_text(item.get_ref<const std::string&>(), prompt);
    } else if (item.is_array() && !item.empty()) {
      if (auto error = add_token_ids(item, field, prompt)) return error;
    } else {
      return bad_request(std::string(field) +
                         ": expected a string, a list of strings, a list of token ids or a list "
                         "of token id lists");
    }
    out.push_back(prompt);
  }
  return std::nullopt;
}

}  // namespace cic::node_sim
