#pragma once
// The catalog the pricing tests compute their bills against. Prices are micro-dollars per 1M
// tokens, so one token of "m" costs 0.1 µ$ of input, 0.05 µ$ cached, 0.3 µ$ of output.
#include <string>
#include <vector>

#include "cic/billing/invoice.hpp"
#include "cic/config/config.hpp"

namespace cic::billing::testing {

inline config::ModelConfig priced_model(std::string id, std::int64_t in, std::int64_t out, std::int64_t cached = -1) {
  config::ModelConfig m;
  m.id = std::move(id);
  m.input_micros_per_million = in;
  m.output_micros_per_million = out;
  m.cached_input_micros_per_million = cached;
  return m;
}

/// m:    $0.10 / $0.30 per 1M (cached $0.05); europe $0.12 / $0.36 (cached $0.06); reference
///       gpt-4o-mini $0.15 / $0.60 (cached $0.075).
/// m2:   same list price as m, no regional price, no reference.
/// big:  $1.00 / $2.00 (cached defaults to input).
/// odd:  $1.50 / $0 — one token costs 1.5 µ$ (rounding cases).
/// free: no price (unpriced).
inline std::vector<config::ModelConfig> test_catalog() {
  config::ModelConfig m = priced_model("m", 100'000, 300'000, 50'000);
  m.regional_prices.push_back({"europe", 120'000, 360'000, 60'000});
  m.reference_model = "gpt-4o-mini";
  m.reference_input_micros_per_million = 150'000;
  m.reference_output_micros_per_million = 600'000;
  m.reference_cached_input_micros_per_million = 75'000;
  config::ModelConfig free;
  free.id = "free";
  return {m, priced_model("m2", 100'000, 300'000, 50'000), priced_model("big", 1'000'000, 2'000'000),
          priced_model("odd", 1'500'000, 0), free};
}

inline UsageLine line(std::string model, std::string region, std::int64_t prompt, std::int64_t completion = 0,
                      std::int64_t cached = 0, std::int64_t requests = 1) {
  return UsageLine{std::move(model), std::move(region), requests, TokenCounts{prompt, completion, cached}};
}

constexpr std::int64_t kM = 1'000'000;  // a million tokens
constexpr std::int64_t kUsd = 1'000'000;  // a dollar in micro-dollars

}  // namespace cic::billing::testing
