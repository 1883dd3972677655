#include "node_sim/stream_chunks.hpp"

#include "node_sim/http_text.hpp"
#include "node_sim/json_text.hpp"

namespace cic::node_sim {

void StreamChunkBuilder::reset(Endpoint endpoint, const ResponseIdentity& id,
                               std::uint32_t prompt_tokens, bool continuous_usage) {
  endpoint_ = endpoint;
  prompt_tokens_ = prompt_tokens;
  continuous_usage_ = continuous_usage;
  prefix_.clear();
  const bool chat = endpoint == Endpoint::kChat;
  prefix_.append("data: {\"id\":\"");
  prefix_.append(chat ? "chatcmpl-" : "cmpl-");
  std::size_t mark = prefix_.size();
  append_json_string(prefix_, id.request_id);
  prefix_.erase(mark, 1);
  prefix_.append(chat ? ",\"object\":\"chat.completion.chunk\",\"created\":"
                      : ",\"object\":\"text_completion\",\"created\":");
  append_int(prefix_, id.created);
  prefix_.append(",\"model\":");
  append_json_string(prefix_, id.model);
  prefix_.append(",\"choices\":[");
}

void StreamChunkBuilder::begin_event(std::string& out, std::uint32_t index, std::size_t& mark) {
  mark = begin_chunk(out);
  out.append(prefix_);
  out.append("{\"index\":");
  append_uint(out, index);
}

void StreamChunkBuilder::end_event(std::string& out, std::uint32_t completion_so_far,
                                   std::size_t mark) {
  out.push_back(']');
  if (continuous_usage_) {
    out.append(",\"usage\":");
    append_usage(out, prompt_tokens_, completion_so_far);
  } else if (endpoint_ == Endpoint::kCompletion) {
    out.append(",\"usage\":null");
  }
  out.append("}\n\n");
  end_chunk(out, mark);
}

void StreamChunkBuilder::append_role(std::string& out, std::uint32_t index) {
  std::size_t mark = 0;
  begin_event(out, index, mark);
  out.append(
      ",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
      "\"finish_reason\":null}");
  end_event(out, 0, mark);
}

void StreamChunkBuilder::append_piece(std::string& out, std::uint32_t index,
                                      std::string_view piece, std::uint32_t completion_so_far) {
  std::size_t mark = 0;
  begin_event(out, index, mark);
  if (endpoint_ == Endpoint::kChat) {
    out.append(",\"delta\":{\"content\":");
    append_json_string(out, piece);
    out.append("},\"logprobs\":null,\"finish_reason\":null}");
  } else {
    out.append(",\"text\":");
    append_json_string(out, piece);
    out.append(",\"logprobs\":null,\"finish_reason\":null,\"stop_reason\":null}");
  }
  end_event(out, completion_so_far, mark);
}

void StreamChunkBuilder::append_finish(std::string& out, std::uint32_t index,
                                       const GenerationPlan& plan,
                                       const std::vector<std::string>& stops,
                                       std::uint32_t completion_so_far) {
  std::size_t mark = 0;
  begin_event(out, index, mark);
  out.append(endpoint_ == Endpoint::kChat ? ",\"delta\":{},\"logprobs\":null,\"finish_reason\":\""
                                          : ",\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"");
  out.append(finish_reason_name(plan.finish_reason));
  out.append("\",");
  append_stop_reason(out, plan, stops);
  out.push_back('}');
  end_event(out, completion_so_far, mark);
}

void StreamChunkBuilder::append_usage_chunk(std::string& out, std::uint32_t completion_tokens) {
  std::size_t mark = begin_chunk(out);
  out.append(prefix_);
  out.append("],\"usage\":");
  append_usage(out, prompt_tokens_, completion_tokens);
  out.append("}\n\n");
  end_chunk(out, mark);
}

void StreamChunkBuilder::append_done(std::string& out) {
  std::size_t mark = begin_chunk(out);
  out.append("data: [DONE]\n\n");
  end_chunk(out, mark);
}

}  // namespace cic::node_sim
