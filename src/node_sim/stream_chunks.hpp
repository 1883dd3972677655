#pragma once
// Server-sent events of a streaming chat or text completion, each wrapped in its own HTTP chunk.
// Chat chunks follow vLLM's `exclude_unset=True` serialisation (absent keys stay absent);
// completion chunks its `exclude_unset=False` one (every key present, `usage:null`).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "node_sim/generator.hpp"
#include "node_sim/request_parse.hpp"
#include "node_sim/responses.hpp"

namespace cic::node_sim {

class StreamChunkBuilder {
 public:
  /// Prepares the prefix every chunk of the request shares.
  void reset(Endpoint endpoint, const ResponseIdentity& id, std::uint32_t prompt_tokens,
             bool continuous_usage);

  /// Chat only: `delta:{role:"assistant",content:""}`.
  void append_role(std::string& out, std::uint32_t index);

  /// One generated piece; `completion_so_far` includes it (for continuous usage).
  void append_piece(std::string& out, std::uint32_t index, std::string_view piece,
                    std::uint32_t completion_so_far);

  /// The choice's last chunk: empty delta / text with finish_reason and stop_reason.
  void append_finish(std::string& out, std::uint32_t index, const GenerationPlan& plan,
                     const std::vector<std::string>& stops, std::uint32_t completion_so_far);

  /// The `choices:[]` usage chunk sent when include_usage is set.
  void append_usage_chunk(std::string& out, std::uint32_t completion_tokens);

  /// `data: [DONE]`.
  static void append_done(std::string& out);

 private:
  void begin_event(std::string& out, std::uint32_t index, std::size_t& mark);
  void end_event(std::string& out, std::uint32_t completion_so_far, std::size_t mark);

  Endpoint endpoint_ = Endpoint::kChat;
  std::string prefix_;  // `data: {"id":...,"model":...,"choices":[`
  std::uint32_t prompt_tokens_ = 0;
  bool continuous_usage_ = false;
};

}  // namespace cic::node_sim
