#pragma once
#include <cstdint>

#include "cic/config/config.hpp"

namespace cic::billing {

/// What `prompt` input tokens (of which `cached` were served from the prefix cache) and
/// `completion` output tokens cost at the model's list price, in integer micro-dollars, rounded
/// up so that a hold never undershoots. 0 for an unpriced model.
std::int64_t list_price_micros(const config::ModelConfig& model, std::int64_t prompt, std::int64_t completion,
                               std::int64_t cached = 0);

}  // namespace cic::billing
