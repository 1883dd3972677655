// The credit ledger's arithmetic: kinds, balances left by consumption rows, spending order.
#include <gtest/gtest.h>

#include "cic/billing/credits.hpp"

namespace cic::billing {
namespace {

store::CreditEntry row(std::string id, std::string kind, std::int64_t micros, std::string grant_id = "",
                       std::optional<std::int64_t> expires_at = std::nullopt, std::int64_t created_at = 0) {
  store::CreditEntry e;
  e.id = std::move(id);
  e.org_id = "org_1";
  e.kind = std::move(kind);
  e.amount_micros = micros;
  e.grant_id = std::move(grant_id);
  e.expires_at = expires_at;
  e.created_at = created_at;
  return e;
}

TEST(PricingCreditKinds, RoundTripAndClasses) {
  for (auto kind : {CreditKind::kSignupBonus, CreditKind::kReferral, CreditKind::kPromotional, CreditKind::kPaid,
                    CreditKind::kAdjustment}) {
    EXPECT_EQ(parse_credit_kind(to_string(kind)), kind);
  }
  EXPECT_FALSE(parse_credit_kind("gift").has_value());
  EXPECT_FALSE(parse_credit_kind("").has_value());
  EXPECT_TRUE(is_promotional(CreditKind::kSignupBonus));
  EXPECT_TRUE(is_promotional(CreditKind::kReferral));
  EXPECT_TRUE(is_promotional(CreditKind::kPromotional));
  EXPECT_FALSE(is_promotional(CreditKind::kPaid));
  EXPECT_FALSE(is_promotional(CreditKind::kAdjustment));
  EXPECT_EQ(kSignupBonusMicros, 10'000'000);
  EXPECT_EQ(kReferralBonusMicros, 5'000'000);
  EXPECT_EQ(signup_bonus_key("org_1"), "signup_bonus:org_1");
}

struct BalanceCase {
  const char* name;
  std::vector<store::CreditEntry> ledger;
  std::vector<std::pair<std::string, std::int64_t>> remaining;  // grant id, remaining, ledger order
};

class PricingCreditBalances : public ::testing::TestWithParam<BalanceCase> {};

TEST_P(PricingCreditBalances, Remaining) {
  const BalanceCase& c = GetParam();
  std::vector<std::pair<std::string, std::int64_t>> got;
  for (const auto& g : credit_balances(c.ledger)) got.emplace_back(g.id, g.remaining_micros);
  EXPECT_EQ(got, c.remaining);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PricingCreditBalances,
    ::testing::Values(
        BalanceCase{"empty", {}, {}},
        BalanceCase{"grants_only",
                    {row("a", "signup_bonus", 10'000'000), row("b", "paid", 3'000'000)},
                    {{"a", 10'000'000}, {"b", 3'000'000}}},
        BalanceCase{"consumption_names_its_grant",
                    {row("a", "promotional", 1'000'000), row("b", "paid", 500'000),
                     row("c", "promotional", -300'000, "a"), row("d", "paid", -200'000, "b")},
                    {{"a", 700'000}, {"b", 300'000}}},
        BalanceCase{"over_consumption_stops_at_zero",
                    {row("a", "paid", 500'000), row("c", "paid", -2'000'000, "a")}, {{"a", 0}}},
        // A correction naming no grant draws in spending order: promotional "p" first.
        BalanceCase{"unattributed_debit_in_spending_order",
                    {row("paid", "paid", 1'000'000, "", std::nullopt, 1),
                     row("p", "referral", 300'000, "", std::nullopt, 2),
                     row("x", "adjustment", -400'000)},
                    {{"paid", 900'000}, {"p", 0}}},
        BalanceCase{"unknown_kinds_are_skipped",
                    {row("a", "gift", 1'000'000), row("b", "paid", 1'000'000), row("c", "gift", -1, "b")},
                    {{"b", 1'000'000}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PricingCreditOrder, PromotionalThenPaidExpiringFirstExpiredDropped) {
  std::vector<CreditGrant> grants = {
      {"paid_never", CreditKind::kPaid, 1, 1, std::nullopt, 1},
      {"paid_soon", CreditKind::kPaid, 1, 1, 50, 9},
      {"promo_never_old", CreditKind::kPromotional, 1, 1, std::nullopt, 1},
      {"promo_never_new", CreditKind::kPromotional, 1, 1, std::nullopt, 2},
      {"signup_late", CreditKind::kSignupBonus, 1, 1, 90, 5},
      {"referral_soon", CreditKind::kReferral, 1, 1, 20, 5},
      {"expired", CreditKind::kReferral, 1, 1, 10, 0},
      {"used_up", CreditKind::kPromotional, 1, 0, std::nullopt, 0},
  };
  std::vector<std::string> order;
  for (const auto& g : spending_order(grants, 10)) order.push_back(g.id);
  EXPECT_EQ(order, (std::vector<std::string>{"referral_soon", "signup_late", "promo_never_old", "promo_never_new",
                                             "paid_soon", "paid_never"}));
}

}  // namespace
}  // namespace cic::billing
