#pragma once
// A realistic vLLM chat stream (continuous usage on every chunk, a final usage-only chunk, [DONE])
// and the exact bytes the SseFilter must produce for each client choice.
#include <string>
#include <vector>

namespace cic::gateway::testing {

struct StreamEvent {
  enum class Kind { kContent, kUsageOnly, kDone };
  Kind kind;
  std::string with_usage;     // the JSON the node sends
  std::string without_usage;  // the same chunk with its "usage" member removed
};

inline std::string usage_json(int prompt, int completion, int cached = -1) {
  std::string s = "{\"prompt_tokens\":" + std::to_string(prompt) +
                  ",\"total_tokens\":" + std::to_string(prompt + completion) +
                  ",\"completion_tokens\":" + std::to_string(completion);
  if (cached >= 0) s += ",\"prompt_tokens_details\":{\"cached_tokens\":" + std::to_string(cached) + "}";
  return s + "}";
}

inline StreamEvent chunk_event(const std::string& choices, const std::string& usage) {
  std::string head = R"({"id":"chatcmpl-7f3a","object":"chat.completion.chunk","created":1700000000,)"
                     R"("model":"llama-3-8b","choices":)" + choices;
  StreamEvent e{StreamEvent::Kind::kContent, head + ",\"usage\":" + usage + "}", head + "}"};
  if (choices == "[]") e.kind = StreamEvent::Kind::kUsageOnly;
  return e;
}

inline std::string delta(const std::string& delta_json, const char* finish = "null") {
  return R"([{"index":0,"delta":)" + delta_json + R"(,"logprobs":null,"finish_reason":)" + finish + "}]";
}

/// role chunk, three content chunks (one with UTF-8 and escapes), final chunk, usage-only, [DONE].
inline std::vector<StreamEvent> vllm_chat_stream() {
  return {
      chunk_event(delta(R"({"role":"assistant","content":""})"), usage_json(12, 0)),
      chunk_event(delta(R"({"content":"Hello"})"), usage_json(12, 1)),
      chunk_event(delta("{\"content\":\" caf\xC3\xA9\"}"), usage_json(12, 2)),
      chunk_event(delta(R"({"content":"\n\"ok\""})"), usage_json(12, 3)),
      chunk_event(delta(R"({"content":""})", R"("stop")"), usage_json(12, 3)),
      chunk_event("[]", usage_json(12, 3, 4)),
      StreamEvent{StreamEvent::Kind::kDone, "[DONE]", "[DONE]"},
  };
}

/// The node's bytes: "data: <json>" events separated by `separator` ("\n\n" or "\r\n\r\n").
inline std::string node_bytes(const std::vector<StreamEvent>& events, const std::string& separator = "\n\n") {
  std::string s;
  for (const auto& e : events) s += "data: " + e.with_usage + separator;
  return s;
}

/// What the client must receive.
inline std::string client_bytes(const std::vector<StreamEvent>& events, bool include_usage, bool continuous) {
  std::string s;
  for (const auto& e : events) {
    switch (e.kind) {
      case StreamEvent::Kind::kDone: s += "data: [DONE]\n\n"; break;
      case StreamEvent::Kind::kUsageOnly:
        if (include_usage) s += "data: " + e.with_usage + "\n\n";
        break;
      case StreamEvent::Kind::kContent:
        s += "data: " + (include_usage && continuous ? e.with_usage : e.without_usage) + "\n\n";
        break;
    }
  }
  return s;
}

}  // namespace cic::gateway::testing
