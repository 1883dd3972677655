#pragma once
#include <cstdint>
#include <string_view>

#include "cic/config/config.hpp"

namespace cic::billing {

/// What `prompt` input tokens (of which `cached` were served from the prefix cache) and
/// `completion` output tokens cost at the model's list price in `region` (its regional price
/// there, else its `price`), in integer micro-dollars, rounded up so that spend caps never
/// undershoot. 0 for an unpriced model. This is what spend caps and budget alerts count; the
/// invoice and the usage API round their sums half-up instead (PriceBook, cost_micros).
std::int64_t list_price_micros(const config::ModelConfig& model, std::string_view region, std::int64_t prompt,
                               std::int64_t completion, std::int64_t cached = 0);

/// The most those tokens can cost wherever the request is served (per kind of token, the highest
/// of `price` and every regional price), rounded up: the spend held at admission, before routing
/// has picked a region (a fallback region may be dearer). Cached tokens are not known yet, so
/// the whole prompt counts as uncached input. 0 for an unpriced model.
std::int64_t hold_price_micros(const config::ModelConfig& model, std::int64_t prompt, std::int64_t completion);

}  // namespace cic::billing
