// UsageReporter against a real (SQLite) store and an in-process Stripe: closed hours only, never
// before the mapping, acknowledged only on 2xx, nothing lost or doubled when Stripe is down, when
// its answers are lost after it committed, or when passes are replayed.
#include <gtest/gtest.h>

#include "cic/stripe/reporter.hpp"
#include "stripe_test_support.hpp"

namespace cic::stripe {
namespace {

using namespace std::chrono_literals;
using testing::FakeStripe;
using testing::FakeUsage;
using testing::TempStore;

constexpr std::int64_t kH = 3'600'000;
constexpr std::int64_t kT0 = 1'718'611'200'000;  // 2024-06-17T08:00:00Z, an hour start

class ReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    org_ = store_->create_org(store::Org{.name = "acme"}).id;
    other_ = store_->create_org(store::Org{.name = "beta"}).id;
    // Mapped "a day ago": the hours of the tests are all after it.
    store_->set_stripe_customer(store::StripeCustomer{org_, "cus_A", kT0 - 24 * kH, kT0 - 24 * kH}, nullptr);
  }

  UsageReporter reporter(ReporterOptions options = {}) {
    return UsageReporter(*store_, usage_, client_, std::move(options),
                         ReporterHooks{[this](std::string_view o) { outcomes_.push_back(std::string(o)); },
                                       [this](double s) { lag_ = s; }});
  }

  std::vector<store::StripeMeterReport> reports() { return store_->list_stripe_meter_reports("", 0); }
  std::int64_t acked_total(const std::string& org) {
    std::int64_t total = 0;
    for (const auto& r : store_->list_stripe_meter_reports(org, 0)) total += r.status == "acked" ? r.value : 0;
    return total;
  }

