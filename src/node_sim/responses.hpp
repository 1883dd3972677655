#pragma once
// Non-streaming response bodies, with vLLM's key order and its null fields (`model_dump()`).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "node_sim/generator.hpp"
#include "node_sim/options.hpp"

namespace cic::node_sim {

/// The fields every body of one request shares.
struct ResponseIdentity {
  std::string_view request_id;  // without the chatcmpl-/cmpl-/embd- prefix
  std::string_view model;
  std::int64_t created = 0;     // unix seconds
};

/// `{"prompt_tokens":P,"total_tokens":P+C,"completion_tokens":C,"prompt_tokens_details":null}`
void append_usage(std::string& out, std::uint64_t prompt_tokens, std::uint64_t completion_tokens);

/// Appends `"stop_reason":<string or null>` for a plan.
void append_stop_reason(std::string& out, const GenerationPlan& plan,
                        const std::vector<std::string>& stops);

void append_chat_completion(std::string& out, const ResponseIdentity& id,
                            const GenerationPlan& plan, std::uint32_t prompt_tokens,
                            const std::vector<std::string>& stops);

/// One choice per prompt, indexed in prompt order.
void append_text_completion(std::string& out, const ResponseIdentity& id,
                            std::span<const GenerationPlan> plans, std::uint32_t prompt_tokens,
                            const std::vector<std::string>& stops);

/// GET /v1/models: one card per served model.
void append_model_list(std::string& out, const SimOptions& options, std::int64_t created);

}  // namespace cic::node_sim
