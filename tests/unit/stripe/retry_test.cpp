// Backoff (full jitter, doubling, cap, Retry-After) and what each of Stripe's answers means for a
// retry; send_with_retries against scripted answers.
#include <gtest/gtest.h>

#include "cic/stripe/retry.hpp"
#include "stripe_test_support.hpp"

namespace cic::stripe {
namespace {

using namespace std::chrono_literals;
using testing::ScriptedTransport;

HttpResult answer(int status, std::string body = "{}", std::map<std::string, std::string> headers = {}) {
  return HttpResult{status, std::move(headers), std::move(body), status == 0 ? "connect: refused" : ""};
}

TEST(BackoffTest, FullJitterDoublesUpToTheCap) {
  const RetryPolicy p{6, 500ms, 3'000ms};
  EXPECT_EQ(backoff_delay(p, 1, 0.0), 0ms);
  EXPECT_EQ(backoff_delay(p, 1, 0.5), 250ms);
  EXPECT_EQ(backoff_delay(p, 1, 0.999), 499ms);
  EXPECT_EQ(backoff_delay(p, 2, 0.5), 500ms);
  EXPECT_EQ(backoff_delay(p, 3, 0.5), 1'000ms);
  EXPECT_EQ(backoff_delay(p, 4, 0.5), 1'500ms);  // 4 s capped at 3 s
  EXPECT_EQ(backoff_delay(p, 40, 1.0), 3'000ms);  // no overflow for huge attempts
}

TEST(BackoffTest, RetryAfterIsAFloorCappedAtAMinute) {
  const RetryPolicy p{4, 500ms, 3'000ms};
  EXPECT_EQ(backoff_delay(p, 1, 0.1, 2'000ms), 2'000ms);
  EXPECT_EQ(backoff_delay(p, 3, 0.9, 100ms), 1'800ms);
  EXPECT_EQ(backoff_delay(p, 1, 0.1, 600'000ms), 60'000ms);
}

TEST(RetryAfterTest, ReadsDeltaSecondsOnly) {
  EXPECT_EQ(retry_after(answer(429, "{}", {{"retry-after", "3"}})), 3'000ms);
  EXPECT_EQ(retry_after(answer(429, "{}", {{"retry-after", "7200"}})), 60'000ms);
  EXPECT_FALSE(retry_after(answer(429, "{}", {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}})));
  EXPECT_FALSE(retry_after(answer(429)));
  EXPECT_FALSE(retry_after(answer(429, "{}", {{"retry-after", "-1"}})));
}

struct ClassifyCase {
  const char* name;
  HttpResult result;
  Verdict expected;
};

class ClassifyStripeTest : public ::testing::TestWithParam<ClassifyCase> {};

TEST_P(ClassifyStripeTest, Verdict) {
  EXPECT_EQ(classify_stripe(GetParam().result), GetParam().expected) << GetParam().name;
}

const std::string kDuplicateBody =
    R"({"error":{"type":"invalid_request_error","message":"An event already exists with identifier cic-org_1-m-1."}})";

INSTANTIATE_TEST_SUITE_P(
    Table, ClassifyStripeTest,
    ::testing::Values(
        ClassifyCase{"ok", answer(200), Verdict::kSuccess},
        ClassifyCase{"no answer", answer(0), Verdict::kRetry},
        ClassifyCase{"rate limited", answer(429), Verdict::kRetry},
        ClassifyCase{"server error", answer(500), Verdict::kRetry},
        ClassifyCase{"bad gateway", answer(502), Verdict::kRetry},
        ClassifyCase{"idempotent request in flight", answer(409), Verdict::kRetry},
        ClassifyCase{"duplicate identifier", answer(400, kDuplicateBody, {{"stripe-should-retry", "false"}}),
                     Verdict::kDuplicate},
        ClassifyCase{"generic already-exists code",
                     answer(400, R"({"error":{"type":"invalid_request_error","code":"resource_already_exists"}})"),
                     Verdict::kDuplicate},
        ClassifyCase{"missing parameter",
                     answer(400, R"({"error":{"type":"invalid_request_error","code":"parameter_missing"}})"),
                     Verdict::kReject},
        ClassifyCase{"not json", answer(400, "<html>"), Verdict::kReject},
        ClassifyCase{"bad key", answer(401), Verdict::kAuth},
        ClassifyCase{"forbidden", answer(403), Verdict::kAuth},
        ClassifyCase{"not found", answer(404), Verdict::kReject},
        ClassifyCase{"stripe says retry a 400", answer(400, "{}", {{"stripe-should-retry", "true"}}), Verdict::kRetry},
        ClassifyCase{"stripe says do not retry a 500", answer(500, "{}", {{"stripe-should-retry", "false"}}),
                     Verdict::kReject}),
    [](const auto& info) {
      std::string name;
      for (char c : std::string(info.param.name)) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
      return name;
    });

TEST(ClassifyWebhookTest, RetriesOnlyWhatMaySucceedLater) {
  EXPECT_EQ(classify_webhook(answer(204)), Verdict::kSuccess);
  EXPECT_EQ(classify_webhook(answer(0)), Verdict::kRetry);
  EXPECT_EQ(classify_webhook(answer(408)), Verdict::kRetry);
  EXPECT_EQ(classify_webhook(answer(503)), Verdict::kRetry);
  EXPECT_EQ(classify_webhook(answer(400)), Verdict::kReject);
  EXPECT_EQ(classify_webhook(answer(401)), Verdict::kReject);
}

struct Recorder {
  std::vector<std::chrono::milliseconds> pauses;
  bool keep_going = true;
  Sleeper sleeper() {
    return [this](std::chrono::milliseconds d) {
      pauses.push_back(d);
      return keep_going;
    };
  }
};

Random fixed(double u) {
  return [u] { return u; };
}

TEST(SendWithRetriesTest, RetriesUntilSuccessWithGrowingPauses) {
  ScriptedTransport t({answer(500), answer(0), answer(429, "{}", {{"retry-after", "2"}}), answer(200)});
  Recorder r;
  const auto d = send_with_retries(t, HttpRequest{}, RetryPolicy{5, 100ms, 10'000ms}, classify_stripe, r.sleeper(),
                                   fixed(1.0));
  EXPECT_EQ(d.verdict, Verdict::kSuccess);
  EXPECT_EQ(d.attempts, 4u);
  EXPECT_EQ(t.requests.size(), 4u);
  EXPECT_EQ(r.pauses, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 2'000ms}));
}

TEST(SendWithRetriesTest, GivesUpAfterMaxAttempts) {
  ScriptedTransport t({answer(503)});
  Recorder r;
  const auto d = send_with_retries(t, HttpRequest{}, RetryPolicy{3, 10ms, 100ms}, classify_stripe, r.sleeper(),
                                   fixed(0.5));
  EXPECT_EQ(d.verdict, Verdict::kRetry);
  EXPECT_EQ(d.attempts, 3u);
  EXPECT_EQ(d.result.status, 503);
  EXPECT_EQ(r.pauses.size(), 2u);  // no pause after the last attempt
}

TEST(SendWithRetriesTest, DoesNotRetryFinalAnswers) {
  for (int status : {400, 401, 404}) {
    ScriptedTransport t({answer(status), answer(200)});
    Recorder r;
    const auto d = send_with_retries(t, HttpRequest{}, RetryPolicy{4, 10ms, 100ms}, classify_stripe, r.sleeper(),
                                     fixed(0.5));
    EXPECT_EQ(d.attempts, 1u) << status;
    EXPECT_TRUE(r.pauses.empty()) << status;
  }
}

TEST(SendWithRetriesTest, StopsWhenTheSleeperSaysStop) {
  ScriptedTransport t({answer(500)});
  Recorder r;
  r.keep_going = false;
  const auto d = send_with_retries(t, HttpRequest{}, RetryPolicy{10, 10ms, 100ms}, classify_stripe, r.sleeper(),
                                   fixed(0.5));
  EXPECT_EQ(d.attempts, 1u);
  EXPECT_EQ(d.verdict, Verdict::kRetry);
}

}  // namespace
}  // namespace cic::stripe
