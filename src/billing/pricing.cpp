#include "cic/billing/pricing.hpp"

#include <algorithm>

namespace cic::billing {
namespace {

struct PerMillion {
  std::int64_t input = 0;
  std::int64_t cached = 0;
  std::int64_t output = 0;
};

// Prices are micro-dollars per million tokens: multiply first (in 128 bits), divide once, up.
std::int64_t rounded_up(const PerMillion& p, std::int64_t prompt, std::int64_t completion, std::int64_t cached) {
  prompt = std::max<std::int64_t>(prompt, 0);
  completion = std::max<std::int64_t>(completion, 0);
  cached = std::clamp<std::int64_t>(cached, 0, prompt);
  const __int128 total = static_cast<__int128>(prompt - cached) * p.input + static_cast<__int128>(cached) * p.cached +
                         static_cast<__int128>(completion) * p.output;
  return static_cast<std::int64_t>((total + 999'999) / 1'000'000);
}

PerMillion base_price(const config::ModelConfig& model) {
  return {model.input_micros_per_million, model.cached_input_micros_per_million, model.output_micros_per_million};
}

}  // namespace

std::int64_t list_price_micros(const config::ModelConfig& model, std::string_view region, std::int64_t prompt,
                               std::int64_t completion, std::int64_t cached) {
  if (!model.priced()) return 0;
  PerMillion p = base_price(model);
  for (const auto& regional : model.regional_prices) {
    if (regional.region == region) {
      p = {regional.input_micros_per_million, regional.cached_input_micros_per_million,
           regional.output_micros_per_million};
      break;
    }
  }
  return rounded_up(p, prompt, completion, cached);
}

std::int64_t hold_price_micros(const config::ModelConfig& model, std::int64_t prompt, std::int64_t completion) {
  if (!model.priced()) return 0;
  PerMillion p = base_price(model);
  for (const auto& regional : model.regional_prices) {
    p.input = std::max(p.input, regional.input_micros_per_million);
    p.output = std::max(p.output, regional.output_micros_per_million);
  }
  return rounded_up(p, prompt, completion, 0);
}

}  // namespace cic::billing
