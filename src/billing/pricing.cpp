#include "cic/billing/pricing.hpp"

#include <algorithm>

namespace cic::billing {

std::int64_t list_price_micros(const config::ModelConfig& model, std::int64_t prompt, std::int64_t completion,
                               std::int64_t cached) {
  if (!model.priced()) return 0;
  cached = std::clamp<std::int64_t>(cached, 0, prompt);
  // Prices are micro-dollars per million tokens: multiply first (in 128 bits), divide once.
  __int128 total = static_cast<__int128>(prompt - cached) * model.input_micros_per_million +
                   static_cast<__int128>(cached) * model.cached_input_micros_per_million +
                   static_cast<__int128>(completion) * model.output_micros_per_million;
  return static_cast<std::int64_t>((total + 999'999) / 1'000'000);
}

}  // namespace cic::billing
