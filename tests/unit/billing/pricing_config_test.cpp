// models[].regional_prices and models[].reference_price: parsing, defaults and the errors reported.
#include <gtest/gtest.h>

#include "cic/billing/price_book.hpp"
#include "cic/config/config.hpp"

namespace cic::billing {
namespace {

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

std::string yaml(const std::string& models) {
  return "auth:\n  key_hash_secret: \"0123456789abcdef0123456789abcdef-secret\"\n"
         "regions:\n  - {name: india}\n  - {name: europe}\n"
         "models:\n" + models;
}

std::vector<std::string> issues(const std::string& models) {
  try {
    config::parse_config(yaml(models), "test.yaml", no_env);
  } catch (const config::ConfigError& e) {
    std::vector<std::string> out;
    for (const auto& i : e.issues()) out.push_back(i.key + ": " + i.reason);
    return out;
  }
  return {};
}

TEST(PricingConfig, RegionalAndReferencePricesParse) {
  auto cfg = config::parse_config(yaml(R"(
  - id: m
    price: {input_per_million_usd: 0.10, output_per_million_usd: 0.30, cached_input_per_million_usd: 0.05}
    regional_prices:
      - {region: europe, input_per_million_usd: 0.12, output_per_million_usd: 0.36}
      - {region: india, input_per_million_usd: 0.08, output_per_million_usd: 0.24, cached_input_per_million_usd: 0.01}
    reference_price: {model: gpt-4o-mini, input_per_million_usd: 0.15, output_per_million_usd: 0.60}
  - id: plain
    price: {input_per_million_usd: 1, output_per_million_usd: 2}
)"),
                                  "test.yaml", no_env);
  const auto* m = cfg.find_model("m");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->regional_prices.size(), 2u);
  EXPECT_EQ(m->regional_prices[0].region, "europe");
  EXPECT_EQ(m->regional_prices[0].input_micros_per_million, 120'000);
  EXPECT_EQ(m->regional_prices[0].output_micros_per_million, 360'000);
  EXPECT_EQ(m->regional_prices[0].cached_input_micros_per_million, 120'000);  // defaults to regional input
  EXPECT_EQ(m->regional_prices[1].cached_input_micros_per_million, 10'000);
  EXPECT_EQ(m->reference_model, "gpt-4o-mini");
  EXPECT_TRUE(m->has_reference_price());
  EXPECT_EQ(m->reference_cached_input_micros_per_million, 150'000);  // defaults to reference input
  EXPECT_FALSE(cfg.find_model("plain")->has_reference_price());
  EXPECT_TRUE(cfg.find_model("plain")->regional_prices.empty());

  PriceBook book(cfg.models);
  EXPECT_EQ(book.price("m", "europe"), (TokenPrices{120'000, 120'000, 360'000}));
  EXPECT_EQ(book.price("m", "india"), (TokenPrices{80'000, 10'000, 240'000}));
  EXPECT_EQ(book.price("m", "usa"), (TokenPrices{100'000, 50'000, 300'000}));
  EXPECT_EQ(book.reference("m"), (TokenPrices{150'000, 150'000, 600'000}));
}

struct BadCase {
  const char* name;
  const char* models;
  const char* expected;  // "<key>: <reason start>" of one of the issues
};

class PricingConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(PricingConfigErrors, Reported) {
  const BadCase& c = GetParam();
  auto found = issues(c.models);
  ASSERT_FALSE(found.empty());
  bool seen = false;
  for (const auto& issue : found) {
    seen = seen || issue.starts_with(c.expected);
    EXPECT_TRUE(issue.starts_with("models[0]")) << issue;  // nothing else is blamed
  }
  EXPECT_TRUE(seen) << ::testing::PrintToString(found);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PricingConfigErrors,
    ::testing::Values(
        BadCase{"regional_needs_default_price",
                "  - {id: m, regional_prices: [{region: europe, input_per_million_usd: 1, output_per_million_usd: 1}]}\n",
                "models[0].regional_prices: needs a default `price`"},
        BadCase{"regional_needs_both_prices",
                "  - {id: m, price: {input_per_million_usd: 1, output_per_million_usd: 1},"
                " regional_prices: [{region: europe, input_per_million_usd: 1}]}\n",
                "models[0].regional_prices[0].input_per_million_usd: a regional price needs both"},
        BadCase{"regional_region_required",
                "  - {id: m, price: {input_per_million_usd: 1, output_per_million_usd: 1},"
                " regional_prices: [{input_per_million_usd: 1, output_per_million_usd: 1}]}\n",
                "models[0].regional_prices[0].region: is required"},
        BadCase{"regional_duplicate_region",
                "  - {id: m, price: {input_per_million_usd: 1, output_per_million_usd: 1}, regional_prices: ["
                "{region: europe, input_per_million_usd: 1, output_per_million_usd: 1},"
                "{region: europe, input_per_million_usd: 2, output_per_million_usd: 2}]}\n",
                "models[0].regional_prices[1].region: region \"europe\" has two regional prices"},
        BadCase{"regional_unknown_region",
                "  - {id: m, price: {input_per_million_usd: 1, output_per_million_usd: 1}, regional_prices: ["
                "{region: europe, input_per_million_usd: 1, output_per_million_usd: 1},"
                "{region: eu-west, input_per_million_usd: 2, output_per_million_usd: 2}]}\n",
                "models[0].regional_prices[1].region: unknown region \"eu-west\" (configured regions: india, europe)"},
        BadCase{"regional_unknown_key",
                "  - {id: m, price: {input_per_million_usd: 1, output_per_million_usd: 1},"
                " regional_prices: [{region: europe, input_per_million_usd: 1, output_per_million_usd: 1, tax: 1}]}\n",
                "models[0].regional_prices[0].tax"},
        BadCase{"regional_negative_price",
                "  - {id: m, price: {input_per_million_usd: 1, output_per_million_usd: 1},"
                " regional_prices: [{region: europe, input_per_million_usd: -1, output_per_million_usd: 1}]}\n",
                "models[0].regional_prices[0].input_per_million_usd"},
        BadCase{"reference_needs_both_prices",
                "  - {id: m, reference_price: {model: gpt-4o, output_per_million_usd: 10}}\n",
                "models[0].reference_price: needs both"},
        BadCase{"reference_unknown_key",
                "  - {id: m, reference_price: {input_per_million_usd: 1, output_per_million_usd: 1, vendor: x}}\n",
                "models[0].reference_price.vendor"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace cic::billing
