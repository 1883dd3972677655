// AlertEngine with a real (SQLite) store: facts priced at list price from the rollups, budgets from
// the org and environment, credits from the ledger, failed payments from Stripe's events; each
// alert claimed once, delivered signed, re-sent until a receiver takes it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cic/stripe/alerts.hpp"
#include "cic/stripe/signature.hpp"
#include "stripe_test_support.hpp"

namespace cic::stripe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeUsage;
using testing::ScriptedTransport;
using testing::TempStore;

constexpr std::int64_t kNow = 1'718'620'000'000;  // 2024-06-17T10:26:40Z
constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;
constexpr const char* kSecret = "alerts-secret-0123456789";

std::vector<config::ModelConfig> models() {
  config::ModelConfig llama;
  llama.id = "llama";
  llama.input_micros_per_million = 1'000'000;   // $1 per 1M input tokens
  llama.output_micros_per_million = 2'000'000;  // $2 per 1M output tokens
  llama.cached_input_micros_per_million = 500'000;
  return {llama};
}

class AlertEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Org o;
    o.name = "acme";
    o.monthly_spend_cap_micros = 10'000'000;  // $10
    org_ = store_->create_org(o);
    store::Environment e;
    e.org_id = org_.id;
    e.name = "prod";
    e.region = "india";
    env_ = store_->create_environment(e);
  }

  AlertEngine engine(HttpTransport& transport) {
    AlertOptions options;
    options.webhook_url = "http://127.0.0.1:1/alerts";
    options.webhook_secret = kSecret;
    options.retry = RetryPolicy{2, 1ms, 1ms};
    options.policy.spike_min_micros = 1'000'000;
    return AlertEngine(*store_, usage_, models_, transport, options, [](auto) { return true; },
                       AlertHooks{[this](std::string_view k) { fired_.push_back(std::string(k)); }, {}},
                       [] { return 0.0; });
  }

  static HttpResult ok() { return HttpResult{204, {}, "", ""}; }
  static HttpResult down() { return HttpResult{0, {}, "", "connect: refused"}; }

  TempStore store_;
  FakeUsage usage_;
  std::vector<config::ModelConfig> models_ = models();
  store::Org org_;
  store::Environment env_;
  std::vector<std::string> fired_;
};

TEST_F(AlertEngineTest, GathersSpendAtListPrice) {
  const std::int64_t today = utc_day_floor(kNow);
  usage_.add(org_.id, today + kHour, 2'000'000, 1'000'000, "llama", env_.id);  // $2 + $2
  usage_.add(org_.id, today - 2 * kDay, 1'000'000, 0, "llama", env_.id);       // $1, two days ago
  usage_.add(org_.id, today + kHour, 5'000'000, 0, "unpriced", env_.id);       // not in the catalog
  ScriptedTransport t({ok()});
  const AlertFacts facts = engine(t).gather(kNow);
  ASSERT_EQ(facts.spend.size(), 1u);  // the environment has no budget of its own
  EXPECT_EQ(facts.spend[0].subject, org_.id);
  EXPECT_EQ(facts.spend[0].monthly_cap_micros, 10'000'000);
  EXPECT_EQ(facts.spend[0].month_micros, 5'000'000);
  EXPECT_EQ(facts.spend[0].today_micros, 4'000'000);
  EXPECT_EQ(facts.spend[0].trailing_micros, 1'000'000);
}

