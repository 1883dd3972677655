// Closing months (billing::close_due_months) on every backend: hand-computed bills, the credit
// consumed from the ledger once, months closed in order and never twice, the close delay, and
// grants that came after a month not paying for it.
#include "cic/billing/month_close.hpp"
#include "cic/billing/credits.hpp"
#include "cic/billing/invoice.hpp"
#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreMonthClose = StoreContract;
using namespace std::chrono_literals;

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kJan1_2024 = 1'704'067'200'000;
constexpr std::int64_t kFeb1_2024 = 1'706'745'600'000;
constexpr std::int64_t kMar1_2024 = 1'709'251'200'000;
constexpr std::int64_t kApr1_2024 = 1'711'929'600'000;
constexpr std::int64_t kM = 1'000'000;    // a million tokens
constexpr std::int64_t kUsd = 1'000'000;  // a dollar in micro-dollars

/// One model at $1.00 per 1M input and $2.00 per 1M output; the free plan's 100K tokens a month.
config::Config billing_config() {
  config::Config c;
  config::ModelConfig m;
  m.id = "m";
  m.input_micros_per_million = 1'000'000;
  m.output_micros_per_million = 2'000'000;
  c.models.push_back(m);
  config::PlanConfig free;
  free.name = "free";
  free.monthly_free_tokens = 100'000;
  c.plans.push_back(free);
  return c;
}

UsageRecord usage(const std::string& id, const Org& org, std::int64_t at, std::int64_t prompt, std::int64_t completion) {
  UsageRecord r = make_usage(id, at);
  r.org_id = org.id;
  r.model = "m";
  r.region = "india";
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  r.cached_tokens = 0;
  return r;
}

CreditEntry grant(const Org& org, const std::string& kind, std::int64_t micros, std::int64_t at, const std::string& id) {
  CreditEntry e;
  e.id = id;
  e.org_id = org.id;
  e.kind = kind;
  e.amount_micros = micros;
  e.created_at = at;
  return e;
}

std::int64_t remaining(Store& store, const Org& org, const std::string& grant_id) {
  for (const auto& g : billing::credit_balances(store.list_credits(org.id))) {
    if (g.id == grant_id) return g.remaining_micros;
  }
  return -1;
}

class MonthCloseBills : public StoreMonthClose {
 protected:
  void SetUp() override {
    StoreMonthClose::SetUp();
    org_ = store_->create_org(Org{.name = "acme", .plan = "free", .created_at = kJan1_2024 + 5 * kHour});
    store_->add_credit(grant(org_, "signup_bonus", 10 * kUsd, kJan1_2024 + 5 * kHour, "crd_bonus"));
    store_->add_credit(grant(org_, "paid", 5 * kUsd, kJan1_2024 + 6 * kHour, "crd_paid"));
    // January: 3M in + 1M out = $3 + $2 = $5.00 for 4M tokens. February: 8M in + 2M out = $12.00
    // for 10M tokens (all in the 0 % band). March: nothing.
    ASSERT_EQ(store_->insert_usage({usage("jan-1", org_, kJan1_2024 + 10 * kHour, 2 * kM, kM),
                                    usage("jan-2", org_, kFeb1_2024 - 1, kM, 0),
                                    usage("feb-1", org_, kFeb1_2024, 8 * kM, 2 * kM)}),
              3u);
  }
  Org org_;
  config::Config config_ = billing_config();
};

