// Contract: Stripe customers, meter reports, webhook events and alerts (migration 0007) behave the
// same on every backend — once-only inserts, status changes, the retry of rejected reports when a
// customer changes, ordering and filters.
#include <atomic>
#include <thread>

#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreStripe = StoreContract;

constexpr std::int64_t kHour = 3'600'000;

StripeMeterReport report(const std::string& org_id, std::int64_t hour, std::int64_t seq, std::int64_t value,
                         const std::string& customer = "cus_A") {
  StripeMeterReport r;
  r.org_id = org_id;
  r.event_name = "cic_tokens";
  r.customer_id = customer;
  r.hour_start = hour;
  r.seq = seq;
  r.value = value;
  r.identifier = "cic-" + org_id + "-cic_tokens-" + std::to_string(hour / 1000) +
                 (seq > 1 ? "-" + std::to_string(seq) : "");
  r.created_at = hour + 1;
  return r;
}

AlertRecord alert(const std::string& org_id, const std::string& kind, const std::string& period,
                  std::int64_t created_at) {
  AlertRecord a;
  a.id = "alt_" + org_id + "_" + kind + "_" + period;
  a.org_id = org_id;
  a.subject = org_id;
  a.kind = kind;
  a.period = period;
  a.payload_json = R"({"kind":")" + kind + R"("})";
  a.created_at = created_at;
  return a;
}

TEST_P(StoreStripe, CustomerMappingIsUpsertedWithAuditAndKeepsCreatedAt) {
  Org org = store_->create_org(Org{.name = "acme"});
  EXPECT_FALSE(store_->find_stripe_customer(org.id));
  auto audit = make_audit("org.stripe.set", org.id, org.id);
  auto first = store_->set_stripe_customer(StripeCustomer{org.id, "cus_A", 1'000, 1'000}, &audit);
  EXPECT_EQ(first.created_at, 1'000);
  auto second = store_->set_stripe_customer(StripeCustomer{org.id, "cus_B", 5'000, 5'000}, &audit);
  EXPECT_EQ(second.created_at, 1'000);
  EXPECT_EQ(second.updated_at, 5'000);
  auto found = store_->find_stripe_customer(org.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->customer_id, "cus_B");
  EXPECT_EQ(found->created_at, 1'000);
  std::size_t audits = 0;
  for (const auto& a : all_audit(*store_)) audits += a.action == "org.stripe.set" ? 1 : 0;
  EXPECT_EQ(audits, 2u);

  Org other = store_->create_org(Org{.name = "beta"});
  store_->set_stripe_customer(StripeCustomer{other.id, "cus_C"}, nullptr);
  auto all = store_->list_stripe_customers();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0].org_id, all[1].org_id);
  EXPECT_GT(store_->find_stripe_customer(other.id)->created_at, 0);  // 0 = now
}

TEST_P(StoreStripe, CustomerOfAMissingOrgIsAStoreError) {
  EXPECT_THROW(store_->set_stripe_customer(StripeCustomer{"org_missing", "cus_A"}, nullptr), StoreError);
  EXPECT_TRUE(store_->list_stripe_customers().empty());
}

TEST_P(StoreStripe, MeterReportsInsertOnceAndChangeStatus) {
  Org org = store_->create_org(Org{.name = "acme"});
  auto r1 = report(org.id, 10 * kHour, 1, 500);
  EXPECT_TRUE(store_->insert_stripe_meter_report(r1));
  EXPECT_FALSE(store_->insert_stripe_meter_report(r1));  // same identifier
  auto clash = report(org.id, 10 * kHour, 1, 999);
  clash.identifier = "other-identifier";
  EXPECT_FALSE(store_->insert_stripe_meter_report(clash));  // same (org, hour, seq)
  EXPECT_TRUE(store_->insert_stripe_meter_report(report(org.id, 10 * kHour, 2, 20)));
  EXPECT_TRUE(store_->insert_stripe_meter_report(report(org.id, 9 * kHour, 1, 7)));

  EXPECT_TRUE(store_->update_stripe_meter_report(r1.identifier, "acked", "", 42));
  EXPECT_FALSE(store_->update_stripe_meter_report("nope", "acked", "", 42));

  auto rows = store_->list_stripe_meter_reports("", 0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].hour_start, 9 * kHour);
  EXPECT_EQ(rows[1].seq, 1);
  EXPECT_EQ(rows[1].status, "acked");
  EXPECT_EQ(rows[1].acked_at, 42);
  EXPECT_EQ(rows[1].value, 500);
  EXPECT_EQ(rows[1].customer_id, "cus_A");
  EXPECT_EQ(rows[1].event_name, "cic_tokens");
  EXPECT_EQ(rows[1].created_at, 10 * kHour + 1);
  EXPECT_EQ(rows[2].seq, 2);
  EXPECT_EQ(rows[2].status, "pending");
  EXPECT_FALSE(rows[2].acked_at);

  EXPECT_EQ(store_->list_stripe_meter_reports("", 10 * kHour).size(), 2u);
  EXPECT_EQ(store_->list_stripe_meter_reports(org.id, 0).size(), 3u);
  EXPECT_TRUE(store_->list_stripe_meter_reports("org_other", 0).empty());
}

TEST_P(StoreStripe, ConcurrentInsertsOfOneReportWriteItOnce) {
  Org org = store_->create_org(Org{.name = "acme"});
  auto second = open_store();
  std::atomic<int> inserted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      Store& s = i % 2 == 0 ? *store_ : *second;
      if (s.insert_stripe_meter_report(report(org.id, 3 * kHour, 1, 100))) inserted++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_EQ(store_->list_stripe_meter_reports(org.id, 0).size(), 1u);
}

TEST_P(StoreStripe, ANewCustomerSendsRejectedReportsAgain) {
  Org org = store_->create_org(Org{.name = "acme"});
  store_->set_stripe_customer(StripeCustomer{org.id, "cus_A"}, nullptr);
  auto rejected = report(org.id, kHour, 1, 10);
  auto acked = report(org.id, 2 * kHour, 1, 20);
  store_->insert_stripe_meter_report(rejected);
  store_->insert_stripe_meter_report(acked);
  store_->update_stripe_meter_report(rejected.identifier, "rejected", "No such customer: 'cus_A'", std::nullopt);
  store_->update_stripe_meter_report(acked.identifier, "acked", "", 5);

  store_->set_stripe_customer(StripeCustomer{org.id, "cus_A"}, nullptr);  // same customer: nothing changes
  EXPECT_EQ(store_->list_stripe_meter_reports(org.id, 0)[0].status, "rejected");

  store_->set_stripe_customer(StripeCustomer{org.id, "cus_B"}, nullptr);
  auto rows = store_->list_stripe_meter_reports(org.id, 0);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "pending");
  EXPECT_EQ(rows[0].error, "");
  EXPECT_EQ(rows[0].customer_id, "cus_B");
  EXPECT_EQ(rows[1].status, "acked");
  EXPECT_EQ(rows[1].customer_id, "cus_A");  // what Stripe holds stays as it was
}

