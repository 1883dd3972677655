#pragma once
// Token counting and hashing of the prompt-carrying fields: chat `messages`, completion `prompt`
// and embedding `input`. The hash feeds deterministic generation; the count feeds usage.

#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "node_sim/sim_error.hpp"

namespace cic::node_sim {

/// One prompt as the engine would see it.
struct PromptInput {
  std::uint32_t tokens = 0;
  std::uint64_t hash = 0;
};

/// Chat: 3 + sum over messages of (4 + tokens of the text content, name and tool calls).
std::optional<SimError> parse_chat_messages(const nlohmann::json& messages, std::uint64_t seed_hash,
                                            PromptInput& out);

/// Completion `prompt` / embedding `input`: a string, a list of strings, a list of token ids or
/// a list of lists of token ids. Lists of strings and lists of lists give one prompt each.
/// `field` names the field in error messages.
std::optional<SimError> parse_prompt_list(const nlohmann::json& value, const char* field,
                                          std::uint64_t seed_hash,
                                          std::vector<PromptInput>& out);

}  // namespace cic::node_sim
