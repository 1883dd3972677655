#include "openai_request.hpp"

#include <nlohmann/json.hpp>

namespace cic::gateway {
namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    default: return "an integer";
  }
}

ApiError wrong_type(const std::string& param, const char* expected, const json& got) {
  return ApiError::invalid_request(param, "Invalid type for '" + param + "': expected " + expected + ", but got " +
                                              type_name(got) + ".",
                                   "invalid_type");
}

// Rough token estimate for budgeting before the node has counted: ~4 bytes a token.
std::int64_t estimate_tokens(std::size_t bytes) { return static_cast<std::int64_t>(bytes / 4 + 1); }

std::optional<ApiError> check_optional_number(const json& body, const char* name, double min, double max) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(name, "a number", *it);
  double v = it->get<double>();
  if (v < min || v > max) {
    return ApiError::invalid_request(name, std::string("'") + name + "' must be between " + json(min).dump() +
                                               " and " + json(max).dump() + ".",
                                     "invalid_value");
  }
  return std::nullopt;
}

std::optional<ApiError> check_positive_int(const json& body, const char* name, std::int64_t& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return wrong_type(name, "an integer", *it);
  // Large unsigned values would wrap when read as signed; compare in the type they came in.
  bool in_range = it->is_number_unsigned()
                      ? (it->get<std::uint64_t>() >= 1 && it->get<std::uint64_t>() <= 100'000'000)
                      : (it->get<std::int64_t>() >= 1 && it->get<std::int64_t>() <= 100'000'000);
  if (!in_range) {
    return ApiError::invalid_request(name, std::string("'") + name + "' must be a positive integer.", "invalid_value");
  }
  out = it->get<std::int64_t>();
  return std::nullopt;
}

std::optional<ApiError> check_messages(const json& body, std::int64_t& estimate) {
  auto it = body.find("messages");
  if (it == body.end()) return ApiError::invalid_request("messages", "Missing required parameter: 'messages'.", "missing_required_parameter");
  if (!it->is_array()) return wrong_type("messages", "an array", *it);
  if (it->empty()) return ApiError::invalid_request("messages", "'messages' must contain at least one message.", "invalid_value");
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return wrong_type(param, "an object", m);
    auto role = m.find("role");
    if (role == m.end()) return ApiError::invalid_request(param + ".role", "Missing required parameter: '" + param + ".role'.", "missing_required_parameter");
    if (!role->is_string()) return wrong_type(param + ".role", "a string", *role);
    auto content = m.find("content");
    if (content != m.end()) {
      if (content->is_string()) {
        bytes += content->get_ref<const std::string&>().size();
      } else if (content->is_array()) {
        bytes += content->dump().size();
      } else if (!content->is_null()) {
        return wrong_type(param + ".content", "a string or an array of content parts", *content);
      }
    }
    bytes += 16;  // role and framing
  }
  estimate = estimate_tokens(bytes);
  return std::nullopt;
}

// `prompt` (completions) and `input` (embeddings): a string, or a non-empty array of strings,
// token ids or arrays of token ids.
std::optional<ApiError> check_text_input(const json& body, const char* name, std::int64_t& estimate) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return ApiError::invalid_request(name, std::string("Missing required parameter: '") + name + "'.", "missing_required_parameter");
  }
  if (it->is_string()) {
    estimate = estimate_tokens(it->get_ref<const std::string&>().size());
    return std::nullopt;
  }
  if (!it->is_array()) return wrong_type(name, "a string or an array", *it);
  if (it->empty()) return ApiError::invalid_request(name, std::string("'") + name + "' must not be empty.", "invalid_value");
  std::int64_t tokens = 0;
  for (const json& item : *it) {
    if (item.is_string()) {
      tokens += estimate_tokens(item.get_ref<const std::string&>().size());
    } else if (item.is_number_integer()) {
      tokens += 1;
    } else if (item.is_array()) {
      for (const json& t : item) {
        if (!t.is_number_integer()) return wrong_type(name, "an array of token ids", t);
      }
      tokens += static_cast<std::int64_t>(item.size());
    } else {
      return wrong_type(name, "strings or token ids", item);
    }
  }
  estimate = tokens;
  return std::nullopt;
}

std::optional<ApiError> check_stream_fields(const json& body, OpenAiRequest& out) {
  if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return wrong_type("stream", "a boolean", *it);
    out.stream = it->get<bool>();
  }
  auto so = body.find("stream_options");
  if (so == body.end() || so->is_null()) return std::nullopt;
  if (!out.stream) {
    return ApiError::invalid_request("stream_options", "'stream_options' is only allowed when 'stream' is true.", "invalid_value");
  }
  if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
  if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
    if (!iu->is_boolean()) return wrong_type("stream_options.include_usage", "a boolean", *iu);
    out.client_include_usage = iu->get<bool>();
  }
  if (auto cu = so->find("continuous_usage_stats"); cu != so->end() && !cu->is_null()) {
    if (!cu->is_boolean()) return wrong_type("stream_options.continuous_usage_stats", "a boolean", *cu);
    out.client_continuous_usage = cu->get<bool>() && out.client_include_usage;
  }
  return std::nullopt;
}