TEST_P(MonthCloseBills, EndedMonthsCloseInOrderWithHandComputedBillsAndConsumeCreditOnce) {
  // April 1st, 02:00: January, February and March ended over an hour ago; April has not.
  EXPECT_EQ(billing::close_due_months(*store_, config_, kApr1_2024 + 2 * kHour, 1h), 3u);

  auto months = store_->list_monthly_invoices(org_.id);
  ASSERT_EQ(months.size(), 3u);
  // January: allowance = 100K of 4M tokens of a $5.00 month = $0.125; $4.875 from the bonus.
  EXPECT_EQ(months[0].period_start, kJan1_2024);
  EXPECT_EQ(months[0].period_end, kFeb1_2024);
  EXPECT_EQ(months[0].total_tokens, 4 * kM);
  EXPECT_EQ(months[0].subtotal_micros, 5 * kUsd);
  EXPECT_EQ(months[0].discount_micros, 0);
  EXPECT_EQ(months[0].free_allowance_micros, 125'000);
  EXPECT_EQ(months[0].promotional_credits_micros, 4'875'000);
  EXPECT_EQ(months[0].paid_credits_micros, 0);
  EXPECT_EQ(months[0].amount_due_micros, 0);
  EXPECT_EQ(months[0].closed_at, kApr1_2024 + 2 * kHour);
  // February: allowance = 100K of 10M tokens of $12.00 = $0.12; $11.88 left: the bonus's last
  // $5.125, the paid $5.00, and $1.755 due.
  EXPECT_EQ(months[1].period_start, kFeb1_2024);
  EXPECT_EQ(months[1].total_tokens, 10 * kM);
  EXPECT_EQ(months[1].subtotal_micros, 12 * kUsd);
  EXPECT_EQ(months[1].free_allowance_micros, 120'000);
  EXPECT_EQ(months[1].promotional_credits_micros, 5'125'000);
  EXPECT_EQ(months[1].paid_credits_micros, 5 * kUsd);
  EXPECT_EQ(months[1].amount_due_micros, 1'755'000);
  // March: nothing used, nothing due, still closed.
  EXPECT_EQ(months[2].period_start, kMar1_2024);
  EXPECT_EQ(months[2].subtotal_micros, 0);
  EXPECT_EQ(months[2].amount_due_micros, 0);

  // The ledger: one consumption per grant used, dated the month's last millisecond.
  std::vector<CreditEntry> consumptions;
  for (const auto& e : store_->list_credits(org_.id)) {
    if (e.amount_micros < 0) consumptions.push_back(e);
  }
  ASSERT_EQ(consumptions.size(), 3u);
  EXPECT_EQ(consumptions[0].amount_micros, -4'875'000);
  EXPECT_EQ(consumptions[0].grant_id, "crd_bonus");
  EXPECT_EQ(consumptions[0].kind, "signup_bonus");
  EXPECT_EQ(consumptions[0].created_at, kFeb1_2024 - 1);
  EXPECT_EQ(consumptions[0].idempotency_key, "invoice:" + org_.id + ":2024-01:crd_bonus");
  EXPECT_EQ(consumptions[0].note, "invoice 2024-01");
  EXPECT_EQ(remaining(*store_, org_, "crd_bonus"), 0);
  EXPECT_EQ(remaining(*store_, org_, "crd_paid"), 0);

  // Again (a later pass, or another replica): nothing more is closed or consumed.
  EXPECT_EQ(billing::close_due_months(*store_, config_, kApr1_2024 + 3 * kHour, 1h), 0u);
  EXPECT_EQ(store_->list_monthly_invoices(org_.id).size(), 3u);
  EXPECT_EQ(store_->list_credits(org_.id).size(), 5u);

  // April's preview draws on what is left: nothing, so April's usage is all due.
  ASSERT_EQ(store_->insert_usage({usage("apr-1", org_, kApr1_2024 + 4 * kHour, kM, 0)}), 1u);
  billing::Invoice april = billing::compute_invoice(
      billing::PriceBook(config_.models),
      billing::month_invoice_input(*store_, config_, org_, kApr1_2024, kApr1_2024 + 5 * kHour));
  EXPECT_EQ(april.subtotal_micros, kUsd);
  EXPECT_EQ(april.free_allowance_micros, 100'000);
  EXPECT_TRUE(april.credits_applied.empty());
  EXPECT_EQ(april.amount_due_micros, 900'000);
}

TEST_P(MonthCloseBills, AMonthClosesOnlyOnceItEndedTheDelayAgo) {
  // 30 minutes into April, with a one-hour delay: March may still get usage from a log.
  EXPECT_EQ(billing::close_due_months(*store_, config_, kApr1_2024 + 30 * 60'000, 1h), 2u);
  ASSERT_EQ(store_->list_monthly_invoices(org_.id).size(), 2u);
  EXPECT_EQ(billing::close_due_months(*store_, config_, kApr1_2024 + kHour, 1h), 1u);
  EXPECT_EQ(store_->list_monthly_invoices(org_.id).back().period_start, kMar1_2024);
  // Usage arriving for January after it closed changes no closed month.
  ASSERT_EQ(store_->insert_usage({usage("jan-late", org_, kJan1_2024 + 20 * kHour, kM, 0)}), 1u);
  EXPECT_EQ(billing::close_due_months(*store_, config_, kApr1_2024 + 2 * kHour, 1h), 0u);
  EXPECT_EQ(store_->list_monthly_invoices(org_.id).front().subtotal_micros, 5 * kUsd);
}

TEST_P(MonthCloseBills, GrantsFromAfterAMonthDoNotPayForIt) {
  // Paid credit bought on March 3rd: February is closed later, but the credit cannot pay for it.
  store_->add_credit(grant(org_, "paid", 20 * kUsd, kMar1_2024 + 50 * kHour, "crd_march"));
  EXPECT_EQ(billing::close_due_months(*store_, config_, kMar1_2024 + 60 * kHour, 1h), 2u);
  auto months = store_->list_monthly_invoices(org_.id);
  ASSERT_EQ(months.size(), 2u);
  EXPECT_EQ(months[1].amount_due_micros, 1'755'000);
  EXPECT_EQ(remaining(*store_, org_, "crd_march"), 20 * kUsd);
}

TEST_P(MonthCloseBills, GrantsExpiredByTheMonthsEndPayNothingAndExpiringOnesGoFirst) {
  // $50 promotional that expired on January 20th: unusable for January. $1 promotional expiring
  // February 15th: still good at the end of January, and spent before grants that never expire.
  CreditEntry expired = grant(org_, "promotional", 50 * kUsd, kJan1_2024 + 7 * kHour, "crd_expired");
  expired.expires_at = kJan1_2024 + 19 * 24 * kHour;
  store_->add_credit(expired);
  CreditEntry soon = grant(org_, "promotional", kUsd, kJan1_2024 + 8 * kHour, "crd_soon");
  soon.expires_at = kFeb1_2024 + 14 * 24 * kHour;
  store_->add_credit(soon);
  // An org created in March has no month to close on February 1st.
  Org late = store_->create_org(Org{.name = "late", .plan = "free", .created_at = kMar1_2024 + kHour});

  EXPECT_EQ(billing::close_due_months(*store_, config_, kFeb1_2024 + 2 * kHour, 1h), 1u);  // acme's January
  auto months = store_->list_monthly_invoices(org_.id);
  ASSERT_EQ(months.size(), 1u);
  EXPECT_EQ(months[0].promotional_credits_micros, 4'875'000);  // $1 + $3.875
  EXPECT_EQ(remaining(*store_, org_, "crd_expired"), 50 * kUsd);
  EXPECT_EQ(remaining(*store_, org_, "crd_soon"), 0);
  EXPECT_EQ(remaining(*store_, org_, "crd_bonus"), 10 * kUsd - 3'875'000);
  EXPECT_EQ(remaining(*store_, org_, "crd_paid"), 5 * kUsd);
  EXPECT_TRUE(store_->list_monthly_invoices(late.id).empty());
}

TEST_P(StoreMonthClose, CloseMonthWritesTheInvoiceAndItsConsumptionsOnce) {
  Org org = store_->create_org(Org{.name = "acme"});
  store_->add_credit(grant(org, "paid", 5 * kUsd, kJan1_2024, "crd_paid"));
  MonthlyInvoice m;
  m.org_id = org.id;
  m.period_start = kJan1_2024;
  m.period_end = kFeb1_2024;
  m.total_tokens = 7;
  m.subtotal_micros = 11;
  m.discount_micros = 2;
  m.free_allowance_micros = 3;
  m.promotional_credits_micros = 0;
  m.paid_credits_micros = 4;
  m.amount_due_micros = 2;
  CreditEntry use;
  use.org_id = org.id;
  use.kind = "paid";
  use.amount_micros = -4;
  use.grant_id = "crd_paid";
  use.idempotency_key = billing::month_consumption_key(org.id, kJan1_2024, "crd_paid");
  EXPECT_TRUE(store_->close_month(m, {use}));
  EXPECT_FALSE(store_->close_month(m, {use}));
  auto other = use;
  other.idempotency_key = "something else";
  EXPECT_FALSE(store_->close_month(m, {other}));  // the month is closed: nothing written at all

  auto months = store_->list_monthly_invoices(org.id);
  ASSERT_EQ(months.size(), 1u);
  EXPECT_EQ(months[0].total_tokens, 7);
  EXPECT_EQ(months[0].subtotal_micros, 11);
  EXPECT_EQ(months[0].discount_micros, 2);
  EXPECT_EQ(months[0].free_allowance_micros, 3);
  EXPECT_EQ(months[0].paid_credits_micros, 4);
  EXPECT_EQ(months[0].amount_due_micros, 2);
  EXPECT_GT(months[0].closed_at, 0);
  auto ledger = store_->list_credits(org.id);
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[1].amount_micros, -4);
  EXPECT_TRUE(ledger[1].id.starts_with("crd_"));
  EXPECT_EQ(ledger[1].created_at, months[0].closed_at);
  EXPECT_TRUE(store_->list_monthly_invoices("org_none").empty());
  EXPECT_THROW(store_->close_month(MonthlyInvoice{.org_id = "org_none", .period_start = 1}, {}), StoreError);
}

INSTANTIATE_TEST_SUITE_P(Backends, MonthCloseBills, ::testing::Values(kSqlite, kPostgres), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, StoreMonthClose, ::testing::Values(kSqlite, kPostgres), backend_name);

}  // namespace
}  // namespace cic::store::testing
