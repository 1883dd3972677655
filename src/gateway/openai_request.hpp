#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "cic/common/api_error.hpp"

namespace cic::gateway {

enum class Endpoint { kChatCompletions, kCompletions, kEmbeddings };
const char* to_string(Endpoint endpoint);  // chat.completions | completions | embeddings
const char* upstream_path(Endpoint endpoint);

/// A validated client request, ready to forward. Pure data; no I/O.
struct OpenAiRequest {
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string model;
  bool stream = false;
  bool client_include_usage = false;     // the client asked for the final usage chunk
  bool client_continuous_usage = false;  // the client asked for usage on every chunk
  std::int64_t max_tokens = 0;           // 0 = not given
  std::int64_t estimated_prompt_tokens = 0;
  std::string user;
  /// The body to send to the node. For streams it always asks for usage (include_usage and
  /// continuous_usage_stats) so the meter knows what was generated even if the client leaves.
  std::string upstream_body;
};

/// Parses and validates a client body for `endpoint`. `path_model` (non-empty under
/// /{org}/{env}/{model}/v1/...) fills in a missing `model` and must match a given one.
/// Errors are 400s naming the offending field in `param`.
std::variant<OpenAiRequest, ApiError> parse_openai_request(Endpoint endpoint, std::string_view body,
                                                           std::string_view path_model = {});

}  // namespace cic::gateway
