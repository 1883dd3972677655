#include "cic/limits/local_limiter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cic/limits/windows.hpp"
#include "fakes/fake_clock.hpp"

namespace cic::limits {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

std::int64_t utc_ms(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0, int ms = 0) {
  auto day = std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
  auto t = day + std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss) + milliseconds(ms);
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

AdmissionRequest request_for(std::string key = "key_a", std::int64_t tokens = 0, std::int64_t cost = 0) {
  AdmissionRequest r;
  r.key_id = std::move(key);
  r.environment_id = "env_a";
  r.org_id = "org_a";
  r.tokens = tokens;
  r.cost_micros = cost;
  return r;
}

class LocalLimiterTest : public ::testing::Test {
 protected:
  // FakeClock's default wall start, 2023-11-14 22:13:20 UTC: 40 s left in the minute.
  explicit LocalLimiterTest(milliseconds wall_start = milliseconds(1'700'000'000'000))
      : clock_(std::chrono::hours(1000), wall_start), limiter_(clock_) {}

  Admission admit(const AdmissionRequest& r) {
    Admission out;
    bool called = false;
    limiter_.admit(r, [&](Admission a) {
      out = std::move(a);
      called = true;
    });
    EXPECT_TRUE(called) << "admit must answer before it returns";
    return out;
  }

  milliseconds minute_left() const { return until_minute_end(clock_.unix_millis()); }
  milliseconds month_left() const { return until_month_end(clock_.unix_millis()); }