TEST_P(StoreStripe, WebhookEventsAreKeptOncePerId) {
  StripeEvent e{"evt_1", "invoice.paid", "cus_A", "in_1", 1'700'000'000, 1'000, R"({"id":"evt_1"})"};
  EXPECT_TRUE(store_->record_stripe_event(e));
  e.payload_json = R"({"id":"evt_1","again":true})";
  EXPECT_FALSE(store_->record_stripe_event(e));
  EXPECT_TRUE(store_->record_stripe_event(
      StripeEvent{"evt_2", "invoice.payment_failed", "cus_A", "in_2", 1'700'000'100, 2'000, "{}"}));
  EXPECT_TRUE(store_->record_stripe_event(
      StripeEvent{"evt_3", "payment_intent.payment_failed", "cus_B", "pi_1", 1'700'000'200, 3'000, "{}"}));

  auto all = store_->list_stripe_events({});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, "evt_1");
  EXPECT_EQ(all[0].payload_json, R"({"id":"evt_1"})");
  EXPECT_EQ(all[0].customer_id, "cus_A");
  EXPECT_EQ(all[0].object_id, "in_1");
  EXPECT_EQ(all[0].created, 1'700'000'000);
  EXPECT_EQ(all[0].received_at, 1'000);

  StripeEventFilter failed{{"invoice.payment_failed", "payment_intent.payment_failed"}, 0, 100};
  auto failures = store_->list_stripe_events(failed);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].id, "evt_2");
  failed.since_ms = 2'500;
  ASSERT_EQ(store_->list_stripe_events(failed).size(), 1u);
  EXPECT_EQ(store_->list_stripe_events(StripeEventFilter{{}, 0, 2}).size(), 2u);
}

TEST_P(StoreStripe, AlertsAreClaimedOnceAndDeliveredOnce) {
  Org org = store_->create_org(Org{.name = "acme"});
  auto a = alert(org.id, "budget_80", "2025-06", 1'000);
  EXPECT_TRUE(store_->claim_alert(a));
  EXPECT_FALSE(store_->claim_alert(a));
  auto same_key = a;
  same_key.id = "alt_different";
  EXPECT_FALSE(store_->claim_alert(same_key));  // (org, subject, kind, period) already claimed
  auto b = alert(org.id, "budget_100", "2025-06", 2'000);
  EXPECT_TRUE(store_->claim_alert(b));

  auto pending = store_->list_undelivered_alerts(0, 10);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, a.id);
  EXPECT_EQ(pending[0].payload_json, a.payload_json);
  EXPECT_EQ(store_->list_undelivered_alerts(1'500, 10).size(), 1u);
  EXPECT_EQ(store_->list_undelivered_alerts(0, 1).size(), 1u);

  store_->update_alert_delivery(a.id, std::nullopt);  // a failed attempt
  store_->update_alert_delivery(a.id, 5'000);
  store_->update_alert_delivery(a.id, 9'000);  // delivered_at keeps the first delivery
  auto listed = store_->list_alerts(org.id);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].attempts, 3);
  EXPECT_EQ(listed[0].delivered_at, 5'000);
  EXPECT_FALSE(listed[1].delivered_at);
  pending = store_->list_undelivered_alerts(0, 10);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].id, b.id);
}

TEST_P(StoreStripe, StripeStateSurvivesAReopen) {
  Org org = store_->create_org(Org{.name = "acme"});
  store_->set_stripe_customer(StripeCustomer{org.id, "cus_A"}, nullptr);
  store_->insert_stripe_meter_report(report(org.id, kHour, 1, 10));
  store_->claim_alert(alert(org.id, "spend_spike", "2025-06-17", 1));
  reopen();
  EXPECT_EQ(store_->find_stripe_customer(org.id)->customer_id, "cus_A");
  EXPECT_EQ(store_->list_stripe_meter_reports(org.id, 0).size(), 1u);
  EXPECT_FALSE(store_->claim_alert(alert(org.id, "spend_spike", "2025-06-17", 1)));
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, StoreStripe, ::testing::Values(kSqlite, kPostgres), backend_name);

}  // namespace cic::store::testing
