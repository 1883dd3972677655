#pragma once
// Token prices per model and region, and the one rounding rule for money. Pure (no I/O, no Asio):
// built once from the config, then read from any thread.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cic/config/config.hpp"

namespace cic::billing {

/// Prices in integer micro-dollars per 1M tokens.
struct TokenPrices {
  std::int64_t input = 0;         // uncached prompt tokens
  std::int64_t cached_input = 0;  // prompt tokens served from the prefix cache
  std::int64_t output = 0;        // completion tokens
  bool operator==(const TokenPrices&) const = default;
};

/// Token counts of some usage, with OpenAI's meaning: `cached` is part of `prompt`.
struct TokenCounts {
  std::int64_t prompt = 0;
  std::int64_t completion = 0;
  std::int64_t cached = 0;
  std::int64_t total() const { return prompt + completion; }
  TokenCounts& operator+=(const TokenCounts& o) {
    prompt += o.prompt;
    completion += o.completion;
    cached += o.cached;
    return *this;
  }
};

/// num / den rounded to the nearest integer, an exact half rounding up ("half-up"; for a negative
/// quotient halves round away from zero, so -x rounds to minus what x rounds to). den != 0.
/// Every amount of money the billing module derives is rounded with this, once per amount.
std::int64_t div_round_half_up(__int128 num, __int128 den);

/// The exact cost of `tokens` at `prices`, in micro-dollars x 1,000,000 (no rounding yet).
/// Negative counts count as 0; `cached` is clamped to [0, prompt].
__int128 exact_cost(const TokenPrices& prices, const TokenCounts& tokens);

/// The cost of `tokens` at `prices` in micro-dollars, rounded half-up once.
std::int64_t cost_micros(const TokenPrices& prices, const TokenCounts& tokens);

/// What each model costs in each region, from the catalog: `models[].price` is a model's price in
/// every region, `models[].regional_prices` replaces it in the regions it names, and
/// `models[].reference_price` is the OpenAI list price it is compared with. Immutable.
class PriceBook {
 public:
  explicit PriceBook(const std::vector<config::ModelConfig>& models);

  /// The price of `model` served in `region`; nullopt for a model that is unknown or unpriced.
  std::optional<TokenPrices> price(std::string_view model, std::string_view region) const;
  /// The OpenAI list price `model` is compared with; nullopt when it has none.
  std::optional<TokenPrices> reference(std::string_view model) const;
  /// The label of that reference ("gpt-4o-mini"); empty when none.
  std::string reference_model(std::string_view model) const;

 private:
  struct Entry {
    std::optional<TokenPrices> base;
    std::map<std::string, TokenPrices, std::less<>> regional;
    std::optional<TokenPrices> reference;
    std::string reference_model;
  };
  const Entry* find(std::string_view model) const;

  std::map<std::string, Entry, std::less<>> models_;
};

}  // namespace cic::billing
