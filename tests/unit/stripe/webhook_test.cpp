// POST /webhooks/stripe: Stripe-Signature checked (400 otherwise), invoice.* and payment_intent.*
// kept once per event id, everything else acknowledged and dropped.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cic/stripe/signature.hpp"
#include "cic/stripe/webhook.hpp"
#include "fakes/fake_clock.hpp"
#include "stripe_test_support.hpp"

namespace cic::stripe {
namespace {

using testing::TempStore;

constexpr const char* kSecret = "whsec_unit_test_secret_0123456789";

std::string event(const std::string& id, const std::string& type, const std::string& customer = "cus_A") {
  return nlohmann::json{{"id", id},
                        {"object", "event"},
                        {"type", type},
                        {"created", 1'700'000'000},
                        {"data", {{"object", {{"id", "in_1"}, {"object", "invoice"}, {"customer", customer}}}}}}
      .dump();
}

class WebhookTest : public ::testing::Test {
 protected:
  HttpReply post(const std::string& body, std::string signature = "") {
    if (signature.empty()) signature = sign_payload(kSecret, now_s(), body);
    return receiver_.handle("POST", signature, body);
  }
  std::int64_t now_s() const { return clock_.unix_millis() / 1000; }

  TempStore store_;
  cic::testing::FakeClock clock_;
  std::vector<std::string> outcomes_;
  WebhookReceiver receiver_{*store_, clock_, WebhookOptions{kSecret, 300},
                            [this](std::string_view o) { outcomes_.push_back(std::string(o)); }};
};

TEST_F(WebhookTest, RecordsAnInvoiceEventOnce) {
  const std::string body = event("evt_1", "invoice.paid");
  auto first = post(body);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(nlohmann::json::parse(first.body)["duplicate"], false);
  auto again = post(body);  // Stripe delivers at least once
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(nlohmann::json::parse(again.body)["duplicate"], true);
  auto stored = store_->list_stripe_events({});
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].id, "evt_1");
  EXPECT_EQ(stored[0].type, "invoice.paid");
  EXPECT_EQ(stored[0].customer_id, "cus_A");
  EXPECT_EQ(stored[0].object_id, "in_1");
  EXPECT_EQ(stored[0].created, 1'700'000'000);
  EXPECT_EQ(stored[0].received_at, clock_.unix_millis());
  EXPECT_EQ(stored[0].payload_json, body);
  EXPECT_EQ(outcomes_, (std::vector<std::string>{"recorded", "duplicate"}));
}

TEST_F(WebhookTest, KeepsPaymentIntentAndFailedPaymentEvents) {
  EXPECT_EQ(post(event("evt_1", "invoice.payment_failed")).status, 200);
  EXPECT_EQ(post(event("evt_2", "payment_intent.payment_failed")).status, 200);
  EXPECT_EQ(post(event("evt_3", "payment_intent.succeeded")).status, 200);
  EXPECT_EQ(store_->list_stripe_events({}).size(), 3u);
}

TEST_F(WebhookTest, AcknowledgesOtherTypesWithoutKeepingThem) {
  auto reply = post(event("evt_9", "customer.subscription.updated"));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["recorded"], false);
  EXPECT_TRUE(store_->list_stripe_events({}).empty());
  EXPECT_EQ(outcomes_, (std::vector<std::string>{"ignored"}));
}

TEST_F(WebhookTest, RejectsBadSignaturesWith400) {
  const std::string body = event("evt_1", "invoice.paid");
  const std::string good = sign_payload(kSecret, now_s(), body);
  EXPECT_EQ(post(body, sign_payload("whsec_some_other_secret_000", now_s(), body)).status, 400);
  EXPECT_EQ(post(body + " ", good).status, 400);                        // body changed after signing
  EXPECT_EQ(post(body, sign_payload(kSecret, now_s() - 301, body)).status, 400);  // a replay, too old
  EXPECT_EQ(receiver_.handle("POST", "", body).status, 400);
  EXPECT_EQ(post(body, "t=abc,v1=00").status, 400);
  auto reply = post(body, "t=1,v1=" + std::string(64, '0'));
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["error"]["code"], "invalid_signature");
  EXPECT_TRUE(store_->list_stripe_events({}).empty());
  EXPECT_EQ(post(body, good).status, 200);
}

TEST_F(WebhookTest, ASignedBodyThatIsNotAnEventIs400) {
  EXPECT_EQ(post("not json").status, 400);
  EXPECT_EQ(post(R"({"id":"evt_1"})").status, 400);
  EXPECT_EQ(post(R"({"id":"evt_1","type":"invoice.paid"})").status, 400);
  EXPECT_EQ(post("[]").status, 400);
}

TEST_F(WebhookTest, OnlyPostAndOnlyWhenConfigured) {
  EXPECT_EQ(receiver_.handle("GET", "", "").status, 405);
  WebhookReceiver disabled(*store_, clock_, WebhookOptions{"", 300});
  EXPECT_FALSE(disabled.enabled());
  const std::string body = event("evt_1", "invoice.paid");
  EXPECT_EQ(disabled.handle("POST", sign_payload("", now_s(), body), body).status, 404);
}

}  // namespace
}  // namespace cic::stripe
