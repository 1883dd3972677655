#pragma once
// Validation of /v1 request bodies, in the order vLLM applies it: JSON and schema validators
// (400), model lookup (404), endpoint support (400), then the context-length check (400).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node_sim/options.hpp"
#include "node_sim/prompt_parse.hpp"
#include "node_sim/sim_error.hpp"

namespace cic::node_sim {

enum class Endpoint : std::uint8_t { kChat, kCompletion, kEmbedding };

/// Everything the server needs from a valid request. Reused across requests on a connection,
/// so vectors keep their capacity.
struct GenerationRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::size_t model_index = 0;
  std::string body_request_id;  // the body's `request_id`, used when no X-Request-Id is sent
  std::vector<PromptInput> prompts;  // chat: exactly one
  std::uint32_t prompt_tokens_total = 0;
  bool stream = false;
  bool include_usage = false;
  bool continuous_usage = false;
  std::uint32_t max_tokens = 0;  // resolved: the request's value or the endpoint default
  std::uint32_t min_tokens = 0;
  bool ignore_eos = false;
  std::vector<std::string> stops;
  bool base64 = false;            // embeddings: encoding_format
  std::uint32_t dimensions = 0;   // embeddings: output size
};

/// Parses and validates `body` for `endpoint`; on success fills `out`.
std::optional<SimError> parse_request(Endpoint endpoint, std::string_view body,
                                      const SimOptions& options, GenerationRequest& out);

}  // namespace cic::node_sim
