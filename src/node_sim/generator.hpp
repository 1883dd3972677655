#pragma once
// Deterministic text generation. The whole output of a choice is fixed before the first token is
// sent; streaming only paces it. That keeps streaming and non-streaming answers identical and
// makes the emitted-token count exactly the number of pieces sent.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cic::node_sim {

enum class FinishReason : std::uint8_t { kStop = 0, kLength = 1, kAbort = 2 };
inline constexpr int kFinishReasonCount = 3;

std::string_view finish_reason_name(FinishReason reason);

/// The request fields that shape the output of one choice.
struct GenerationLimits {
  std::uint32_t max_tokens = 16;
  std::uint32_t min_tokens = 0;
  bool ignore_eos = false;
  const std::vector<std::string>* stops = nullptr;
};

/// One choice's output: `text` is the concatenation of the pieces, piece i spans
/// [piece_ends[i-1], piece_ends[i]) and counts as exactly one token.
struct GenerationPlan {
  std::string text;
  std::vector<std::uint32_t> piece_ends;
  FinishReason finish_reason = FinishReason::kStop;
  int stop_index = -1;  // index into the request's stop list when a stop string ended the text

  std::uint32_t token_count() const { return static_cast<std::uint32_t>(piece_ends.size()); }
  std::string_view piece(std::size_t i) const;
};

inline constexpr std::uint32_t kMinNaturalTokens = 8;
inline constexpr std::uint32_t kMaxNaturalTokens = 64;

/// The length the "model" would stop at on its own (EOS), in [8, 64].
std::uint32_t natural_length(std::uint64_t request_hash);

/// The vocabulary generated words come from; every word is letters only, so " word" is one token.
std::string_view vocabulary_word(std::uint64_t index);

/// Fills `out` (reusing its capacity) with the output for a request hash under `limits`.
void plan_generation(std::uint64_t request_hash, const GenerationLimits& limits,
                     GenerationPlan& out);

}  // namespace cic::node_sim