  cic::testing::FakeClock clock_;
  LocalLimiter limiter_;
};

TEST_F(LocalLimiterTest, AdmitsWithoutLimitsAndHandsOutDistinctReservations) {
  Admission a = admit(request_for("key_a", 100, 5));
  Admission b = admit(request_for("key_a", 100, 5));
  ASSERT_TRUE(a.admitted);
  ASSERT_TRUE(b.admitted);
  EXPECT_EQ(a.denial, Denial::kNone);
  EXPECT_FALSE(a.reservation.empty());
  EXPECT_NE(a.reservation, b.reservation);
  EXPECT_FALSE(a.headers.present);
  EXPECT_FALSE(a.degraded);
  EXPECT_EQ(limiter_.open_reservations(), 2u);
  limiter_.settle(a.reservation, {100, 5});
  limiter_.settle(b.reservation, {100, 5});
  EXPECT_EQ(limiter_.open_reservations(), 0u);
}

TEST_F(LocalLimiterTest, RpmAdmitsExactlyTheLimitPerWindow) {
  AdmissionRequest r = request_for();
  r.key.rpm = 3;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(admit(r).admitted);
  Admission denied = admit(r);
  EXPECT_FALSE(denied.admitted);
  EXPECT_EQ(denied.denial, Denial::kRate);
  EXPECT_EQ(denied.scope, "key");
  EXPECT_EQ(denied.limit_name, "rpm");
  EXPECT_EQ(denied.limit_value, 3);
  EXPECT_EQ(denied.retry_after, 40'000ms);
  EXPECT_TRUE(denied.reservation.empty());

  clock_.advance(39'999ms);  // still the same window
  EXPECT_FALSE(admit(r).admitted);
  clock_.advance(1ms);  // the next window
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(admit(r).admitted);
  EXPECT_FALSE(admit(r).admitted);
}

TEST_F(LocalLimiterTest, TpmHoldsTheWorstCaseUntilSettledLower) {
  AdmissionRequest r = request_for("key_a", 600);
  r.key.tpm = 1000;
  Admission first = admit(r);
  ASSERT_TRUE(first.admitted);
  EXPECT_FALSE(admit(r).admitted) << "600 held + 600 asked > 1000";

  limiter_.settle(first.reservation, {200, 0});  // 400 of the 600 held come back
  r.tokens = 801;
  Admission over = admit(r);
  EXPECT_FALSE(over.admitted);
  EXPECT_EQ(over.limit_name, "tpm");
  r.tokens = 800;
  Admission refill = admit(r);
  EXPECT_TRUE(refill.admitted) << "200 used + 800 fits 1000 exactly";
  r.tokens = 1;
  EXPECT_FALSE(admit(r).admitted);
  limiter_.settle(refill.reservation, {800, 0});
  EXPECT_FALSE(admit(r).admitted) << "settling at the reserved figure changes nothing";
}

TEST_F(LocalLimiterTest, SettlingHigherCountsTheRealUsage) {
  AdmissionRequest r = request_for("key_a", 300);
  r.key.tpm = 1000;
  Admission a = admit(r);
  ASSERT_TRUE(a.admitted);
  limiter_.settle(a.reservation, {700, 0});  // the response ran longer than estimated
  r.tokens = 301;
  EXPECT_FALSE(admit(r).admitted);
  r.tokens = 300;
  EXPECT_TRUE(admit(r).admitted);
}

TEST_F(LocalLimiterTest, RequestLargerThanTheWholeTpmIsDeniedUntilTheWindowEnds) {
  AdmissionRequest r = request_for("key_a", 1001);
  r.key.tpm = 1000;
  Admission denied = admit(r);
  EXPECT_FALSE(denied.admitted);
  EXPECT_EQ(denied.denial, Denial::kRate);
  EXPECT_EQ(denied.limit_name, "tpm");
  EXPECT_EQ(denied.retry_after, minute_left());
}

TEST_F(LocalLimiterTest, ConcurrencyCountsRequestsInFlight) {
  AdmissionRequest r = request_for();
  r.key.concurrency = 2;
  Admission a = admit(r);
  Admission b = admit(r);
  ASSERT_TRUE(a.admitted);
  ASSERT_TRUE(b.admitted);
  Admission c = admit(r);
  EXPECT_FALSE(c.admitted);
  EXPECT_EQ(c.denial, Denial::kConcurrency);
  EXPECT_EQ(c.scope, "key");
  EXPECT_EQ(c.limit_name, "concurrency");
  EXPECT_EQ(c.limit_value, 2);
  EXPECT_EQ(c.retry_after, 1'000ms);

  clock_.advance(5min);  // windows do not release in-flight requests
  EXPECT_FALSE(admit(r).admitted);
  limiter_.settle(a.reservation, {});
  Admission d = admit(r);
  EXPECT_TRUE(d.admitted);
  EXPECT_FALSE(admit(r).admitted);

  AdmissionRequest other = request_for("key_b");
  other.key.concurrency = 2;
  EXPECT_TRUE(admit(other).admitted) << "concurrency is per key";
}

TEST_F(LocalLimiterTest, EnvironmentConcurrencyIsSharedByItsKeys) {
  AdmissionRequest a = request_for("key_a");
  a.environment.concurrency = 3;
  AdmissionRequest b = a;
  b.key_id = "key_b";

  Admission a1 = admit(a);
  Admission b1 = admit(b);
  Admission a2 = admit(a);
  ASSERT_TRUE(a1.admitted && b1.admitted && a2.admitted);
  for (const AdmissionRequest* r : {&a, &b}) {
    Admission full = admit(*r);
    ASSERT_FALSE(full.admitted) << r->key_id << ": 3 in flight across key_a and key_b";
    EXPECT_EQ(full.denial, Denial::kConcurrency);
    EXPECT_EQ(full.scope, "environment");
    EXPECT_EQ(full.limit_name, "concurrency");
    EXPECT_EQ(full.limit_value, 3);
    EXPECT_EQ(full.retry_after, 1'000ms);
    EXPECT_TRUE(full.reservation.empty());
    EXPECT_FALSE(full.headers.present);
  }
  AdmissionRequest other_env = a;
  other_env.key_id = "key_c";
  other_env.environment_id = "env_b";
  Admission elsewhere = admit(other_env);
  EXPECT_TRUE(elsewhere.admitted) << "concurrency is per environment";

  clock_.advance(5min);  // windows do not release in-flight requests
  EXPECT_EQ(admit(b).denial, Denial::kConcurrency);
  limiter_.settle(a1.reservation, {});
  limiter_.settle(a1.reservation, {});  // repeated: frees nothing more
  Admission b2 = admit(b);
  EXPECT_TRUE(b2.admitted) << "key_a's settled slot is free for key_b";
  EXPECT_EQ(admit(a).scope, "environment") << "only one slot was released";

  // The key's own concurrency is checked first, then the environment's.
  AdmissionRequest both = b;
  both.key.concurrency = 2;
  Admission key_first = admit(both);
  EXPECT_EQ(key_first.scope, "key");
  EXPECT_EQ(key_first.limit_name, "concurrency");
  both.key.concurrency = 3;
  Admission then_env = admit(both);
  EXPECT_EQ(then_env.scope, "environment");
  EXPECT_EQ(then_env.limit_name, "concurrency");

  for (const Admission* h : {&b1, &a2, &b2}) limiter_.settle(h->reservation, {});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(admit(i % 2 == 0 ? a : b).admitted) << i;
  EXPECT_FALSE(admit(a).admitted);
}

TEST_F(LocalLimiterTest, SettleTwiceOrUnknownIsANoOp) {
  AdmissionRequest r = request_for("key_a", 100);
  r.key.tpm = 100;
  r.key.concurrency = 1;
  Admission a = admit(r);
  ASSERT_TRUE(a.admitted);
  limiter_.settle(a.reservation, {10, 0});
  limiter_.settle(a.reservation, {0, 0});  // would free 100 more tokens and a second slot
  for (const char* junk : {"", "l", "x12", "l12x", "l99999999", "l-1", "l18446744073709551616"}) {
    limiter_.settle(junk, {0, 0});
  }

  r.tokens = 91;
  EXPECT_FALSE(admit(r).admitted) << "10 tokens remain counted";
  r.tokens = 90;
  Admission b = admit(r);
  EXPECT_TRUE(b.admitted);
  r.tokens = 0;
  Admission c = admit(r);
  EXPECT_FALSE(c.admitted) << "only one slot was ever released";
  EXPECT_EQ(c.denial, Denial::kConcurrency);
}

TEST_F(LocalLimiterTest, DenialOrderAndFields) {
  // Three requests in flight, 30 tokens and 30 micro-dollars counted in every scope.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(admit(request_for("key_a", 10, 10)).admitted);

  AdmissionRequest r = request_for("key_a", 1, 1);
  r.key = {.rpm = 3, .tpm = 30, .concurrency = 3};
  r.environment = {.rpm = 2, .tpm = 29, .concurrency = 3, .monthly_tokens = 28, .monthly_spend_micros = 27};
  r.org = {.monthly_tokens = 30, .monthly_spend_micros = 26};

  struct Expected {
    Denial denial;
    const char* scope;
    const char* name;
    std::int64_t value;
    milliseconds retry;
  };
  const std::vector<Expected> order{
      {Denial::kConcurrency, "key", "concurrency", 3, 1'000ms},
      {Denial::kConcurrency, "environment", "concurrency", 3, 1'000ms},
      {Denial::kRate, "key", "rpm", 3, minute_left()},
      {Denial::kRate, "environment", "rpm", 2, minute_left()},
      {Denial::kRate, "key", "tpm", 30, minute_left()},
      {Denial::kRate, "environment", "tpm", 29, minute_left()},
      {Denial::kQuota, "environment", "monthly_tokens", 28, month_left()},
      {Denial::kQuota, "org", "monthly_tokens", 30, month_left()},
      {Denial::kSpend, "environment", "monthly_spend", 27, month_left()},
      {Denial::kSpend, "org", "monthly_spend", 26, month_left()},
  };
  for (const Expected& e : order) {
    Admission a = admit(r);
    ASSERT_FALSE(a.admitted) << e.scope << " " << e.name;
    EXPECT_EQ(a.denial, e.denial) << e.scope << " " << e.name;
    EXPECT_EQ(a.scope, e.scope);
    EXPECT_EQ(a.limit_name, e.name);
    EXPECT_EQ(a.limit_value, e.value);
    EXPECT_EQ(a.retry_after, e.retry) << e.scope << " " << e.name;
    EXPECT_TRUE(a.reservation.empty());
    // Lift the limit that refused, so the next one in line answers.
    const std::string which = std::string(e.scope) + "." + e.name;
    if (which == "key.concurrency") r.key.concurrency = 0;
    if (which == "environment.concurrency") r.environment.concurrency = 0;
    if (which == "key.rpm") r.key.rpm = 0;
    if (which == "environment.rpm") r.environment.rpm = 0;
    if (which == "key.tpm") r.key.tpm = 0;
    if (which == "environment.tpm") r.environment.tpm = 0;
    if (which == "environment.monthly_tokens") r.environment.monthly_tokens = 0;
    if (which == "org.monthly_tokens") r.org.monthly_tokens = 0;
    if (which == "environment.monthly_spend") r.environment.monthly_spend_micros = 0;
    if (which == "org.monthly_spend") r.org.monthly_spend_micros = 0;
  }
  EXPECT_TRUE(admit(r).admitted);
}

TEST_F(LocalLimiterTest, ADenialChangesNothingInAnyScope) {
  AdmissionRequest r = request_for("key_a", 10, 10);
  r.key = {.rpm = 2, .tpm = 20, .concurrency = 2};
  r.environment = {.rpm = 2, .tpm = 20, .monthly_tokens = 20, .monthly_spend_micros = 20};
  ASSERT_TRUE(admit(r).admitted);
  r.org.monthly_spend_micros = 15;  // the last check refuses, after every other scope fitted
  Admission denied = admit(r);
  ASSERT_FALSE(denied.admitted);
  EXPECT_EQ(denied.scope, "org");
  r.org.monthly_spend_micros = 0;
  EXPECT_TRUE(admit(r).admitted) << "the refused request took no request, token, slot or spend";
  EXPECT_FALSE(admit(r).admitted);
}

TEST_F(LocalLimiterTest, UnpricedModelIsRefusedOnlyUnderASpendCap) {
  AdmissionRequest r = request_for("key_a", 10, 0);
  r.priced = false;
  EXPECT_TRUE(admit(r).admitted) << "no spend cap anywhere";
  r.environment.monthly_tokens = 1000;
  EXPECT_TRUE(admit(r).admitted) << "a token quota does not need a price";

  r.org.monthly_spend_micros = 5'000'000;
  Admission by_org = admit(r);
  EXPECT_FALSE(by_org.admitted);
  EXPECT_EQ(by_org.denial, Denial::kUnpriced);
  EXPECT_EQ(by_org.scope, "org");
  EXPECT_EQ(by_org.limit_name, "monthly_spend");
  EXPECT_EQ(by_org.limit_value, 5'000'000);
  EXPECT_EQ(by_org.retry_after, 0ms);

  r.environment.monthly_spend_micros = 1'000'000;
  r.key.concurrency = 2;  // the two admitted above are in flight: full, yet waiting would not help
                          // an unpriced model, so that is named first
  Admission by_env = admit(r);
  EXPECT_EQ(by_env.denial, Denial::kUnpriced);
  EXPECT_EQ(by_env.scope, "environment");
  EXPECT_EQ(by_env.limit_value, 1'000'000);

  r.priced = true;
  EXPECT_EQ(admit(r).denial, Denial::kConcurrency);
}

TEST_F(LocalLimiterTest, HeadersShowTheMostConstrainedScopes) {
  AdmissionRequest r = request_for("key_a", 30);
  r.key.rpm = 10;
  r.environment.rpm = 5;
  r.key.tpm = 100;
  r.environment.tpm = 1000;
  Admission a = admit(r);
  ASSERT_TRUE(a.admitted);
  EXPECT_TRUE(a.headers.present);
  EXPECT_EQ(a.headers.limit_requests, 5);  // environment: 4 left, the key 9
  EXPECT_EQ(a.headers.remaining_requests, 4);
  EXPECT_EQ(a.headers.limit_tokens, 100);  // key: 70 left, the environment 970
  EXPECT_EQ(a.headers.remaining_tokens, 70);
  EXPECT_EQ(a.headers.reset_requests, 40'000ms);
  EXPECT_EQ(a.headers.reset_tokens, 40'000ms);

  clock_.advance(10'500ms);
  r.tokens = 71;
  Admission denied = admit(r);
  ASSERT_FALSE(denied.admitted);
  EXPECT_TRUE(denied.headers.present) << "denials carry headers too";
  EXPECT_EQ(denied.headers.remaining_requests, 4) << "nothing was taken";
  EXPECT_EQ(denied.headers.remaining_tokens, 70);
  EXPECT_EQ(denied.headers.reset_requests, 29'500ms);

  r.tokens = 70;
  Admission last = admit(r);
  ASSERT_TRUE(last.admitted);
  EXPECT_EQ(last.headers.remaining_requests, 3);
  EXPECT_EQ(last.headers.remaining_tokens, 0);
}

TEST_F(LocalLimiterTest, HeadersOfOneKindOnlyOrNone) {
  AdmissionRequest r = request_for("key_a", 30);
  r.key.concurrency = 5;
  r.environment.monthly_tokens = 1000;
  Admission none = admit(r);
  EXPECT_FALSE(none.headers.present) << "no rpm or tpm applies";

  r.environment.rpm = 7;
  Admission rpm_only = admit(r);
  EXPECT_TRUE(rpm_only.headers.present);
  EXPECT_EQ(rpm_only.headers.limit_requests, 7);
  EXPECT_EQ(rpm_only.headers.remaining_requests, 5) << "both requests counted in the environment";
  EXPECT_EQ(rpm_only.headers.limit_tokens, 0);
  EXPECT_EQ(rpm_only.headers.remaining_tokens, 0);
  EXPECT_EQ(rpm_only.headers.reset_tokens, 0ms);

  r.key.tpm = 50;  // 60 already counted for the key: remaining clamps at 0 when it is denied
  Admission over = admit(r);
  EXPECT_FALSE(over.admitted);
  EXPECT_EQ(over.headers.limit_tokens, 50);
  EXPECT_EQ(over.headers.remaining_tokens, 0);
}

TEST_F(LocalLimiterTest, ReservationFromAnEndedWindowDoesNotTouchTheNewOne) {
  AdmissionRequest r = request_for("key_a", 1000);
  r.key.tpm = 1000;
  Admission a = admit(r);
  ASSERT_TRUE(a.admitted);
  clock_.advance(1min);
  Admission b = admit(r);
  ASSERT_TRUE(b.admitted);
  limiter_.settle(a.reservation, {0, 0});  // would free b's tokens if applied to this window
  r.tokens = 1;
  EXPECT_FALSE(admit(r).admitted);
}

TEST_F(LocalLimiterTest, OrgMonthlyTokensAreSharedByTheOrgsEnvironments) {
  AdmissionRequest a = request_for("key_a", 600);
  a.org.monthly_tokens = 1000;
  AdmissionRequest b = a;
  b.key_id = "key_b";
  b.environment_id = "env_b";
  b.tokens = 400;

  Admission first = admit(a);
  ASSERT_TRUE(first.admitted);
  Admission second = admit(b);
  ASSERT_TRUE(second.admitted) << "600 + 400 fits the org's 1000 exactly";
  b.tokens = 1;
  Admission denied = admit(b);
  ASSERT_FALSE(denied.admitted);
  EXPECT_EQ(denied.denial, Denial::kQuota);
  EXPECT_EQ(denied.scope, "org");
  EXPECT_EQ(denied.limit_name, "monthly_tokens");
  EXPECT_EQ(denied.limit_value, 1000);
  EXPECT_EQ(denied.retry_after, month_left());
  EXPECT_TRUE(denied.reservation.empty());
  EXPECT_FALSE(denied.headers.present) << "no rate limit applies";

  AdmissionRequest other_org = b;
  other_org.org_id = "org_b";
  other_org.tokens = 1000;
  EXPECT_TRUE(admit(other_org).admitted) << "the quota is per org";

  // The environment's own quota is checked first, then the org's.
  a.tokens = 1;
  a.environment.monthly_tokens = 600;
  Admission env_first = admit(a);
  EXPECT_EQ(env_first.scope, "environment");
  EXPECT_EQ(env_first.limit_name, "monthly_tokens");
  a.environment.monthly_tokens = 601;
  Admission then_org = admit(a);
  EXPECT_EQ(then_org.scope, "org");
  EXPECT_EQ(then_org.limit_name, "monthly_tokens");
}

TEST_F(LocalLimiterTest, OrgMonthlyTokensHoldTheWorstCaseAndSettleToActuals) {
  AdmissionRequest r = request_for("key_a", 600);
  r.org.monthly_tokens = 1000;
  Admission held = admit(r);
  ASSERT_TRUE(held.admitted);
  r.tokens = 401;
  EXPECT_FALSE(admit(r).admitted) << "600 held + 401 asked > 1000";

  limiter_.settle(held.reservation, {200, 0});  // 400 of the 600 held come back
  r.tokens = 801;
  Admission over = admit(r);
  EXPECT_FALSE(over.admitted);
  EXPECT_EQ(over.scope, "org");
  r.tokens = 800;
  Admission refill = admit(r);
  ASSERT_TRUE(refill.admitted) << "200 used + 800 fits 1000 exactly";
  limiter_.settle(refill.reservation, {900, 0});  // ran 100 over its estimate: counted
  r.tokens = 0;
  Admission overrun = admit(r);
  EXPECT_FALSE(overrun.admitted) << "1100 used of 1000: not even 0 more fits";
  EXPECT_EQ(overrun.scope, "org");

  // A settlement far below the hold leaves the counter at 0, never below: a negative counter
  // would let more than the quota in afterwards.
  AdmissionRequest z = request_for("key_z", 50);
  z.org_id = "org_z";
  z.org.monthly_tokens = 50;
  Admission held_z = admit(z);
  ASSERT_TRUE(held_z.admitted);
  limiter_.settle(held_z.reservation, {-500, 0});
  z.tokens = 51;
  EXPECT_FALSE(admit(z).admitted);
  z.tokens = 50;
  EXPECT_TRUE(admit(z).admitted);
}

TEST_F(LocalLimiterTest, OrgTokenUsageSurvivesSweepsUntilTheMonthEnds) {
  AdmissionRequest r = request_for("key_a", 1000, 0);  // tokens only: the org has no spend
  r.org.monthly_tokens = 1000;
  Admission a = admit(r);
  ASSERT_TRUE(a.admitted);
  limiter_.settle(a.reservation, {1000, 0});

  auto churn = [&] {  // admissions of an unrelated scope walk every shard and sweep it
    for (int i = 0; i < 200; ++i) {
      AdmissionRequest other = request_for("key_other");
      other.environment_id = "env_other";
      other.org_id = "org_other";
      limiter_.settle(admit(other).reservation, {});
    }
  };
  clock_.advance(2min);
  churn();
  AdmissionRequest sibling = r;  // an environment new to the limiter, of the same org
  sibling.key_id = "key_b";
  sibling.environment_id = "env_b";
  sibling.tokens = 1;
  Admission denied = admit(sibling);
  EXPECT_FALSE(denied.admitted) << "the org's token usage was kept through the sweep";
  EXPECT_EQ(denied.scope, "org");

  clock_.advance(std::chrono::hours(24 * 31));  // a later month
  churn();
  churn();
  EXPECT_EQ(limiter_.tracked_scopes(), 3u) << "key_other, env_other, org_other: org_a is forgotten";
  sibling.tokens = 1000;
  EXPECT_TRUE(admit(sibling).admitted);
}

class LocalLimiterMonthTest : public LocalLimiterTest {
 protected:
  LocalLimiterMonthTest() : LocalLimiterTest(milliseconds(utc_ms(2024, 1, 31, 23, 59, 59, 999))) {}
};

TEST_F(LocalLimiterMonthTest, QuotaResetsAtTheMonthBoundary) {
  AdmissionRequest r = request_for("key_a", 1000);
  r.environment.monthly_tokens = 1000;
  Admission january = admit(r);
  ASSERT_TRUE(january.admitted);
  r.tokens = 1;
  Admission denied = admit(r);
  EXPECT_FALSE(denied.admitted);
  EXPECT_EQ(denied.denial, Denial::kQuota);
  EXPECT_EQ(denied.scope, "environment");
  EXPECT_EQ(denied.limit_name, "monthly_tokens");
  EXPECT_EQ(denied.retry_after, 1ms);

  clock_.advance(1ms);  // 2024-02-01 00:00:00.000
  r.tokens = 1000;
  Admission february = admit(r);
  EXPECT_TRUE(february.admitted);
  limiter_.settle(january.reservation, {0, 0});  // January's correction stays in January
  r.tokens = 1;
  Admission full = admit(r);
  EXPECT_FALSE(full.admitted);
  EXPECT_EQ(full.retry_after, milliseconds(29LL * 86'400'000)) << "leap February";
}

TEST_F(LocalLimiterMonthTest, SpendCapsResetAtTheMonthBoundary) {
  AdmissionRequest r = request_for("key_a", 10, 700);
  r.environment.monthly_spend_micros = 1000;
  r.org.monthly_spend_micros = 1300;
  ASSERT_TRUE(admit(r).admitted);
  Admission env_full = admit(r);
  EXPECT_EQ(env_full.denial, Denial::kSpend);
  EXPECT_EQ(env_full.scope, "environment");
  EXPECT_EQ(env_full.limit_value, 1000);
  EXPECT_EQ(env_full.retry_after, 1ms);

  AdmissionRequest sibling = r;  // another environment of the same org, with room of its own
  sibling.environment_id = "env_b";
  Admission org_full = admit(sibling);
  EXPECT_EQ(org_full.denial, Denial::kSpend);
  EXPECT_EQ(org_full.scope, "org");
  EXPECT_EQ(org_full.limit_name, "monthly_spend");
  EXPECT_EQ(org_full.limit_value, 1300);
  EXPECT_EQ(org_full.retry_after, 1ms);

  clock_.advance(1ms);  // February: both caps start again
  EXPECT_TRUE(admit(sibling).admitted);
  Admission again = admit(r);
  EXPECT_EQ(again.denial, Denial::kSpend);
  EXPECT_EQ(again.scope, "org") << "the org's February already holds 700 of 1300";
}

TEST_F(LocalLimiterMonthTest, OrgQuotaResetsAtTheMonthBoundary) {
  AdmissionRequest r = request_for("key_a", 1000);
  r.org.monthly_tokens = 1000;
  Admission january = admit(r);
  ASSERT_TRUE(january.admitted);
  AdmissionRequest sibling = r;
  sibling.environment_id = "env_b";
  sibling.tokens = 1;
  Admission denied = admit(sibling);
  EXPECT_FALSE(denied.admitted);
  EXPECT_EQ(denied.denial, Denial::kQuota);
  EXPECT_EQ(denied.scope, "org");
  EXPECT_EQ(denied.limit_name, "monthly_tokens");
  EXPECT_EQ(denied.limit_value, 1000);
  EXPECT_EQ(denied.retry_after, 1ms);

  clock_.advance(1ms);  // 2024-02-01 00:00:00.000
  sibling.tokens = 1000;
  Admission february = admit(sibling);
  EXPECT_TRUE(february.admitted);
  limiter_.settle(january.reservation, {0, 0});  // January's correction stays in January
  r.tokens = 1;
  Admission full = admit(r);
  EXPECT_FALSE(full.admitted);
  EXPECT_EQ(full.scope, "org");
  EXPECT_EQ(full.retry_after, milliseconds(29LL * 86'400'000)) << "leap February";
}

TEST_F(LocalLimiterTest, MemoryStaysBoundedOverManyWindowsAndKeys) {
  constexpr int kKeysPerWindow = 5'000;
  std::size_t peak = 0;
  for (int window = 0; window < 30; ++window) {
    for (int k = 0; k < kKeysPerWindow; ++k) {
      AdmissionRequest r = request_for("key_" + std::to_string(window) + "_" + std::to_string(k), 10, 1);
      r.environment_id = "env_" + std::to_string(k % 20);
      r.org_id = "org_" + std::to_string(k % 5);
      r.key.rpm = 10;
      Admission a = admit(r);
      ASSERT_TRUE(a.admitted);
      limiter_.settle(a.reservation, {5, 1});
    }
    peak = std::max(peak, limiter_.tracked_scopes());
    clock_.advance(1min);
  }
  // At most the keys of the window in progress and of the one before it, plus environments and
  // orgs with usage this month.
  EXPECT_LE(peak, 2u * kKeysPerWindow + 25);
  EXPECT_EQ(limiter_.open_reservations(), 0u);

  // The next admissions walk every shard; afterwards only this month's environments and orgs
  // (which must remember their quota usage) and the new key remain.
  clock_.advance(1min);
  for (int i = 0; i < 200; ++i) {
    Admission a = admit(request_for("key_last"));
    limiter_.settle(a.reservation, {});
  }
  EXPECT_LE(limiter_.tracked_scopes(), 20u + 5u + 1u + 2u);

  // A new month forgets the old month's environments and orgs too.
  clock_.advance(std::chrono::hours(24 * 31));
  for (int i = 0; i < 200; ++i) {
    Admission a = admit(request_for("key_last"));
    limiter_.settle(a.reservation, {});
  }
  EXPECT_EQ(limiter_.tracked_scopes(), 3u) << "key_last, env_a, org_a";
}

TEST_F(LocalLimiterTest, UnsettledReservationsAreReclaimedAfterAnHour) {
  AdmissionRequest r = request_for("key_lost", 100);
  r.key.concurrency = 1;
  Admission lost = admit(r);
  ASSERT_TRUE(lost.admitted);

  auto churn = [&] {  // admissions of other keys visit every reservation shard
    for (int i = 0; i < 128; ++i) limiter_.settle(admit(request_for("key_other")).reservation, {});
  };
  clock_.advance(59min);
  churn();
  EXPECT_EQ(admit(r).denial, Denial::kConcurrency) << "within the hour the slot is still held";
  clock_.advance(2min);
  churn();
  EXPECT_EQ(limiter_.open_reservations(), 0u);
  Admission again = admit(r);
  EXPECT_TRUE(again.admitted) << "the stale slot was reclaimed";
  limiter_.settle(lost.reservation, {0, 0});  // too late: a no-op, no double release
  EXPECT_EQ(admit(r).denial, Denial::kConcurrency);
}

TEST_F(LocalLimiterTest, UnsettledReservationsGiveBackTheirEnvironmentSlotAfterAnHour) {
  AdmissionRequest r = request_for("key_lost");
  r.environment_id = "env_lost";
  r.environment.concurrency = 1;
  Admission lost = admit(r);
  ASSERT_TRUE(lost.admitted);
  AdmissionRequest sibling = r;
  sibling.key_id = "key_sibling";

  auto churn = [&] {  // admissions of other keys visit every reservation shard
    for (int i = 0; i < 128; ++i) limiter_.settle(admit(request_for("key_other")).reservation, {});
  };
  clock_.advance(59min);
  churn();
  EXPECT_EQ(admit(sibling).scope, "environment") << "within the hour the slot is still held";
  clock_.advance(2min);
  churn();
  Admission again = admit(sibling);
  EXPECT_TRUE(again.admitted) << "the stale slot was reclaimed";
  limiter_.settle(lost.reservation, {0, 0});  // too late: a no-op, no double release
  EXPECT_EQ(admit(r).scope, "environment");
}

}  // namespace
}  // namespace cic::limits
