// Invoices with hand-computed expected bills: every volume tier boundary, the free allowance
// partly and fully used, cached tokens, regional prices, rounding, credits and savings.
//
// Model "m" lists at $0.10 per 1M input tokens, so N million prompt tokens cost N x 100,000 µ$.
// The graduated discount: tokens 0-10M 0 %, 10M-100M 10 %, 100M-1B 20 %, past 1B 30 %.
#include <gtest/gtest.h>

#include "cic/billing/invoice.hpp"
#include "pricing_support.hpp"

namespace cic::billing::testing {
namespace {

struct BillCase {
  const char* name;
  std::vector<UsageLine> usage;
  std::int64_t free_tokens;
  // expected
  std::int64_t billable_tokens;
  std::int64_t subtotal;
  std::int64_t discount;
  std::int64_t free_allowance;
  std::int64_t due;  // no credits in these cases
};

class PricingBill : public ::testing::TestWithParam<BillCase> {};

TEST_P(PricingBill, HandComputed) {
  const BillCase& c = GetParam();
  PriceBook book(test_catalog());
  InvoiceInput in;
  in.usage = c.usage;
  in.free_tokens = c.free_tokens;
  Invoice inv = compute_invoice(book, in);
  EXPECT_EQ(inv.billable_tokens, c.billable_tokens);
  EXPECT_EQ(inv.subtotal_micros, c.subtotal);
  EXPECT_EQ(inv.discount_micros, c.discount);
  EXPECT_EQ(inv.free_allowance_micros, c.free_allowance);
  EXPECT_EQ(inv.usage_after_free_micros, c.subtotal - c.discount - c.free_allowance);
  EXPECT_EQ(inv.amount_due_micros, c.due);
  EXPECT_TRUE(inv.credits_applied.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, PricingBill,
    ::testing::Values(
        BillCase{"empty_month", {}, 100'000, 0, 0, 0, 0, 0},
        // 1M in x 0.1 + 1M out x 0.3 = $0.40; all in the 0 % band.
        BillCase{"below_first_tier", {line("m", "india", kM, kM)}, 0, 2 * kM, 400'000, 0, 0, 400'000},
        // Exactly 10M tokens: the last token is still in the 0 % band.
        BillCase{"tier_boundary_10M", {line("m", "india", 10 * kM)}, 0, 10 * kM, kUsd, 0, 0, kUsd},
        // 10M + 1: exact cost 1,000,000.1 -> 1,000,000; one token at 10 % of 0.1 µ$ rounds to 0.
        BillCase{"tier_boundary_10M_plus_one", {line("m", "india", 10 * kM + 1)}, 0, 10 * kM + 1, kUsd, 0, 0, kUsd},
        // 20M: $2.00; the second 10M ($1.00) at 10 % = $0.10.
        BillCase{"half_in_10_percent_band", {line("m", "india", 20 * kM)}, 0, 20 * kM, 2 * kUsd, 100'000, 0,
                 1'900'000},
        // 100M: $10; 90M ($9) at 10 % = $0.90.
        BillCase{"tier_boundary_100M", {line("m", "india", 100 * kM)}, 0, 100 * kM, 10 * kUsd, 900'000, 0,
                 9'100'000},
        // 200M: $20; 90M ($9) at 10 % + 100M ($10) at 20 % = $0.90 + $2.00.
        BillCase{"into_20_percent_band", {line("m", "india", 200 * kM)}, 0, 200 * kM, 20 * kUsd, 2'900'000, 0,
                 17'100'000},
        // 1B: $100; $0.90 + 900M ($90) at 20 % = $18.90.
        BillCase{"tier_boundary_1B", {line("m", "india", 1000 * kM)}, 0, 1000 * kM, 100 * kUsd, 18'900'000, 0,
                 81'100'000},
        // 2B: $200; $0.90 + $18 + 1B ($100) at 30 % = $48.90.
        BillCase{"into_30_percent_band", {line("m", "india", 2000 * kM)}, 0, 2000 * kM, 200 * kUsd, 48'900'000, 0,
                 151'100'000},
        // Two models: 5M of m ($0.50) + 10M of big ($10.00) = 15M tokens, $10.50. 5M tokens in the
        // 10 % band at the month's average price: 10,500,000 x 5M x 10 % / 15M = 350,000.
        BillCase{"discount_spread_over_models", {line("m", "india", 5 * kM), line("big", "india", 10 * kM)}, 0,
                 15 * kM, 10'500'000, 350'000, 0, 10'150'000},
        // Free plan: 80K tokens (60K in = 6,000 µ$, 20K out = 6,000 µ$) are all inside 100K free.
        BillCase{"allowance_covers_everything", {line("m", "india", 60'000, 20'000)}, 100'000, 80'000, 12'000, 0,
                 12'000, 0},
        // Exactly the allowance: nothing due.
        BillCase{"allowance_exactly_used", {line("m", "india", 100'000)}, 100'000, 100'000, 10'000, 0, 10'000, 0},
        // 400K tokens for 60,000 µ$ (0.15 µ$ a token on average); 100K free = 15,000.
        BillCase{"allowance_partly_covers", {line("m", "india", 300'000, 100'000)}, 100'000, 400'000, 60'000, 0,
                 15'000, 45'000},
        // 20M tokens, 100K free: discount $0.10 as above; the free 100K are in the 0 % band at
        // $0.10 per 1M = $0.01.
        BillCase{"allowance_and_discount", {line("m", "india", 20 * kM)}, 100'000, 20 * kM, 2 * kUsd, 100'000,
                 10'000, 1'890'000},
        // 200M with 50M free: 10M free at $1.00 + 40M free in the 10 % band at $4.00 - 10 % = $4.60.
        BillCase{"allowance_across_a_tier_boundary", {line("m", "india", 200 * kM)}, 50 * kM, 200 * kM,
                 20 * kUsd, 2'900'000, 4'600'000, 12'500'000},
        // Cached tokens: 1M prompt of which 400K cached, 100K out = 60,000 + 20,000 + 30,000.
        BillCase{"cached_tokens", {line("m", "india", kM, 100'000, 400'000)}, 0, 1'100'000, 110'000, 0, 0,
                 110'000},
        // Regional prices: europe $0.12/$0.36 + india $0.10/$0.30 for 1M in + 1M out each.
        BillCase{"regional_prices", {line("m", "europe", kM, kM), line("m", "india", kM, kM)}, 0, 4 * kM,
                 880'000, 0, 0, 880'000},
        // Rounding per line: 5 tokens of m (0.5 µ$) and 5 of m2 (0.5 µ$) are 1 µ$ each.
        BillCase{"rounding_per_line", {line("m", "india", 5), line("m2", "india", 5)}, 0, 10, 2, 0, 0, 2},
        // Rows of one model and region are summed before rounding: 5 + 5 tokens = 1.0 µ$, not 2.
        BillCase{"rows_merge_before_rounding", {line("m", "india", 5), line("m", "india", 5)}, 0, 10, 1, 0, 0, 1},
        // 3 tokens of odd at 1.5 µ$ = 4.5 -> 5; 1 token free = 5 / 3 = 1.67 -> 2.
        BillCase{"allowance_rounding", {line("odd", "india", 3)}, 1, 3, 5, 0, 2, 3},
        // An unpriced model is free and takes no tier position or allowance: only m's 20M count.
        BillCase{"unpriced_model_is_free", {line("free", "india", 50 * kM), line("m", "india", 20 * kM)}, 0,
                 20 * kM, 2 * kUsd, 100'000, 0, 1'900'000}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PricingInvoice, LinesAreMergedAndSortedWithPrices) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  in.usage = {line("m", "india", 10, 0, 0, 2), line("big", "india", 1), line("m", "europe", 1),
              line("m", "india", 20, 5, 3, 3), line("free", "india", 7)};
  Invoice inv = compute_invoice(book, in);
  ASSERT_EQ(inv.lines.size(), 4u);
  EXPECT_EQ(inv.lines[0].model, "big");
  EXPECT_EQ(inv.lines[1].model, "free");
  EXPECT_FALSE(inv.lines[1].prices.has_value());
  EXPECT_EQ(inv.lines[1].list_micros, 0);
  EXPECT_EQ(inv.lines[2].region, "europe");
  EXPECT_EQ(inv.lines[2].prices, (TokenPrices{120'000, 60'000, 360'000}));
  const InvoiceLine& m = inv.lines[3];
  EXPECT_EQ(m.region, "india");
  EXPECT_EQ(m.requests, 5);
  EXPECT_EQ(m.tokens.prompt, 30);
  EXPECT_EQ(m.tokens.completion, 5);
  EXPECT_EQ(m.tokens.cached, 3);
  EXPECT_EQ(m.reference_model, "gpt-4o-mini");
}

TEST(PricingInvoice, TierBreakdown) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  in.usage = {line("m", "india", 150 * kM)};
  Invoice inv = compute_invoice(book, in);
  ASSERT_EQ(inv.tiers.size(), 4u);
  EXPECT_EQ(inv.tiers[0].tokens, 10 * kM);
  EXPECT_EQ(inv.tiers[0].to_tokens, 10 * kM);
  EXPECT_EQ(inv.tiers[1].tokens, 90 * kM);
  EXPECT_EQ(inv.tiers[1].tier.discount_bp, 1000);
  EXPECT_EQ(inv.tiers[2].tokens, 50 * kM);
  EXPECT_EQ(inv.tiers[3].tokens, 0);
  EXPECT_FALSE(inv.tiers[3].to_tokens.has_value());
  // 90M ($9) x 10 % + 50M ($5) x 20 % = $1.90
  EXPECT_EQ(inv.discount_micros, 1'900'000);
}

TEST(PricingInvoice, GraduatedBillNeverDropsAsUsageGrows) {
  // Whole-volume tiers would make 10,000,001 tokens cheaper than 10,000,000; graduated ones not.
  PriceBook book(test_catalog());
  std::int64_t previous = -1;
  for (std::int64_t tokens : {9'999'999LL, 10'000'000LL, 10'000'001LL, 99'999'999LL, 100'000'000LL,
                              100'000'001LL, 999'999'999LL, 1'000'000'000LL, 1'000'000'001LL}) {
    InvoiceInput in;
    in.usage = {line("m", "india", tokens)};
    Invoice inv = compute_invoice(book, in);
    EXPECT_GE(inv.amount_due_micros, previous) << tokens;
    previous = inv.amount_due_micros;
  }
}

TEST(PricingInvoice, CustomTiers) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  in.usage = {line("big", "india", 4 * kM)};  // $4.00
  in.tiers = {{0, 0}, {1 * kM, 5000}};        // 50 % off past 1M tokens
  Invoice inv = compute_invoice(book, in);
  EXPECT_EQ(inv.discount_micros, 1'500'000);  // 3M tokens ($3.00) at 50 %
  EXPECT_EQ(inv.amount_due_micros, 2'500'000);
}

struct CreditCase {
  const char* name;
  std::vector<CreditGrant> credits;
  std::int64_t promotional;
  std::int64_t paid;
  std::int64_t due;
  std::vector<std::pair<std::string, std::int64_t>> applied;  // credit id, amount, in order
};

CreditGrant grant(std::string id, CreditKind kind, std::int64_t micros, std::optional<std::int64_t> expires_at,
                  std::int64_t created_at) {
  return CreditGrant{std::move(id), kind, micros, micros, expires_at, created_at};
}

class PricingCredits : public ::testing::TestWithParam<CreditCase> {};

// Usage: 20M tokens of m with the 100K free allowance: $2.00 - $0.10 discount - $0.01 free
// = 1,890,000 µ$ left for credits. Credits are evaluated at t = 1,000 ms.
TEST_P(PricingCredits, AppliedInOrder) {
  const CreditCase& c = GetParam();
  PriceBook book(test_catalog());
  InvoiceInput in;
  in.usage = {line("m", "india", 20 * kM)};
  in.free_tokens = 100'000;
  in.credits = c.credits;
  in.as_of_ms = 1'000;
  Invoice inv = compute_invoice(book, in);
  ASSERT_EQ(inv.usage_after_free_micros, 1'890'000);
  EXPECT_EQ(inv.promotional_credits_micros, c.promotional);
  EXPECT_EQ(inv.paid_credits_micros, c.paid);
  EXPECT_EQ(inv.amount_due_micros, c.due);
  std::vector<std::pair<std::string, std::int64_t>> applied;
  for (const auto& a : inv.credits_applied) applied.emplace_back(a.credit_id, a.amount_micros);
  EXPECT_EQ(applied, c.applied);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PricingCredits,
    ::testing::Values(
        CreditCase{"no_credits", {}, 0, 0, 1'890'000, {}},
        CreditCase{"signup_bonus_covers_all",
                   {grant("signup", CreditKind::kSignupBonus, 10 * kUsd, std::nullopt, 1)},
                   1'890'000, 0, 0, {{"signup", 1'890'000}}},
        CreditCase{"promotional_before_paid_even_if_paid_is_older",
                   {grant("paid", CreditKind::kPaid, kUsd, std::nullopt, 1),
                    grant("promo", CreditKind::kPromotional, 500'000, std::nullopt, 2)},
                   500'000, kUsd, 390'000, {{"promo", 500'000}, {"paid", kUsd}}},
        // Promotional class: signup (expires 5,000) before promo (never); referral expired at 900.
        // Paid class: paid2 (expires 2,000) before adjustment (never, created 0) before paid1.
        CreditCase{"expiring_first_expired_ignored",
                   {grant("paid1", CreditKind::kPaid, kUsd, std::nullopt, 1),
                    grant("promo", CreditKind::kPromotional, 500'000, std::nullopt, 2),
                    grant("signup", CreditKind::kSignupBonus, 300'000, 5'000, 3),
                    grant("referral", CreditKind::kReferral, 200'000, 900, 3),
                    grant("paid2", CreditKind::kPaid, 2 * kUsd, 2'000, 4),
                    grant("adjust", CreditKind::kAdjustment, 100'000, std::nullopt, 0)},
                   800'000, 1'090'000, 0, {{"signup", 300'000}, {"promo", 500'000}, {"paid2", 1'090'000}}},
        CreditCase{"adjustment_is_spent_like_paid_before_newer_paid",
                   {grant("paid", CreditKind::kPaid, 100'000, std::nullopt, 5),
                    grant("adjust", CreditKind::kAdjustment, 100'000, std::nullopt, 0),
                    grant("referral", CreditKind::kReferral, 5 * 100'000, std::nullopt, 9)},
                   500'000, 200'000, 1'190'000, {{"referral", 500'000}, {"adjust", 100'000}, {"paid", 100'000}}},
        CreditCase{"expiring_exactly_now_is_unusable",
                   {grant("now", CreditKind::kPromotional, kUsd, 1'000, 0),
                    grant("later", CreditKind::kPromotional, 100'000, 1'001, 0)},
                   100'000, 0, 1'790'000, {{"later", 100'000}}},
        CreditCase{"same_expiry_older_first",
                   {grant("b", CreditKind::kPromotional, kUsd, 9'000, 2),
                    grant("a", CreditKind::kReferral, kUsd, 9'000, 1)},
                   1'890'000, 0, 0, {{"a", kUsd}, {"b", 890'000}}},
        CreditCase{"partly_spent_grants_use_their_remainder",
                   {CreditGrant{"g", CreditKind::kPaid, 5 * kUsd, 40'000, std::nullopt, 0},
                    CreditGrant{"empty", CreditKind::kPromotional, kUsd, 0, std::nullopt, 0}},
                   0, 40'000, 1'850'000, {{"g", 40'000}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PricingInvoice, NothingToPayUsesNoCredit) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  in.usage = {line("m", "india", 50'000)};
  in.free_tokens = 100'000;
  in.credits = {grant("signup", CreditKind::kSignupBonus, 10 * kUsd, std::nullopt, 0)};
  Invoice inv = compute_invoice(book, in);
  EXPECT_EQ(inv.amount_due_micros, 0);
  EXPECT_TRUE(inv.credits_applied.empty());
}

TEST(PricingInvoice, SavingsVersusOpenAiListPrice) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  // 20M prompt tokens of m: reference 20M x $0.15 = $3.00; ours $2.00 - $0.10 discount.
  in.usage = {line("m", "india", 20 * kM)};
  Invoice inv = compute_invoice(book, in);
  EXPECT_EQ(inv.reference_micros, 3'000'000);
  EXPECT_EQ(inv.compared_micros, 1'900'000);
  EXPECT_EQ(inv.savings_micros, 1'100'000);
  EXPECT_EQ(inv.compared_tokens, 20 * kM);
}

TEST(PricingInvoice, SavingsCountOnlyLinesWithAReferenceAtTheBlendedDiscount) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  // m: 20M in (ref $3.00, list $2.00, cached 0); big: 1M in ($1.00), no reference. 21M tokens, 11M
  // in the 10 % band: blended discount 11/21 x 10 %. m's share: 2,000,000 x 11M x 10 % / 21M
  // = 104,761.9 -> 104,762, so ours is 1,895,238 and the saving 1,104,762.
  in.usage = {line("m", "india", 20 * kM), line("big", "india", kM)};
  in.free_tokens = 100'000;  // the allowance is a payment, not a price: it does not change savings
  Invoice inv = compute_invoice(book, in);
  EXPECT_EQ(inv.discount_micros, 157'143);  // 3,000,000 x 11/210 = 157,142.86
  EXPECT_EQ(inv.reference_micros, 3'000'000);
  EXPECT_EQ(inv.compared_micros, 1'895'238);
  EXPECT_EQ(inv.savings_micros, 1'104'762);
  EXPECT_EQ(inv.compared_tokens, 20 * kM);
}

TEST(PricingInvoice, CachedTokensAtReferenceCachedPrice) {
  PriceBook book(test_catalog());
  InvoiceInput in;
  // Reference: 600K x 0.15 + 400K x 0.075 + 1M x 0.60 = 90,000 + 30,000 + 600,000.
  // Ours: 60,000 + 20,000 + 300,000 = 380,000.
  in.usage = {line("m", "india", kM, kM, 400'000)};
  Invoice inv = compute_invoice(book, in);
  EXPECT_EQ(inv.reference_micros, 720'000);
  EXPECT_EQ(inv.subtotal_micros, 380'000);
  EXPECT_EQ(inv.savings_micros, 340'000);
}

}  // namespace
}  // namespace cic::billing::testing
