#include "node_sim/responses.hpp"

#include "node_sim/json_text.hpp"

namespace cic::node_sim {
namespace {

void append_head(std::string& out, std::string_view prefix, std::string_view object,
                 const ResponseIdentity& id) {
  out.append("{\"id\":\"");
  out.append(prefix);
  // The id is echoed from a header; escape it but keep the prefix inside the same string.
  std::size_t mark = out.size();
  append_json_string(out, id.request_id);
  out.erase(mark, 1);
  out.append(",\"object\":\"");
  out.append(object);
  out.append("\",\"created\":");
  append_int(out, id.created);
  out.append(",\"model\":");
  append_json_string(out, id.model);
}

void append_tail(std::string& out, std::uint64_t prompt_tokens, std::uint64_t completion_tokens) {
  out.append(",\"service_tier\":null,\"system_fingerprint\":null,\"usage\":");
  append_usage(out, prompt_tokens, completion_tokens);
  out.append(",\"prompt_logprobs\":null,\"kv_transfer_params\":null}");
}

}  // namespace

void append_usage(std::string& out, std::uint64_t prompt_tokens, std::uint64_t completion_tokens) {
  out.append("{\"prompt_tokens\":");
  append_uint(out, prompt_tokens);
  out.append(",\"total_tokens\":");
  append_uint(out, prompt_tokens + completion_tokens);
  out.append(",\"completion_tokens\":");
  append_uint(out, completion_tokens);
  out.append(",\"prompt_tokens_details\":null}");
}

void append_stop_reason(std::string& out, const GenerationPlan& plan,
                        const std::vector<std::string>& stops) {
  out.append("\"stop_reason\":");
  if (plan.stop_index >= 0) {
    append_json_string(out, stops[static_cast<std::size_t>(plan.stop_index)]);
  } else {
    out.append("null");
  }
}

void append_chat_completion(std::string& out, const ResponseIdentity& id,
                            const GenerationPlan& plan, std::uint32_t prompt_tokens,
                            const std::vector<std::string>& stops) {
  append_head(out, "chatcmpl-", "chat.completion", id);
  out.append(
      ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  append_json_string(out, plan.text);
  out.append(
      ",\"refusal\":null,\"annotations\":null,\"audio\":null,\"function_call\":null,"
      "\"tool_calls\":[],\"reasoning_content\":null},\"logprobs\":null,\"finish_reason\":\"");
  out.append(finish_reason_name(plan.finish_reason));
  out.append("\",");
  append_stop_reason(out, plan, stops);
  out.append("}]");
  append_tail(out, prompt_tokens, plan.token_count());
}

void append_text_completion(std::string& out, const ResponseIdentity& id,
                            std::span<const GenerationPlan> plans, std::uint32_t prompt_tokens,
                            const std::vector<std::string>& stops) {
  append_head(out, "cmpl-", "text_completion", id);
  out.append(",\"choices\":[");
  std::uint64_t completion_tokens = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const GenerationPlan& plan = plans[i];
    completion_tokens += plan.token_count();
    if (i > 0) out.push_back(',');
    out.append("{\"index\":");
    append_uint(out, i);
    out.append(",\"text\":");
    append_json_string(out, plan.text);
    out.append(",\"logprobs\":null,\"finish_reason\":\"");
    out.append(finish_reason_name(plan.finish_reason));
    out.append("\",");
    append_stop_reason(out, plan, stops);
    out.append(",\"prompt_logprobs\":null}");
  }
  out.push_back(']');
  append_tail(out, prompt_tokens, completion_tokens);
}

void append_model_list(std::string& out, const SimOptions& options, std::int64_t created) {
  out.append("{\"object\":\"list\",\"data\":[");
  for (std::size_t i = 0; i < options.models.size(); ++i) {
    const ModelSpec& model = options.models[i];
    if (i > 0) out.push_back(',');
    out.append("{\"id\":");
    append_json_string(out, model.id);
    out.append(",\"object\":\"model\",\"created\":");
    append_int(out, created);
    out.append(",\"owned_by\":\"vllm\",\"root\":");
    append_json_string(out, model.id);
    out.append(",\"parent\":null,\"max_model_len\":");
    append_uint(out, options.max_model_len);
    out.append(",\"permission\":[{\"id\":\"modelperm-");
    append_uint(out, i);
    out.append("\",\"object\":\"model_permission\",\"created\":");
    append_int(out, created);
    out.append(
        ",\"allow_create_engine\":false,\"allow_sampling\":true,\"allow_logprobs\":true,"
        "\"allow_search_indices\":false,\"allow_view\":true,\"allow_fine_tuning\":false,"
        "\"organization\":\"*\",\"group\":null,\"is_blocking\":false}]}");
  }
  out.append("]}");
}

}  // namespace cic::node_sim
