// RedisLimiter against a real Redis: the shared server for exactness across replicas and parity
// with LocalLimiter; private servers (redis_limiter_outage_test.cpp) for freezes and kills.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <thread>

#include "cic/cache/redis_client.hpp"
#include "cic/limits/local_limiter.hpp"
#include "cic/limits/redis_limiter.hpp"
#include "cic/limits/windows.hpp"
#include "fakes/fake_clock.hpp"
#include "unit/cache/redis_test_server.hpp"
#include "unit/limits/redis_limiter_test_util.hpp"

namespace cic::limits {
namespace {

using namespace std::chrono_literals;
using cic::testing::call;

class RedisLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cic::testing::shared_redis_url()) GTEST_SKIP() << "CIC_TEST_REDIS_URL is not set (make test starts Redis)";
    client_ = std::make_unique<cache::RedisClient>(cache::RedisClientOptions{*cic::testing::shared_redis_url()});
    start_of_minute(clock_);
    prefix_ = unique_prefix();
  }

  RedisLimiterOptions options() {
    RedisLimiterOptions o;
    o.key_prefix = prefix_;
    o.redis_timeout = 2s;  // exactness tests: no fallback on a busy CI machine
    o.replicas = 2;
    return o;
  }

  std::int64_t counter(const std::string& name) {
    cache::Reply r = call(*client_, {"GET", prefix_ + name});
    return r.kind == cache::Reply::Kind::kString ? std::stoll(r.text) : 0;
  }

  cic::testing::FakeClock clock_;
  std::unique_ptr<cache::RedisClient> client_;
  std::string prefix_;
};

TEST_F(RedisLimiterTest, TwoReplicasAdmitExactlyTheRpmLimitPerWindowUnderConcurrency) {
  RedisLimiter a(clock_, *client_, options());
  RedisLimiter b(clock_, *client_, options());
  constexpr std::int64_t kRpm = 37;
  constexpr int kRequests = 256, kWindows = 20;
  AdmissionRequest req = request("key1", "env1", "org1");
  req.key.rpm = kRpm;
  req.tokens = 10;

  for (int w = 0; w < kWindows; ++w) {
    std::atomic<int> admitted{0}, degraded{0};
    std::latch done(kRequests);
    std::mutex mutex;
    std::vector<std::pair<Limiter*, std::string>> reservations;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < kRequests; i += 4) {
          Limiter* l = i % 2 == 0 ? static_cast<Limiter*>(&a) : &b;
          l->admit(req, [&, l](Admission adm) {
            if (adm.degraded) ++degraded;
            if (adm.admitted) {
              ++admitted;
              std::lock_guard lock(mutex);
              reservations.emplace_back(l, adm.reservation);
            } else {
              EXPECT_EQ(adm.denial, Denial::kRate);
              EXPECT_EQ(adm.limit_name, "rpm");
            }
            done.count_down();
          });
        }
      });
    }
    for (auto& t : threads) t.join();
    done.wait();
    ASSERT_EQ(degraded.load(), 0);
    ASSERT_EQ(admitted.load(), kRpm) << "window " << w;
    for (auto& [l, r] : reservations) l->settle(r, Usage{5, 0});
    clock_.advance(60s);
  }
}

