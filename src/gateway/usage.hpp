#pragma once
#include <cstdint>
#include <string_view>

namespace cic::gateway {

/// Token counts as a node reported them.
struct TokenUsage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  bool reported = false;  // the node sent a usage object at all
};

/// Reads `usage` from a complete JSON response body (non-streaming answers). Tolerates bodies it
/// cannot parse (returns reported = false).
TokenUsage usage_from_response_body(std::string_view body);

}  // namespace cic::gateway
