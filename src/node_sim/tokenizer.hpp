#pragma once
// The simulator's tokenizer. It is deliberately simple and documented (docs/node-sim.md) so that
// the gateway's tests can predict every count: a maximal run of ASCII letters/digits (UTF-8
// non-ASCII bytes count as letters) is one token, every other non-whitespace byte is one token.

#include <cstdint>
#include <string_view>

namespace cic::node_sim {

/// Number of tokens in `text` under the rule above.
std::uint32_t count_tokens(std::string_view text);

/// Chat prompts pay a fixed template overhead, like a real chat template does.
inline constexpr std::uint32_t kChatTokensPerMessage = 4;
inline constexpr std::uint32_t kChatTokensPerConversation = 3;

}  // namespace cic::node_sim
