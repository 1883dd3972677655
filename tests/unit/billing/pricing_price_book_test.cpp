// Prices per model and region, and the rounding rule: half-up, once per amount.
#include <gtest/gtest.h>

#include <algorithm>

#include "cic/billing/price_book.hpp"
#include "cic/billing/pricing.hpp"
#include "pricing_support.hpp"

namespace cic::billing::testing {
namespace {

struct RoundCase {
  std::int64_t num;
  std::int64_t den;
  std::int64_t expected;
};

class PricingRounding : public ::testing::TestWithParam<RoundCase> {};

TEST_P(PricingRounding, HalfUpNotBankers) {
  const RoundCase& c = GetParam();
  EXPECT_EQ(div_round_half_up(c.num, c.den), c.expected) << c.num << " / " << c.den;
}

INSTANTIATE_TEST_SUITE_P(Table, PricingRounding,
                         ::testing::Values(RoundCase{0, 7, 0}, RoundCase{4, 10, 0}, RoundCase{5, 10, 1},
                                           RoundCase{6, 10, 1}, RoundCase{15, 10, 2},
                                           RoundCase{25, 10, 3},  // banker's rounding would give 2
                                           RoundCase{7, 7, 1}, RoundCase{13, 2, 7}, RoundCase{-5, 10, -1},
                                           RoundCase{-25, 10, -3}, RoundCase{-4, 10, 0},
                                           RoundCase{999'999, 1'000'000, 1}, RoundCase{499'999, 1'000'000, 0},
                                           RoundCase{500'000, 1'000'000, 1}));

struct CostCase {
  const char* name;
  const char* model;
  const char* region;
  TokenCounts tokens;
  std::int64_t expected_micros;
};

class PricingCost : public ::testing::TestWithParam<CostCase> {
 protected:
  PriceBook book_{test_catalog()};
};

TEST_P(PricingCost, ListCostOfTokens) {
  const CostCase& c = GetParam();
  auto prices = book_.price(c.model, c.region);
  ASSERT_TRUE(prices.has_value()) << c.name;
  EXPECT_EQ(cost_micros(*prices, c.tokens), c.expected_micros) << c.name;
}

// Hand-computed: cost = (uncached x input + cached x cached_input + completion x output) / 1M,
// rounded half-up once.
INSTANTIATE_TEST_SUITE_P(
    Table, PricingCost,
    ::testing::Values(
        CostCase{"one_million_each_default_region", "m", "india", {kM, kM, 0}, 100'000 + 300'000},
        CostCase{"region_without_override_uses_default", "m", "usa", {kM, kM, 0}, 400'000},
        CostCase{"regional_override", "m", "europe", {kM, kM, 0}, 120'000 + 360'000},
        // 600K uncached x 0.1 + 400K cached x 0.05 = 60,000 + 20,000
        CostCase{"cached_tokens_at_cached_price", "m", "india", {kM, 0, 400'000}, 80'000},
        // europe: 600K x 0.12 + 400K x 0.06 + 100K x 0.36 = 72,000 + 24,000 + 36,000
        CostCase{"cached_tokens_regional", "m", "europe", {kM, 100'000, 400'000}, 132'000},
        CostCase{"cached_defaults_to_input_price", "big", "india", {kM, 0, 500'000}, 1'000'000},
        CostCase{"cached_above_prompt_is_clamped", "m", "india", {1'000, 0, 5'000}, 50},
        CostCase{"negative_counts_are_zero", "m", "india", {-5, -5, -5}, 0},
        CostCase{"tenth_of_a_micro_rounds_down", "m", "india", {4, 0, 0}, 0},      // 0.4 µ$
        CostCase{"half_a_micro_rounds_up", "m", "india", {5, 0, 0}, 1},            // 0.5 µ$
        CostCase{"two_and_a_half_micro_rounds_up", "m", "india", {25, 0, 0}, 3},   // 2.5 µ$
        CostCase{"one_and_a_half_micro", "odd", "india", {1, 0, 0}, 2},            // 1.5 µ$
        CostCase{"large_volume_no_overflow", "big", "india", {1'000'000 * kM, 1'000'000 * kM, 0},
                 3'000'000'000'000}),  // 10^12 tokens each: $1M + $2M
    [](const auto& info) { return std::string(info.param.name); });

TEST(PricingPriceBook, UnknownAndUnpricedModelsHaveNoPrice) {
  PriceBook book(test_catalog());
  EXPECT_FALSE(book.price("nope", "india").has_value());
  EXPECT_FALSE(book.price("free", "india").has_value());
  EXPECT_TRUE(book.price("m2", "europe").has_value());
}

TEST(PricingPriceBook, ReferencePrices) {
  PriceBook book(test_catalog());
  auto ref = book.reference("m");
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(*ref, (TokenPrices{150'000, 75'000, 600'000}));
  EXPECT_EQ(book.reference_model("m"), "gpt-4o-mini");
  EXPECT_FALSE(book.reference("m2").has_value());
  EXPECT_EQ(book.reference_model("m2"), "");
  EXPECT_FALSE(book.reference("nope").has_value());
}

TEST(PricingPriceBook, HandBuiltModelWithoutCachedPriceUsesInput) {
  config::ModelConfig m = priced_model("x", 200'000, 400'000, -1);
  PriceBook book({m});
  EXPECT_EQ(book.price("x", "any"), (TokenPrices{200'000, 200'000, 400'000}));
}

// Spend caps and budget alerts count list price rounded up (a cap never undershoots), in the
// region that served the tokens; the hold before routing takes the dearest region.
struct SpendCase {
  const char* model;
  const char* region;
  std::int64_t prompt, completion, cached;
  std::int64_t expected;
};

class PricingSpend : public ::testing::TestWithParam<SpendCase> {};

TEST_P(PricingSpend, ListPriceInTheServingRegionRoundedUp) {
  const SpendCase& c = GetParam();
  const auto catalog = test_catalog();
  const auto* model = &*std::find_if(catalog.begin(), catalog.end(), [&](const auto& m) { return m.id == c.model; });
  EXPECT_EQ(list_price_micros(*model, c.region, c.prompt, c.completion, c.cached), c.expected)
      << c.model << " in " << c.region;
}

INSTANTIATE_TEST_SUITE_P(
    Table, PricingSpend,
    ::testing::Values(
        // m: $0.10 / $0.30 (cached $0.05) by default; europe $0.12 / $0.36 (cached $0.06).
        SpendCase{"m", "india", kM, kM, 0, 100'000 + 300'000},
        SpendCase{"m", "europe", kM, kM, 0, 120'000 + 360'000},
        SpendCase{"m", "europe", kM, kM, kM / 2, 60'000 + 30'000 + 360'000},
        SpendCase{"m", "india", kM, 0, kM / 2, 50'000 + 25'000},
        SpendCase{"m", "india", 1, 0, 0, 1},        // 0.1 µ$ rounds up to 1
        SpendCase{"m", "europe", 10, 0, 0, 2},     // 1.2 µ$ -> 2
        SpendCase{"m", "india", 5, 0, 9, 1},       // cached beyond the prompt counts as the prompt: 0.25 -> 1
        SpendCase{"m", "india", -5, -1, 0, 0},     // negative counts cost nothing
        SpendCase{"big", "europe", kM, 2 * kM, 0, 1'000'000 + 4'000'000},  // no regional price: the default
        SpendCase{"free", "india", kM, kM, 0, 0}));  // unpriced

TEST(PricingSpend, HoldTakesTheDearestRegionPerKindOfToken) {
  const auto catalog = test_catalog();
  // m: input max(0.10, 0.12), output max(0.30, 0.36); the whole prompt as uncached input.
  EXPECT_EQ(hold_price_micros(catalog[0], kM, kM), 120'000 + 360'000);
  EXPECT_EQ(hold_price_micros(catalog[0], 1, 0), 1);
  // A region cheaper than the default does not lower the hold.
  config::ModelConfig cheap = priced_model("c", 1'000'000, 2'000'000);
  cheap.regional_prices.push_back({"india", 500'000, 3'000'000, 500'000});
  EXPECT_EQ(hold_price_micros(cheap, kM, kM), 1'000'000 + 3'000'000);
  EXPECT_EQ(list_price_micros(cheap, "india", kM, kM), 500'000 + 3'000'000);
  EXPECT_EQ(hold_price_micros(catalog[4], kM, kM), 0);  // unpriced
}

}  // namespace
}  // namespace cic::billing::testing