std::optional<ApiError> validate(Endpoint endpoint, const json& body, OpenAiRequest& out) {
  std::optional<ApiError> error;
  switch (endpoint) {
    case Endpoint::kChatCompletions:
      error = check_messages(body, out.estimated_prompt_tokens);
      if (!error) error = check_positive_int(body, "max_tokens", out.max_tokens);
      if (!error) error = check_positive_int(body, "max_completion_tokens", out.max_tokens);
      break;
    case Endpoint::kCompletions:
      error = check_text_input(body, "prompt", out.estimated_prompt_tokens);
      if (!error) error = check_positive_int(body, "max_tokens", out.max_tokens);
      break;
    case Endpoint::kEmbeddings:
      error = check_text_input(body, "input", out.estimated_prompt_tokens);
      if (!error) {
        if (auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
          if (!f->is_string() || (*f != "float" && *f != "base64")) {
            return ApiError::invalid_request("encoding_format", "'encoding_format' must be 'float' or 'base64'.", "invalid_value");
          }
        }
        if (auto s = body.find("stream"); s != body.end() && s->is_boolean() && s->get<bool>()) {
          return ApiError::invalid_request("stream", "Embeddings cannot be streamed.", "invalid_value");
        }
      }
      return error;
  }
  if (!error) error = check_stream_fields(body, out);
  if (!error) error = check_optional_number(body, "temperature", 0, 2);
  if (!error) error = check_optional_number(body, "top_p", 0, 1);
  if (!error) error = check_optional_number(body, "presence_penalty", -2, 2);
  if (!error) error = check_optional_number(body, "frequency_penalty", -2, 2);
  if (!error) {
    std::int64_t n = 1;
    error = check_positive_int(body, "n", n);
    if (!error && n > 1 && out.stream) {
      // Usage accounting of parallel streamed choices is not supported by every node version.
      return ApiError::invalid_request("n", "'n' greater than 1 is not supported with 'stream'.", "invalid_value");
    }
  }
  if (!error) {
    if (auto stop = body.find("stop"); stop != body.end() && !stop->is_null() && !stop->is_string()) {
      if (!stop->is_array() || stop->size() > 4) return ApiError::invalid_request("stop", "'stop' must be a string or an array of at most 4 strings.", "invalid_value");
      for (const json& s : *stop) {
        if (!s.is_string()) return wrong_type("stop", "strings", s);
      }
    }
  }
  return error;
}

}  // namespace

const char* to_string(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kChatCompletions: return "chat.completions";
    case Endpoint::kCompletions: return "completions";
    case Endpoint::kEmbeddings: return "embeddings";
  }
  return "unknown";
}

const char* upstream_path(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kChatCompletions: return "/v1/chat/completions";
    case Endpoint::kCompletions: return "/v1/completions";
    case Endpoint::kEmbeddings: return "/v1/embeddings";
  }
  return "/";
}

std::variant<OpenAiRequest, ApiError> parse_openai_request(Endpoint endpoint, std::string_view text,
                                                           std::string_view path_model) {
  if (text.empty()) return ApiError::invalid_request("", "The request body is empty; a JSON object is required.", "invalid_json");
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return ApiError::invalid_json("the body is not valid JSON.");
  if (!body.is_object()) return ApiError::invalid_json("the body must be a JSON object.");

  OpenAiRequest out;
  out.endpoint = endpoint;
  bool rewrite = false;
  auto model = body.find("model");
  if (model == body.end() || model->is_null()) {
    if (path_model.empty()) return ApiError::invalid_request("model", "Missing required parameter: 'model'.", "missing_required_parameter");
    out.model = std::string(path_model);
    body["model"] = out.model;
    rewrite = true;
  } else if (!model->is_string()) {
    return wrong_type("model", "a string", *model);
  } else {
    out.model = model->get<std::string>();
    if (out.model.empty()) return ApiError::invalid_request("model", "'model' must not be empty.", "invalid_value");
    if (!path_model.empty() && out.model != path_model) {
      return ApiError::invalid_request("model", "'model' (" + out.model + ") does not match the model in the path (" +
                                                    std::string(path_model) + ").",
                                       "model_mismatch");
    }
  }
  if (auto user = body.find("user"); user != body.end() && user->is_string()) out.user = user->get<std::string>();
  if (auto error = validate(endpoint, body, out)) return *error;

  if (out.stream) {
    // Always ask the node for usage on every chunk; the relay hides what the client did not ask for.
    body["stream_options"] = {{"include_usage", true}, {"continuous_usage_stats", true}};
    rewrite = true;
  }
  out.upstream_body = rewrite ? body.dump(-1, ' ', false, json::error_handler_t::replace) : std::string(text);
  return out;
}

}  // namespace cic::gateway
