// StripeClient::send_meter_event: the request Stripe gets, and what each answer becomes.
#include <gtest/gtest.h>

#include "cic/stripe/client.hpp"
#include "stripe_test_support.hpp"

namespace cic::stripe {
namespace {

using namespace std::chrono_literals;
using testing::FakeStripe;
using testing::parse_form;

const MeterEvent kEvent{"cic_tokens", "cus_A", 1500, "cic-org_1-cic_tokens-1718611200", 1'718'611'200};

class ClientTest : public ::testing::Test {
 protected:
  StripeClient client(std::string key = "sk_test_unit") {
    return StripeClient(stripe, ClientOptions{"http://127.0.0.1:1/", std::move(key), 3'000ms, RetryPolicy{3, 1ms, 5ms}},
                        [this](std::chrono::milliseconds d) {
                          pauses.push_back(d);
                          return true;
                        },
                        [] { return 0.5; });
  }
  FakeStripe stripe;
  std::vector<std::chrono::milliseconds> pauses;
};

TEST_F(ClientTest, PostsAFormWithBearerKeyAndIdempotencyKey) {
  auto result = client().send_meter_event(kEvent);
  EXPECT_EQ(result.outcome, MeterResult::Outcome::kAccepted);
  ASSERT_EQ(stripe.requests.size(), 1u);
  const HttpRequest& r = stripe.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://127.0.0.1:1/v1/billing/meter_events");
  EXPECT_EQ(r.timeout, 3'000ms);
  EXPECT_EQ(r.headers.at("Authorization"), "Bearer sk_test_unit");
  EXPECT_EQ(r.headers.at("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(r.headers.at("Idempotency-Key"), kEvent.identifier);
  auto form = parse_form(r.body);
  EXPECT_EQ(form["event_name"], "cic_tokens");
  EXPECT_EQ(form["payload[stripe_customer_id]"], "cus_A");
  EXPECT_EQ(form["payload[value]"], "1500");
  EXPECT_EQ(form["identifier"], kEvent.identifier);
  EXPECT_EQ(form["timestamp"], "1718611200");
}

TEST_F(ClientTest, ARepeatedIdentifierIsADuplicateNotAFailure) {
  EXPECT_EQ(client().send_meter_event(kEvent).outcome, MeterResult::Outcome::kAccepted);
  auto again = client().send_meter_event(kEvent);
  EXPECT_EQ(again.outcome, MeterResult::Outcome::kDuplicate);
  EXPECT_TRUE(again.sent());
  EXPECT_EQ(again.attempts, 1u);
  EXPECT_EQ(stripe.totals["cus_A"], 1500);
}

TEST_F(ClientTest, ALostAnswerIsRetriedAndEndsAsDuplicate) {
  stripe.fail_next(1, FakeStripe::Fault::kDropAfterCommit);
  auto result = client().send_meter_event(kEvent);
  EXPECT_EQ(result.outcome, MeterResult::Outcome::kDuplicate);
  EXPECT_EQ(result.attempts, 2u);
  EXPECT_EQ(stripe.totals["cus_A"], 1500);
  EXPECT_EQ(stripe.events.size(), 1u);
}

TEST_F(ClientTest, ServerErrorsAreRetriedThenReportedAsFailed) {
  stripe.fail_next(5, FakeStripe::Fault::kStatus, 500);
  auto result = client().send_meter_event(kEvent);
  EXPECT_EQ(result.outcome, MeterResult::Outcome::kFailed);
  EXPECT_EQ(result.attempts, 3u);
  EXPECT_EQ(result.status, 500);
  EXPECT_EQ(result.message, "Simulated failure");
  EXPECT_EQ(pauses.size(), 2u);
  EXPECT_TRUE(stripe.events.empty());
}

TEST_F(ClientTest, RateLimitHonoursRetryAfter) {
  stripe.fail_next(1, FakeStripe::Fault::kStatus, 429);
  auto result = client().send_meter_event(kEvent);
  EXPECT_EQ(result.outcome, MeterResult::Outcome::kAccepted);
  ASSERT_EQ(pauses.size(), 1u);
  EXPECT_EQ(pauses[0], 1'000ms);
}

TEST_F(ClientTest, AWrongKeyFailsWithoutRetrying) {
  auto result = client("sk_test_wrong").send_meter_event(kEvent);
  EXPECT_EQ(result.outcome, MeterResult::Outcome::kFailed);
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.attempts, 1u);
  EXPECT_EQ(result.message, "Invalid API Key provided");
}

TEST_F(ClientTest, ARefusedEventIsRejected) {
  stripe.rejected_customers.insert("cus_A");
  auto result = client().send_meter_event(kEvent);
  EXPECT_EQ(result.outcome, MeterResult::Outcome::kRejected);
  EXPECT_EQ(result.message, "No such customer");
}

}  // namespace
}  // namespace cic::stripe