  TempStore store_;
  FakeUsage usage_;
  FakeStripe stripe_;
  StripeClient client_{stripe_, ClientOptions{"http://127.0.0.1:1", "sk_test_unit", 1'000ms, RetryPolicy{2, 1ms, 1ms}},
                       [](auto) { return true; }, [] { return 0.0; }};
  std::string org_;
  std::string other_;
  std::vector<std::string> outcomes_;
  double lag_ = -1;
};

TEST_F(ReporterTest, ReportsEachClosedHourOnceWithItsTotalTokens) {
  usage_.add(org_, kT0, 100, 50);
  usage_.add(org_, kT0, 10, 5, "mistral");
  usage_.add(org_, kT0 + kH, 7, 3);
  auto r = reporter();
  // 08:00 ended at 09:00; with the 5-minute close delay it is closed from 09:05 on.
  auto summary = r.run_once(kT0 + kH + 4 * 60'000);
  EXPECT_EQ(summary.accepted, 0u);
  summary = r.run_once(kT0 + kH + 5 * 60'000);
  EXPECT_EQ(summary.accepted, 1u);
  ASSERT_EQ(stripe_.events.size(), 1u);
  EXPECT_EQ(stripe_.events[0]["payload[value]"], "165");
  EXPECT_EQ(stripe_.events[0]["payload[stripe_customer_id]"], "cus_A");
  EXPECT_EQ(stripe_.events[0]["event_name"], "cic_tokens");
  EXPECT_EQ(stripe_.events[0]["timestamp"], std::to_string(kT0 / 1000));
  EXPECT_EQ(stripe_.events[0]["identifier"], meter_identifier(org_, "cic_tokens", kT0));

  auto rows = reports();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "acked");
  EXPECT_EQ(rows[0].acked_at, kT0 + kH + 5 * 60'000);
  EXPECT_EQ(rows[0].value, 165);

  // The next hour closes; the first one is not sent again.
  r.run_once(kT0 + 2 * kH + 5 * 60'000);
  ASSERT_EQ(stripe_.events.size(), 2u);
  EXPECT_EQ(stripe_.events[1]["payload[value]"], "10");
  EXPECT_EQ(stripe_.totals["cus_A"], 175);
  EXPECT_EQ(outcomes_, (std::vector<std::string>{"accepted", "accepted"}));
}

TEST_F(ReporterTest, OnlyMappedOrgsAndOnlyHoursSinceTheMapping) {
  usage_.add(org_, kT0 - 25 * kH, 1000, 0);  // before the mapping's hour
  usage_.add(org_, kT0 - 24 * kH, 3, 0);     // the mapping's own hour counts
  usage_.add(other_, kT0, 500, 0);           // no customer
  reporter().run_once(kT0 + 2 * kH);
  ASSERT_EQ(stripe_.events.size(), 1u);
  EXPECT_EQ(stripe_.events[0]["payload[value]"], "3");
}

TEST_F(ReporterTest, StripeDownAcknowledgesNothingAndLosesNothing) {
  usage_.add(org_, kT0, 100, 0);
  usage_.add(org_, kT0 + kH, 200, 0);
  auto r = reporter();
  stripe_.fail_next(2, FakeStripe::Fault::kNoAnswer);  // both attempts of the first event
  auto summary = r.run_once(kT0 + 3 * kH);
  EXPECT_EQ(summary.failed, 1u);
  EXPECT_EQ(summary.accepted, 0u);
  EXPECT_EQ(stripe_.requests.size(), 2u);  // one event, two attempts; the pass then stops
  auto rows = reports();
  ASSERT_EQ(rows.size(), 1u);  // the second hour is not even written while Stripe is down
  EXPECT_EQ(rows[0].status, "pending");
  EXPECT_EQ(acked_total(org_), 0);
  EXPECT_DOUBLE_EQ(lag_, 2.0 * 3600);  // 08:00 ended at 09:00; it is 11:00

  // Back up: the pending event goes out unchanged, then the next hour.
  EXPECT_EQ(r.run_once(kT0 + 3 * kH).accepted, 2u);
  EXPECT_EQ(stripe_.totals["cus_A"], 300);
  EXPECT_EQ(acked_total(org_), 300);
  EXPECT_EQ(stripe_.events[0]["identifier"], rows[0].identifier);
  EXPECT_DOUBLE_EQ(lag_, 0.0);
}

TEST_F(ReporterTest, AnswerLostAfterStripeCommittedCountsOnce) {
  usage_.add(org_, kT0, 100, 0);
  auto r = reporter();
  // Every attempt of this pass reaches Stripe's books but its answer is lost.
  stripe_.fail_next(2, FakeStripe::Fault::kDropAfterCommit);
  EXPECT_EQ(r.run_once(kT0 + 2 * kH).duplicates, 1u);  // attempt 2 finds it "already exists"
  EXPECT_EQ(stripe_.totals["cus_A"], 100);
  EXPECT_EQ(stripe_.events.size(), 1u);
  EXPECT_EQ(reports()[0].status, "acked");

  // Lost answers on every attempt of a pass: the row stays pending, the next pass resends it.
  usage_.add(org_, kT0 + kH, 50, 0);
  stripe_.fail_next(1, FakeStripe::Fault::kDropAfterCommit);
  stripe_.fail_next(1, FakeStripe::Fault::kNoAnswer);
  EXPECT_EQ(r.run_once(kT0 + 3 * kH).failed, 1u);
  EXPECT_EQ(stripe_.totals["cus_A"], 150);  // Stripe has it...
  EXPECT_EQ(acked_total(org_), 100);        // ...we do not know yet
  EXPECT_EQ(r.run_once(kT0 + 3 * kH).duplicates, 1u);
  EXPECT_EQ(stripe_.totals["cus_A"], 150);
  EXPECT_EQ(acked_total(org_), 150);
}

TEST_F(ReporterTest, ReplayedPassesAndRestartsSendNothingNew) {
  usage_.add(org_, kT0, 100, 20);
  usage_.add(org_, kT0 + kH, 1, 1);
  reporter().run_once(kT0 + 3 * kH);
  const auto requests = stripe_.requests.size();
  for (int restart = 0; restart < 3; ++restart) {
    auto r = reporter();  // a fresh reporter looks back over the whole window again
    auto summary = r.run_once(kT0 + 3 * kH);
    EXPECT_EQ(summary.accepted + summary.duplicates + summary.failed, 0u);
  }
  EXPECT_EQ(stripe_.requests.size(), requests);
  EXPECT_EQ(stripe_.totals["cus_A"], 122);
  EXPECT_EQ(acked_total(org_), 122);
}

TEST_F(ReporterTest, LostAcknowledgementsAreRecoveredByIdentifier) {
  usage_.add(org_, kT0, 100, 0);
  reporter().run_once(kT0 + 2 * kH);
  // Our record of the report is gone (say, restored from an older backup): Stripe's dedupe holds.
  for (const auto& row : reports()) store_->update_stripe_meter_report(row.identifier, "pending", "", std::nullopt);
  EXPECT_EQ(reporter().run_once(kT0 + 2 * kH).duplicates, 1u);
  EXPECT_EQ(stripe_.totals["cus_A"], 100);
  EXPECT_EQ(acked_total(org_), 100);
}

TEST_F(ReporterTest, UsageThatGrowsAfterItsHourWasReportedGoesOutAsAnotherReport) {
  usage_.add(org_, kT0, 100, 0);
  auto r = reporter();
  r.run_once(kT0 + 2 * kH);
  usage_.add(org_, kT0, 30, 0);  // a late batch (a replayed write-ahead log) for the same hour
  r.run_once(kT0 + 2 * kH + 60'000);
  ASSERT_EQ(stripe_.events.size(), 2u);
  EXPECT_EQ(stripe_.events[1]["payload[value]"], "30");
  EXPECT_EQ(stripe_.events[1]["identifier"], meter_identifier(org_, "cic_tokens", kT0, 2));
  EXPECT_EQ(stripe_.totals["cus_A"], 130);
}

TEST_F(ReporterTest, OpenHoursAreReportedAsTheyGrowWhenConfigured) {
  ReporterOptions options;
  options.report_open_hours = true;
  auto r = reporter(options);
  usage_.add(org_, kT0, 10, 0);
  r.run_once(kT0 + 60'000);
  usage_.add(org_, kT0, 5, 0);
  r.run_once(kT0 + 120'000);
  r.run_once(kT0 + 180'000);
  EXPECT_EQ(stripe_.events.size(), 2u);
  EXPECT_EQ(stripe_.totals["cus_A"], 15);
  EXPECT_DOUBLE_EQ(lag_, 0.0);
}

TEST_F(ReporterTest, ARejectedReportIsKeptAsSuchAndSentAgainForANewCustomer) {
  usage_.add(org_, kT0, 100, 0);
  stripe_.rejected_customers.insert("cus_A");
  auto r = reporter();
  EXPECT_EQ(r.run_once(kT0 + 2 * kH).rejected, 1u);
  EXPECT_EQ(reports()[0].status, "rejected");
  EXPECT_EQ(reports()[0].error, "No such customer");
  EXPECT_EQ(r.run_once(kT0 + 2 * kH).rejected, 0u);  // not resent, not re-reported as a difference
  EXPECT_EQ(reports().size(), 1u);

  store_->set_stripe_customer(store::StripeCustomer{org_, "cus_B"}, nullptr);
  EXPECT_EQ(r.run_once(kT0 + 2 * kH).accepted, 1u);
  EXPECT_EQ(stripe_.totals["cus_B"], 100);
  EXPECT_EQ(reports()[0].status, "acked");
  EXPECT_EQ(reports()[0].identifier, meter_identifier(org_, "cic_tokens", kT0));
}

TEST_F(ReporterTest, AReportWrittenByAnotherReplicaIsLeftToIt) {
  usage_.add(org_, kT0, 100, 0);
  store::StripeMeterReport theirs;
  theirs.identifier = "written-by-replica-2";
  theirs.org_id = org_;
  theirs.event_name = "cic_tokens";
  theirs.customer_id = "cus_A";
  theirs.hour_start = kT0;
  theirs.seq = 1;
  theirs.value = 100;
  theirs.status = "acked";
  store_->insert_stripe_meter_report(theirs);
  EXPECT_EQ(reporter().run_once(kT0 + 2 * kH).accepted, 0u);
  EXPECT_TRUE(stripe_.requests.empty());
}

}  // namespace
}  // namespace cic::stripe
