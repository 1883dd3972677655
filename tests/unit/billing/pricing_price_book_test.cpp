// Prices per model and region, and the rounding rule: half-up, once per amount.
#include <gtest/gtest.h>

#include "cic/billing/price_book.hpp"
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

}  // namespace
}  // namespace cic::billing::testing