TEST_F(AlertEngineTest, ABudgetAlertIsDeliveredSignedAndFiresOnce) {
  usage_.add(org_.id, utc_day_floor(kNow), 8'000'000, 0, "llama", env_.id);  // $8 of $10
  ScriptedTransport t({ok()});
  auto e = engine(t);
  auto summary = e.run_once(kNow);
  EXPECT_EQ(summary.fired, 2u);  // budget_80 and (8 x $1 today vs nothing before) spend_spike
  ASSERT_EQ(t.requests.size(), 2u);
  const HttpRequest* budget = nullptr;
  for (const auto& r : t.requests) {
    if (json::parse(r.body)["type"] == "budget_80") budget = &r;
  }
  ASSERT_NE(budget, nullptr);
  EXPECT_EQ(budget->url, "http://127.0.0.1:1/alerts");
  EXPECT_EQ(budget->headers.at("Content-Type"), "application/json");
  EXPECT_EQ(verify_signature(budget->headers.at("X-CIC-Signature"), budget->body, kSecret, kNow / 1000),
            SignatureCheck::kValid);
  const json body = json::parse(budget->body);
  EXPECT_EQ(body["id"], alert_id(org_.id, org_.id, "budget_80", "2024-06"));
  EXPECT_EQ(budget->headers.at("X-CIC-Alert-Id"), body["id"]);
  EXPECT_EQ(body["org_id"], org_.id);
  EXPECT_EQ(body["subject"]["type"], "org");
  EXPECT_EQ(body["period"], "2024-06");
  EXPECT_EQ(body["data"]["spend_micros"], 8'000'000);
  EXPECT_EQ(body["data"]["budget_micros"], 10'000'000);
  EXPECT_DOUBLE_EQ(body["data"]["percent"].get<double>(), 80.0);

  EXPECT_EQ(e.run_once(kNow + 60'000).fired, 0u);
  EXPECT_EQ(t.requests.size(), 2u);
  usage_.add(org_.id, utc_day_floor(kNow), 2'000'000, 0, "llama", env_.id);  // now $10
  EXPECT_EQ(e.run_once(kNow + 120'000).fired, 1u);
  EXPECT_EQ(fired_, (std::vector<std::string>{"budget_80", "spend_spike", "budget_100"}));
  for (const auto& a : store_->list_alerts(org_.id)) EXPECT_TRUE(a.delivered_at) << a.kind;
}

TEST_F(AlertEngineTest, EnvironmentBudgetsAlertForTheEnvironment) {
  auto env = *store_->get_environment(env_.id);
  env.monthly_spend_cap_micros = 1'000'000;
  store_->update_environment(env, nullptr);
  usage_.add(org_.id, utc_month_floor(kNow), 1'000'000, 0, "llama", env_.id);  // $1, on the 1st
  ScriptedTransport t({ok()});
  engine(t).run_once(kNow);
  std::vector<std::string> kinds;
  for (const auto& a : store_->list_alerts(org_.id)) kinds.push_back(a.kind + "@" + a.subject);
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"budget_100@" + env_.id, "budget_80@" + env_.id}));
}

TEST_F(AlertEngineTest, UndeliveredAlertsAreSentAgainUntilTaken) {
  usage_.add(org_.id, utc_month_floor(kNow), 9'000'000, 0, "llama", env_.id);
  ScriptedTransport t({down(), down(), ok()});
  auto e = engine(t);
  auto first = e.run_once(kNow);
  EXPECT_EQ(first.fired, 1u);
  EXPECT_EQ(first.failed, 1u);
  EXPECT_EQ(t.requests.size(), 2u);
  auto alerts = store_->list_alerts(org_.id);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_FALSE(alerts[0].delivered_at);
  EXPECT_EQ(alerts[0].attempts, 1);

  auto second = e.run_once(kNow + 60'000);
  EXPECT_EQ(second.fired, 0u);
  EXPECT_EQ(second.delivered, 1u);
  EXPECT_EQ(t.requests[2].body, t.requests[0].body);  // the same alert, byte for byte
  EXPECT_EQ(store_->list_alerts(org_.id)[0].delivered_at, kNow + 60'000);
  EXPECT_EQ(e.run_once(kNow + 120'000).delivered, 0u);
  EXPECT_EQ(fired_.size(), 1u);
}

TEST_F(AlertEngineTest, ExpiringCreditsComeFromTheLedger) {
  store::CreditEntry grant;
  grant.org_id = org_.id;
  grant.kind = "promotional";
  grant.amount_micros = 5'000'000;
  grant.expires_at = kNow + 2 * kDay;
  grant.created_at = kNow - kDay;
  const auto added = store_->add_credit(grant);
  store::CreditEntry later = grant;
  later.amount_micros = 1'000'000;
  later.expires_at = kNow + 30 * kDay;
  store_->add_credit(later);
  ScriptedTransport t({ok()});
  auto e = engine(t);
  EXPECT_EQ(e.run_once(kNow).fired, 1u);
  ASSERT_EQ(t.requests.size(), 1u);
  const json body = json::parse(t.requests[0].body);
  EXPECT_EQ(body["type"], "credit_expiring");
  EXPECT_EQ(body["period"], added.entry.id);
  EXPECT_EQ(body["data"]["remaining_micros"], 5'000'000);
  EXPECT_EQ(body["data"]["expires_at"], (kNow + 2 * kDay) / 1000);
  EXPECT_EQ(e.run_once(kNow + 60'000).fired, 0u);
}

TEST_F(AlertEngineTest, FailedPaymentsOfMappedCustomersAlertOnce) {
  store_->set_stripe_customer(store::StripeCustomer{org_.id, "cus_A"}, nullptr);
  const std::string payload =
      R"({"id":"evt_1","type":"invoice.payment_failed","data":{"object":{"id":"in_1","customer":"cus_A","amount_due":2500,"currency":"usd"}}})";
  store_->record_stripe_event(
      store::StripeEvent{"evt_1", "invoice.payment_failed", "cus_A", "in_1", kNow / 1000, kNow - 1000, payload});
  store_->record_stripe_event(store::StripeEvent{"evt_2", "invoice.payment_failed", "cus_unknown", "in_2", kNow / 1000,
                                                 kNow - 1000, "{}"});
  ScriptedTransport t({ok()});
  auto e = engine(t);
  EXPECT_EQ(e.run_once(kNow).fired, 1u);
  ASSERT_EQ(t.requests.size(), 1u);
  const json body = json::parse(t.requests[0].body);
  EXPECT_EQ(body["type"], "payment_failed");
  EXPECT_EQ(body["period"], "in_1");
  EXPECT_EQ(body["data"]["amount_due"], 2500);
  EXPECT_EQ(body["data"]["currency"], "usd");
  EXPECT_EQ(body["data"]["event_id"], "evt_1");
  // Stripe retries the charge and reports the failure again under a new event id: still one alert.
  store_->record_stripe_event(
      store::StripeEvent{"evt_3", "invoice.payment_failed", "cus_A", "in_1", kNow / 1000, kNow, payload});
  EXPECT_EQ(e.run_once(kNow + 60'000).fired, 0u);
}

}  // namespace
}  // namespace cic::stripe
