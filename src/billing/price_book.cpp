#include "cic/billing/price_book.hpp"

#include <algorithm>

namespace cic::billing {

std::int64_t div_round_half_up(__int128 num, __int128 den) {
  if (den < 0) return div_round_half_up(-num, -den);
  // A negative amount mirrors a positive one (halves go away from zero), so that -x rounds to
  // exactly minus what x rounds to.
  if (num < 0) return -div_round_half_up(-num, den);
  // floor((2n + d) / 2d) == round half up for n >= 0, d > 0, in integers only.
  return static_cast<std::int64_t>((2 * num + den) / (2 * den));
}

__int128 exact_cost(const TokenPrices& prices, const TokenCounts& tokens) {
  const std::int64_t prompt = std::max<std::int64_t>(tokens.prompt, 0);
  const std::int64_t completion = std::max<std::int64_t>(tokens.completion, 0);
  const std::int64_t cached = std::clamp<std::int64_t>(tokens.cached, 0, prompt);
  // Prices are per million tokens: multiply in 128 bits, divide (and round) once by the caller.
  return static_cast<__int128>(prompt - cached) * prices.input +
         static_cast<__int128>(cached) * prices.cached_input +
         static_cast<__int128>(completion) * prices.output;
}

std::int64_t cost_micros(const TokenPrices& prices, const TokenCounts& tokens) {
  return div_round_half_up(exact_cost(prices, tokens), 1'000'000);
}

PriceBook::PriceBook(const std::vector<config::ModelConfig>& models) {
  for (const auto& m : models) {
    Entry entry;
    if (m.priced()) {
      // The config fills the cached price with the input price; a hand-built ModelConfig may not.
      const std::int64_t cached =
          m.cached_input_micros_per_million >= 0 ? m.cached_input_micros_per_million : m.input_micros_per_million;
      entry.base = TokenPrices{m.input_micros_per_million, cached, m.output_micros_per_million};
      for (const auto& r : m.regional_prices) {
        entry.regional.emplace(r.region, TokenPrices{r.input_micros_per_million, r.cached_input_micros_per_million,
                                                     r.output_micros_per_million});
      }
    }
    if (m.has_reference_price()) {
      const std::int64_t cached = m.reference_cached_input_micros_per_million >= 0
                                      ? m.reference_cached_input_micros_per_million
                                      : m.reference_input_micros_per_million;
      entry.reference = TokenPrices{m.reference_input_micros_per_million, cached, m.reference_output_micros_per_million};
      entry.reference_model = m.reference_model;
    }
    models_.emplace(m.id, std::move(entry));
  }
}

const PriceBook::Entry* PriceBook::find(std::string_view model) const {
  auto it = models_.find(model);
  return it == models_.end() ? nullptr : &it->second;
}

std::optional<TokenPrices> PriceBook::price(std::string_view model, std::string_view region) const {
  const Entry* e = find(model);
  if (e == nullptr || !e->base) return std::nullopt;
  if (auto it = e->regional.find(region); it != e->regional.end()) return it->second;
  return e->base;
}

std::optional<TokenPrices> PriceBook::reference(std::string_view model) const {
  const Entry* e = find(model);
  return e == nullptr ? std::nullopt : e->reference;
}

std::string PriceBook::reference_model(std::string_view model) const {
  const Entry* e = find(model);
  return e == nullptr ? std::string() : e->reference_model;
}

}  // namespace cic::billing
