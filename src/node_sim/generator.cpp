#include "node_sim/generator.hpp"

#include <array>

#include "node_sim/hashing.hpp"

namespace cic::node_sim {
namespace {

// 64 common words, letters only; a power of two so the pick is a mask, not a division.
constexpr std::array<std::string_view, 64> kVocabulary = {
    "the",    "model",  "answer", "river",  "stone",  "light",  "garden", "number",
    "signal", "market", "window", "silver", "quiet",  "forest", "paper",  "engine",
    "orange", "planet", "winter", "summer", "bridge", "castle", "cloud",  "dream",
    "echo",   "field",  "glass",  "harbor", "island", "jungle", "kettle", "ladder",
    "meadow", "night",  "ocean",  "pencil", "quartz", "rocket", "shadow", "tiger",
    "umbra",  "valley", "wonder", "yellow", "zephyr", "amber",  "breeze", "candle",
    "desert", "ember",  "falcon", "granite", "horizon", "ivory", "jasmine", "kernel",
    "lantern", "marble", "nectar", "orbit",  "prism",  "raven",  "saffron", "timber"};

// Finds the earliest occurrence of any stop string; ties go to the first in the list.
int find_first_stop(const std::string& text, const std::vector<std::string>& stops,
                    std::size_t& position) {
  int found = -1;
  position = std::string::npos;
  for (std::size_t i = 0; i < stops.size(); ++i) {
    std::size_t at = text.find(stops[i]);
    if (at != std::string::npos && at < position) {
      position = at;
      found = static_cast<int>(i);
    }
  }
  return found;
}

bool all_spaces(std::string_view s) {
  for (char c : s) {
    if (c != ' ') return false;
  }
  return true;
}

// Cuts the plan right before `cut`. A piece cut in the middle keeps its remaining text; if only
// its leading space remains, that space joins the previous piece so every piece stays one token.
void truncate_at(GenerationPlan& plan, std::size_t cut) {
  std::uint32_t prev_end = 0;
  std::size_t kept = 0;
  while (kept < plan.piece_ends.size() && plan.piece_ends[kept] <= cut) {
    prev_end = plan.piece_ends[kept];
    ++kept;
  }
  plan.piece_ends.resize(kept);
  std::string_view partial(plan.text.data() + prev_end, cut - prev_end);
  if (!partial.empty()) {
    if (!all_spaces(partial)) {
      plan.piece_ends.push_back(static_cast<std::uint32_t>(cut));
    } else if (kept > 0) {
      plan.piece_ends.back() = static_cast<std::uint32_t>(cut);
    } else {
      cut = 0;  // nothing but a space would remain: return no text at all
    }
  }
  plan.text.resize(cut);
}

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
  }
  return "stop";
}

std::string_view GenerationPlan::piece(std::size_t i) const {
  std::uint32_t begin = i == 0 ? 0 : piece_ends[i - 1];
  return std::string_view(text).substr(begin, piece_ends[i] - begin);
}

std::uint32_t natural_length(std::uint64_t request_hash) {
  constexpr std::uint64_t span = kMaxNaturalTokens - kMinNaturalTokens + 1;
  return kMinNaturalTokens + static_cast<std::uint32_t>(splitmix64(request_hash) % span);
}

std::string_view vocabulary_word(std::uint64_t index) {
  return kVocabulary[index & (kVocabulary.size() - 1)];
}

void plan_generation(std::uint64_t request_hash, const GenerationLimits& limits,
                     GenerationPlan& out) {
  std::uint32_t length = limits.ignore_eos ? limits.max_tokens : natural_length(request_hash);
  if (length < limits.min_tokens) length = limits.min_tokens;
  out.finish_reason = FinishReason::kStop;
  if (limits.ignore_eos || length > limits.max_tokens) {
    length = limits.max_tokens;
    out.finish_reason = FinishReason::kLength;
  }
  out.stop_index = -1;
  out.text.clear();
  out.piece_ends.clear();
  out.text.reserve(static_cast<std::size_t>(length) * 8);
  out.piece_ends.reserve(length);
  std::uint64_t state = splitmix64(request_hash ^ 0x5bd1e9955bd1e995ULL);
  for (std::uint32_t i = 0; i < length; ++i) {
    state = splitmix64(state);
    out.text.push_back(' ');
    out.text.append(vocabulary_word(state >> 58));
    out.piece_ends.push_back(static_cast<std::uint32_t>(out.text.size()));
  }
  if (limits.stops == nullptr || limits.stops->empty()) return;
  std::size_t position = 0;
  int index = find_first_stop(out.text, *limits.stops, position);
  if (index < 0) return;
  truncate_at(out, position);
  out.finish_reason = FinishReason::kStop;
  out.stop_index = index;
}

}  // namespace cic::node_sim