TEST_F(RedisLimiterTest, SpendCapHoldsUnderSimultaneousRequestsAndSettledSpendIsExact) {
  RedisLimiter a(clock_, *client_, options());
  RedisLimiter b(clock_, *client_, options());
  AdmissionRequest req = request("key1", "env1", "org1");
  req.environment.monthly_spend_micros = 20'000;
  req.org.monthly_spend_micros = 1'000'000;
  req.tokens = 100;
  req.cost_micros = 1'000;

  auto results = admit_concurrently({&a, &b}, req, 64);
  std::vector<std::pair<Limiter*, Admission>> admitted;
  for (auto& [l, adm] : results) {
    EXPECT_FALSE(adm.degraded);
    if (adm.admitted) {
      admitted.emplace_back(l, adm);
    } else {
      EXPECT_EQ(adm.denial, Denial::kSpend);
      EXPECT_EQ(adm.scope, "environment");
      EXPECT_GT(adm.retry_after, 0ms);
    }
  }
  ASSERT_EQ(admitted.size(), 20u);
  const std::string month = std::to_string(month_window(clock_.unix_millis()));
  EXPECT_EQ(counter("e:env1:spend:" + month), 20'000);

  for (auto& [l, adm] : admitted) l->settle(adm.reservation, Usage{70, 700});
  for (auto& [l, adm] : admitted) l->settle(adm.reservation, Usage{70, 700});  // repeated: no-op
  ASSERT_TRUE(cic::testing::eventually([&] { return counter("e:env1:spend:" + month) == 14'000; }));
  EXPECT_EQ(counter("o:org1:spend:" + month), 14'000);
  EXPECT_EQ(counter("e:env1:tok:" + month), 20 * 70);

  // 6000 remain: six more fit, whichever replica asks.
  auto more = admit_concurrently({&a, &b}, req, 64);
  int second = 0;
  for (auto& [l, adm] : more) second += adm.admitted ? 1 : 0;
  EXPECT_EQ(second, 6);
  EXPECT_EQ(counter("e:env1:spend:" + month), 20'000);
}

TEST_F(RedisLimiterTest, ConcurrencyIsHeldUntilSettledAndSettleIsIdempotent) {
  RedisLimiter a(clock_, *client_, options());
  RedisLimiter b(clock_, *client_, options());
  AdmissionRequest req = request("key1", "env1", "org1");
  req.key.concurrency = 2;
  Admission first = admit_sync(a, req);
  Admission second = admit_sync(b, req);
  ASSERT_TRUE(first.admitted && second.admitted);
  Admission third = admit_sync(a, req);
  EXPECT_FALSE(third.admitted);
  EXPECT_EQ(third.denial, Denial::kConcurrency);
  EXPECT_EQ(third.retry_after, 1s);
  a.settle(first.reservation, Usage{});
  a.settle(first.reservation, Usage{});
  b.settle("r:unknown", Usage{});
  ASSERT_TRUE(cic::testing::eventually([&] { return admit_sync(b, req).admitted; }));
  EXPECT_FALSE(admit_sync(a, req).admitted);
}

// The environment's concurrency, shared by two of its keys admitted through two replicas at once:
// exactly the limit is in flight, every refusal names the environment, settling releases the
// slot (once), and the environment's set of open reservations empties.
TEST_F(RedisLimiterTest, EnvironmentConcurrencyIsSharedByKeysAcrossReplicas) {
  RedisLimiter a(clock_, *client_, options());
  RedisLimiter b(clock_, *client_, options());
  AdmissionRequest key1 = request("key1", "env1", "org1");
  key1.environment.concurrency = 5;
  AdmissionRequest key2 = key1;
  key2.key_id = "key2";

  std::vector<std::pair<Limiter*, Admission>> results1, results2;
  std::thread t1([&] { results1 = admit_concurrently({&a, &b}, key1, 16); });
  std::thread t2([&] { results2 = admit_concurrently({&b, &a}, key2, 16); });
  t1.join();
  t2.join();
  std::vector<std::pair<Limiter*, Admission>> admitted;
  for (auto* results : {&results1, &results2}) {
    for (auto& [l, adm] : *results) {
      EXPECT_FALSE(adm.degraded);
      if (adm.admitted) {
        admitted.emplace_back(l, adm);
      } else {
        EXPECT_EQ(adm.denial, Denial::kConcurrency);
        EXPECT_EQ(adm.scope, "environment");
        EXPECT_EQ(adm.limit_name, "concurrency");
        EXPECT_EQ(adm.limit_value, 5);
        EXPECT_EQ(adm.retry_after, 1s);
        EXPECT_TRUE(adm.reservation.empty());
      }
    }
  }
  ASSERT_EQ(admitted.size(), 5u);
  auto open_slots = [&](const std::string& set) {
    cache::Reply r = call(*client_, {"ZCARD", prefix_ + set});
    return r.kind == cache::Reply::Kind::kInteger ? r.integer : -1;
  };
  EXPECT_EQ(open_slots("e:env1:conc"), 5);
  EXPECT_EQ(open_slots("k:key1:conc") + open_slots("k:key2:conc"), 5);
  // The set expires like the key's: after reservation_ttl without admissions.
  cache::Reply ttl = call(*client_, {"PTTL", prefix_ + "e:env1:conc"});
  ASSERT_EQ(ttl.kind, cache::Reply::Kind::kInteger);
  EXPECT_GT(ttl.integer, 59LL * 60'000);
  EXPECT_LE(ttl.integer, 60LL * 60'000);

  AdmissionRequest other_env = key1;
  other_env.key_id = "key3";
  other_env.environment_id = "env2";
  Admission elsewhere = admit_sync(a, other_env);
  EXPECT_TRUE(elsewhere.admitted) << "concurrency is per environment";
  a.settle(elsewhere.reservation, Usage{});

  // One slot released (settled twice, through its replica; the other replica does not know it).
  auto [l0, first] = admitted.front();
  l0->settle(first.reservation, Usage{});
  l0->settle(first.reservation, Usage{});
  (l0 == &a ? static_cast<Limiter&>(b) : static_cast<Limiter&>(a)).settle(first.reservation, Usage{});
  ASSERT_TRUE(cic::testing::eventually([&] { return open_slots("e:env1:conc") == 4; }));
  Admission refill = admit_sync(b, key2);
  ASSERT_TRUE(refill.admitted) << "key1's or key2's released slot is free for either key";
  Admission full = admit_sync(a, key1);
  EXPECT_EQ(full.scope, "environment") << "only one slot was released";
  EXPECT_EQ(full.limit_name, "concurrency");

  // The key's own concurrency is checked first, then the environment's.
  AdmissionRequest both = key2;
  both.key.concurrency = 1;
  const std::int64_t key2_open = open_slots("k:key2:conc");
  ASSERT_GE(key2_open, 1);
  Admission key_first = admit_sync(a, both);
  EXPECT_EQ(key_first.scope, "key");
  EXPECT_EQ(key_first.limit_name, "concurrency");
  both.key.concurrency = key2_open + 1;
  Admission then_env = admit_sync(a, both);
  EXPECT_EQ(then_env.scope, "environment");
  EXPECT_EQ(then_env.limit_name, "concurrency");

  admitted.erase(admitted.begin());
  admitted.emplace_back(&b, refill);
  for (auto& [l, adm] : admitted) l->settle(adm.reservation, Usage{});
  ASSERT_TRUE(cic::testing::eventually([&] { return open_slots("e:env1:conc") == 0; }));
  auto again = admit_concurrently({&a, &b}, key1, 16);
  int second = 0;
  for (auto& [l, adm] : again) second += adm.admitted ? 1 : 0;
  EXPECT_EQ(second, 5);
}

// A slot nobody settled (its replica died) is dropped from the environment's set once older than
// reservation_ttl, as from the key's; until then it counts.
TEST_F(RedisLimiterTest, AbandonedEnvironmentSlotsExpireAfterTheReservationTtl) {
  AdmissionRequest lost_req = request("key_lost", "env1", "org1");
  lost_req.environment.concurrency = 1;
  AdmissionRequest sibling = lost_req;
  sibling.key_id = "key_sibling";
  {
    RedisLimiter dying(clock_, *client_, options());
    Admission lost = admit_sync(dying, lost_req);
    ASSERT_TRUE(lost.admitted);
  }  // never settled
  RedisLimiter alive(clock_, *client_, options());
  clock_.advance(59min);
  Admission held = admit_sync(alive, sibling);
  EXPECT_FALSE(held.admitted) << "within the reservation TTL the slot is still held";
  EXPECT_EQ(held.scope, "environment");
  clock_.advance(2min);
  Admission again = admit_sync(alive, sibling);
  EXPECT_TRUE(again.admitted) << "the abandoned slot expired";
  EXPECT_FALSE(admit_sync(alive, lost_req).admitted) << "one slot: the new admission holds it";
  cache::Reply open = call(*client_, {"ZCARD", prefix_ + "e:env1:conc"});
  EXPECT_EQ(open.integer, 1);
}

// The org's monthly token quota, shared by two of its environments admitted through two replicas
// at once: exactly the quota is held, every refusal names the org, and settling is exact.
TEST_F(RedisLimiterTest, OrgMonthlyTokensAreSharedByEnvironmentsAcrossReplicas) {
  RedisLimiter a(clock_, *client_, options());
  RedisLimiter b(clock_, *client_, options());
  AdmissionRequest env1 = request("key1", "env1", "org1");
  env1.org.monthly_tokens = 2'000;
  env1.tokens = 100;
  AdmissionRequest env2 = env1;
  env2.key_id = "key2";
  env2.environment_id = "env2";

  std::vector<std::pair<Limiter*, Admission>> results1, results2;
  std::thread t1([&] { results1 = admit_concurrently({&a, &b}, env1, 32); });
  std::thread t2([&] { results2 = admit_concurrently({&b, &a}, env2, 32); });
  t1.join();
  t2.join();
  std::vector<std::pair<Limiter*, Admission>> admitted;
  int from_env1 = 0;
  for (auto* results : {&results1, &results2}) {
    for (auto& [l, adm] : *results) {
      EXPECT_FALSE(adm.degraded);
      if (adm.admitted) {
        admitted.emplace_back(l, adm);
        if (results == &results1) ++from_env1;
      } else {
        EXPECT_EQ(adm.denial, Denial::kQuota);
        EXPECT_EQ(adm.scope, "org");
        EXPECT_EQ(adm.limit_name, "monthly_tokens");
        EXPECT_EQ(adm.limit_value, 2'000);
        EXPECT_GT(adm.retry_after, 0ms);
        EXPECT_LE(adm.retry_after, until_month_end(clock_.unix_millis()));
        EXPECT_TRUE(adm.reservation.empty());
      }
    }
  }
  ASSERT_EQ(admitted.size(), 20u);
  const std::string month = std::to_string(month_window(clock_.unix_millis()));
  EXPECT_EQ(counter("o:org1:tok:" + month), 2'000);
  EXPECT_EQ(counter("e:env1:tok:" + month) + counter("e:env2:tok:" + month), 2'000);
  EXPECT_EQ(counter("e:env1:tok:" + month), from_env1 * 100);
  // The org's counter lives for the month (32 days), like the other monthly counters.
  cache::Reply ttl = call(*client_, {"PTTL", prefix_ + "o:org1:tok:" + month});
  ASSERT_EQ(ttl.kind, cache::Reply::Kind::kInteger);
  EXPECT_GT(ttl.integer, 31LL * 86'400'000);
  EXPECT_LE(ttl.integer, 32LL * 86'400'000);

  for (auto& [l, adm] : admitted) l->settle(adm.reservation, Usage{70, 0});
  for (auto& [l, adm] : admitted) l->settle(adm.reservation, Usage{70, 0});  // repeated: no-op
  ASSERT_TRUE(cic::testing::eventually([&] { return counter("o:org1:tok:" + month) == 20 * 70; }));
  EXPECT_EQ(counter("e:env1:tok:" + month) + counter("e:env2:tok:" + month), 20 * 70);

  // 600 remain: six more fit, from either environment, whichever replica asks.
  auto more = admit_concurrently({&a, &b}, env2, 64);
  int second = 0;
  for (auto& [l, adm] : more) second += adm.admitted ? 1 : 0;
  EXPECT_EQ(second, 6);
  EXPECT_EQ(counter("o:org1:tok:" + month), 2'000);
  Admission last = admit_sync(a, env1);
  EXPECT_EQ(last.scope, "org");
  EXPECT_EQ(last.limit_name, "monthly_tokens");
}

// Worst case held on admit, moved by (actual - reserved) on settle, never below 0.
TEST_F(RedisLimiterTest, OrgMonthlyTokensHoldTheWorstCaseAndSettleExactly) {
  RedisLimiter limiter(clock_, *client_, options());
  AdmissionRequest req = request("key1", "env1", "org1");
  req.org.monthly_tokens = 1'000;
  req.tokens = 600;
  const std::string org_tokens = "o:org1:tok:" + std::to_string(month_window(clock_.unix_millis()));
  Admission held = admit_sync(limiter, req);
  ASSERT_TRUE(held.admitted);
  EXPECT_EQ(counter(org_tokens), 600);
  req.tokens = 401;
  EXPECT_FALSE(admit_sync(limiter, req).admitted) << "600 held + 401 asked > 1000";

  limiter.settle(held.reservation, Usage{200, 0});
  ASSERT_TRUE(cic::testing::eventually([&] { return counter(org_tokens) == 200; }));
  req.tokens = 801;
  EXPECT_EQ(admit_sync(limiter, req).scope, "org");
  req.tokens = 800;
  Admission refill = admit_sync(limiter, req);
  ASSERT_TRUE(refill.admitted) << "200 used + 800 fits 1000 exactly";
  limiter.settle(refill.reservation, Usage{900, 0});
  ASSERT_TRUE(cic::testing::eventually([&] { return counter(org_tokens) == 1'100; }));

  // Someone resets the counter (an operator, or a restart losing it) while one is held: the
  // settlement's correction stops at 0.
  req.org.monthly_tokens = 0;
  req.tokens = 500;
  Admission open = admit_sync(limiter, req);
  ASSERT_TRUE(open.admitted) << "usage is counted even above a lifted quota";
  EXPECT_EQ(counter(org_tokens), 1'600);
  ASSERT_EQ(call(*client_, {"SET", prefix_ + org_tokens, "100", "KEEPTTL"}).text, "OK");
  limiter.settle(open.reservation, Usage{0, 0});
  ASSERT_TRUE(cic::testing::eventually([&] { return counter(org_tokens) == 0; }));
  cache::Reply raw = call(*client_, {"GET", prefix_ + org_tokens});
  EXPECT_EQ(raw.text, "0");
}

TEST_F(RedisLimiterTest, OrgMonthlyTokensStartAgainEachUtcMonth) {
  clock_.advance(until_month_end(clock_.unix_millis()) - 1ms);  // the month's last millisecond
  RedisLimiter limiter(clock_, *client_, options());
  AdmissionRequest req = request("key1", "env1", "org1");
  req.org.monthly_tokens = 1'000;
  req.tokens = 1'000;
  const std::int64_t first_month = month_window(clock_.unix_millis());
  Admission old_month = admit_sync(limiter, req);
  ASSERT_TRUE(old_month.admitted);
  AdmissionRequest sibling = req;
  sibling.environment_id = "env2";
  sibling.tokens = 1;
  Admission denied = admit_sync(limiter, sibling);
  EXPECT_EQ(denied.denial, Denial::kQuota);
  EXPECT_EQ(denied.scope, "org");
  EXPECT_EQ(denied.retry_after, 1ms);

  clock_.advance(1ms);  // the first millisecond of the next month
  ASSERT_EQ(month_window(clock_.unix_millis()), first_month + 1);
  sibling.tokens = 1'000;
  Admission new_month = admit_sync(limiter, sibling);
  EXPECT_TRUE(new_month.admitted);
  limiter.settle(old_month.reservation, Usage{0, 0});  // corrects the old month only
  const std::string old_key = "o:org1:tok:" + std::to_string(first_month);
  ASSERT_TRUE(cic::testing::eventually([&] { return counter(old_key) == 0; }));
  EXPECT_EQ(counter("o:org1:tok:" + std::to_string(first_month + 1)), 1'000);
  req.tokens = 1;
  Admission full = admit_sync(limiter, req);
  EXPECT_EQ(full.scope, "org");
  EXPECT_EQ(full.retry_after, until_month_end(clock_.unix_millis()));
}

// Same sequence through LocalLimiter and RedisLimiter (one replica): same answers, field by field.
TEST_F(RedisLimiterTest, AnswersLikeTheLocalLimiter) {
  RedisLimiterOptions o = options();
  o.replicas = 1;
  RedisLimiter redis(clock_, *client_, o);
  LocalLimiter local(clock_);

  AdmissionRequest base = request("k", "e", "o");
  base.key = {5, 1'000, 3, 0, 0};
  base.environment = {8, 1'500, 0, 3'000, 50'000};
  base.org.monthly_spend_micros = 60'000;
  base.org.monthly_tokens = 1'000;
  std::vector<std::pair<std::string, std::string>> held;  // redis, local
  std::map<std::string, int> refusals;                    // scope.limit_name -> count
  for (int step = 0; step < 40; ++step) {
    AdmissionRequest req = base;
    req.environment_id = step % 3 == 1 ? "e2" : "e";  // two environments share the org's quota
    if (step % 4 == 2) req.key_id = "k2";               // two keys share the environment's slots
    if (step % 5 == 3) req.environment.concurrency = 1;  // the environment's concurrency answers
    req.tokens = 50 + (step * 37) % 400;
    req.cost_micros = req.tokens * 10;
    req.priced = step % 13 != 7;
    if (step % 11 == 5) req.key.concurrency = 1;
    if (step % 7 == 2) req.environment.monthly_tokens = 400;  // the environment's quota answers first
    Admission r = admit_sync(redis, req);
    Admission l = local.admit_now(req);
    SCOPED_TRACE("step " + std::to_string(step));
    ASSERT_EQ(r.admitted, l.admitted);
    EXPECT_EQ(r.denial, l.denial);
    EXPECT_EQ(r.scope, l.scope);
    EXPECT_EQ(r.limit_name, l.limit_name);
    EXPECT_EQ(r.limit_value, l.limit_value);
    EXPECT_EQ(r.retry_after, l.retry_after);
    EXPECT_EQ(r.headers.present, l.headers.present);
    EXPECT_EQ(r.headers.limit_requests, l.headers.limit_requests);
    EXPECT_EQ(r.headers.remaining_requests, l.headers.remaining_requests);
    EXPECT_EQ(r.headers.limit_tokens, l.headers.limit_tokens);
    EXPECT_EQ(r.headers.remaining_tokens, l.headers.remaining_tokens);
    EXPECT_EQ(r.headers.reset_requests, l.headers.reset_requests);
    EXPECT_EQ(r.headers.reset_tokens, l.headers.reset_tokens);
    if (!l.admitted) ++refusals[l.scope + "." + l.limit_name];
    if (r.admitted) held.emplace_back(r.reservation, l.reservation);
    if (held.size() >= 2 || step % 4 == 3) {
      for (auto& [rr, lr] : held) {
        redis.settle(rr, Usage{30, 300});
        local.settle(lr, Usage{30, 300});
      }
      held.clear();
      // One connection, in order: once this PING is answered, the settles before it are applied.
      ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");
    }
    clock_.advance(step % 10 == 9 ? 60s : 100ms);
  }
  // The sequence reaches the org's token quota, and the environment's before it.
  EXPECT_GT(refusals["org.monthly_tokens"], 0);
  EXPECT_GT(refusals["environment.monthly_tokens"], 0);
  EXPECT_GT(refusals["environment.concurrency"], 0);
}

}  // namespace
}  // namespace cic::limits
