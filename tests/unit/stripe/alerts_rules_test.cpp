// The alert rules, table-driven: budgets at 80 % and 100 %, the spend spike with its minimum,
// expiring credits, failed payments; plus the UTC periods and alert ids they fire once for.
#include <gtest/gtest.h>

#include "cic/stripe/alerts.hpp"

namespace cic::stripe {
namespace {

constexpr std::int64_t kNow = 1'718'620'000'000;  // 2024-06-17T10:26:40Z
constexpr std::int64_t kDay = 86'400'000;

SpendFacts org(std::int64_t cap, std::int64_t month, std::int64_t today = 0, std::int64_t trailing = 0) {
  return SpendFacts{"org_1", "org_1", false, cap, month, today, trailing};
}

std::vector<std::string> fired(const AlertFacts& facts, const AlertPolicy& policy = {}) {
  std::vector<std::string> out;
  for (const auto& c : evaluate_alerts(facts, policy)) {
    out.push_back(std::string(to_string(c.kind)) + "@" + c.subject + "/" + c.period);
  }
  return out;
}

struct SpendCase {
  const char* name;
  SpendFacts spend;
  std::vector<std::string> expected;
};

class SpendRulesTest : public ::testing::TestWithParam<SpendCase> {};

TEST_P(SpendRulesTest, Fires) {
  AlertFacts facts;
  facts.now_ms = kNow;
  facts.spend.push_back(GetParam().spend);
  EXPECT_EQ(fired(facts), GetParam().expected) << GetParam().name;
}

const std::string kB80 = "budget_80@org_1/2024-06";
const std::string kB100 = "budget_100@org_1/2024-06";
const std::string kSpike = "spend_spike@org_1/2024-06-17";

INSTANTIATE_TEST_SUITE_P(
    Table, SpendRulesTest,
    ::testing::Values(
        SpendCase{"no budget", org(0, 1'000'000'000), {}},
        SpendCase{"79.99 %", org(100'000'000, 79'999'999), {}},
        SpendCase{"exactly 80 %", org(100'000'000, 80'000'000), {kB80}},
        SpendCase{"99 %", org(100'000'000, 99'000'000), {kB80}},
        SpendCase{"exactly 100 %", org(100'000'000, 100'000'000), {kB80, kB100}},
        SpendCase{"over budget", org(100'000'000, 250'000'000), {kB80, kB100}},
        SpendCase{"80 % of a tiny budget", org(5, 4), {kB80}},
        SpendCase{"spike over 10x the average", org(0, 0, 80'000'000, 7 * 7'000'000), {kSpike}},
        SpendCase{"exactly 10x is no spike", org(0, 0, 70'000'000, 7 * 7'000'000), {}},
        SpendCase{"spike below the minimum", org(0, 0, 9'999'999, 0), {}},
        SpendCase{"first big day with no history", org(0, 0, 10'000'000, 0), {kSpike}},
        SpendCase{"steady spend", org(0, 0, 20'000'000, 7 * 20'000'000), {}},
        SpendCase{"budget and spike together", org(100'000'000, 90'000'000, 90'000'000, 7'000'000),
                  {kB80, kSpike}}),
    [](const auto& info) {
      std::string name;
      for (char c : std::string(info.param.name)) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
      return name;
    });

TEST(AlertRulesTest, EnvironmentsHaveBudgetsButNoSpikes) {
  AlertFacts facts;
  facts.now_ms = kNow;
  facts.spend.push_back(SpendFacts{"org_1", "env_1", true, 10'000'000, 10'000'000, 900'000'000, 0});
  EXPECT_EQ(fired(facts), (std::vector<std::string>{"budget_80@env_1/2024-06", "budget_100@env_1/2024-06"}));
  auto candidates = evaluate_alerts(facts, {});
  EXPECT_TRUE(candidates[0].is_environment);
  EXPECT_EQ(candidates[0].org_id, "org_1");
}

TEST(AlertRulesTest, SpikeFactorMinimumAndWindowComeFromThePolicy) {
  AlertFacts facts;
  facts.now_ms = kNow;
  facts.spend.push_back(org(0, 0, 3'000'000, 3 * 1'000'000));  // average 1.0 over 3 days
  AlertPolicy policy;
  policy.spike_factor = 2.0;
  policy.spike_min_micros = 1'000'000;
  policy.trailing_days = 3;
  EXPECT_EQ(fired(facts, policy), (std::vector<std::string>{kSpike}));
  policy.spike_factor = 3.0;
  EXPECT_TRUE(fired(facts, policy).empty());
}

struct CreditCase {
  const char* name;
  CreditFacts credit;
  bool fires;
};

class CreditRuleTest : public ::testing::TestWithParam<CreditCase> {};

TEST_P(CreditRuleTest, Fires) {
  AlertFacts facts;
  facts.now_ms = kNow;
  facts.credits.push_back(GetParam().credit);
  const auto out = fired(facts);
  EXPECT_EQ(out.size(), GetParam().fires ? 1u : 0u) << GetParam().name;
  if (GetParam().fires) EXPECT_EQ(out[0], "credit_expiring@org_1/crd_1");
}

INSTANTIATE_TEST_SUITE_P(Table, CreditRuleTest,
                         ::testing::Values(CreditCase{"in three days", {"org_1", "crd_1", 5, kNow + 3 * kDay}, true},
                                           CreditCase{"in exactly seven days", {"org_1", "crd_1", 5, kNow + 7 * kDay}, true},
                                           CreditCase{"in eight days", {"org_1", "crd_1", 5, kNow + 8 * kDay}, false},
                                           CreditCase{"already expired", {"org_1", "crd_1", 5, kNow}, false},
                                           CreditCase{"used up", {"org_1", "crd_1", 0, kNow + kDay}, false}));

TEST(AlertRulesTest, PaymentFailuresFireOncePerInvoice) {
  AlertFacts facts;
  facts.now_ms = kNow;
  facts.payment_failures.push_back(
      PaymentFailureFacts{"org_1", "evt_1", "invoice.payment_failed", "in_1", "", 2500, "usd"});
  // The same failure seen through its payment intent: left to the invoice's event.
  facts.payment_failures.push_back(
      PaymentFailureFacts{"org_1", "evt_2", "payment_intent.payment_failed", "pi_1", "in_1", 2500, "usd"});
  // A one-off payment (no invoice) fails.
  facts.payment_failures.push_back(
      PaymentFailureFacts{"org_1", "evt_3", "payment_intent.payment_failed", "pi_2", "", 900, "usd"});
  EXPECT_EQ(fired(facts), (std::vector<std::string>{"payment_failed@org_1/in_1", "payment_failed@org_1/pi_2"}));
  EXPECT_EQ(evaluate_alerts(facts, {})[0].payment->amount_due, 2500);
}

TEST(AlertCalendarTest, UtcMonthsAndDays) {
  EXPECT_EQ(utc_month(kNow), "2024-06");
  EXPECT_EQ(utc_day(kNow), "2024-06-17");
  EXPECT_EQ(utc_day_floor(kNow), 1'718'582'400'000);
  EXPECT_EQ(utc_month_floor(kNow), 1'717'200'000'000);
  EXPECT_EQ(utc_day(1'718'582'399'999), "2024-06-16");
  EXPECT_EQ(utc_month(1'704'067'200'000 - 1), "2023-12");
}

TEST(AlertIdTest, IsStableAndDistinctPerKey) {
  const std::string id = alert_id("org_1", "org_1", "budget_80", "2024-06");
  EXPECT_EQ(id.size(), 4u + 24u);
  EXPECT_TRUE(id.starts_with("alt_"));
  EXPECT_EQ(id, alert_id("org_1", "org_1", "budget_80", "2024-06"));
  EXPECT_NE(id, alert_id("org_1", "org_1", "budget_80", "2024-07"));
  EXPECT_NE(id, alert_id("org_1", "env_1", "budget_80", "2024-06"));
  EXPECT_NE(id, alert_id("org_1", "org_1", "budget_100", "2024-06"));
  // Field boundaries matter: ("ab","c") is not ("a","bc").
  EXPECT_NE(alert_id("ab", "c", "k", "p"), alert_id("a", "bc", "k", "p"));
}

}  // namespace
}  // namespace cic::stripe
