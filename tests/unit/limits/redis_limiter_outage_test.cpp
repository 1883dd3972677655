// RedisLimiter while its Redis is frozen (SIGSTOP) or killed: private redis-server processes,
// short breaker cooldowns, time driven by a FakeClock (the breaker and the windows both use it).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

#include "cic/cache/redis_client.hpp"
#include "cic/limits/redis_limiter.hpp"
#include "cic/limits/windows.hpp"
#include "fakes/fake_clock.hpp"
#include "unit/cache/redis_test_server.hpp"
#include "unit/limits/redis_limiter_test_util.hpp"

namespace cic::limits {
namespace {

using namespace std::chrono_literals;
using cic::testing::call;
using cic::testing::eventually;
using cic::testing::RedisTestServer;
using Steady = std::chrono::steady_clock;

constexpr auto kBudget = 25ms;
constexpr auto kCooldown = 200ms;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

class RedisOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cic::testing::shared_redis_url()) GTEST_SKIP() << "CIC_TEST_REDIS_URL is not set (make test starts Redis)";
    server_ = std::make_unique<RedisTestServer>();
    cache::RedisClientOptions co{server_->url()};
    co.reconnect_min = 20ms;
    co.reconnect_max = 100ms;
    client_ = std::make_unique<cache::RedisClient>(co);
    probe_client_ = std::make_unique<cache::RedisClient>(cache::RedisClientOptions{server_->url()});
    start_of_minute(clock_);
  }

  RedisLimiterOptions options(bool fail_closed = false) {
    RedisLimiterOptions o;
    o.key_prefix = "t:";
    o.redis_timeout = kBudget;
    o.breaker_cooldown = kCooldown;
    o.replicas = 2;
    o.fail_closed = fail_closed;
    o.on_fallback = [this] { ++fallbacks_; };
    return o;
  }

  std::int64_t counter(const std::string& name) {
    cache::Reply r = call(*probe_client_, {"GET", "t:" + name});
    return r.kind == cache::Reply::Kind::kString ? std::stoll(r.text) : 0;
  }

  // Admits until one is decided by Redis again, moving the clock past the cooldown (within the
  // same minute). Returns how long that took in real time.
  std::chrono::milliseconds until_back(RedisLimiter& limiter, const AdmissionRequest& req,
                                       std::vector<std::string>& local_holds) {
    auto t0 = Steady::now();
    while (Steady::now() - t0 < 5s) {
      clock_.advance(10ms);
      Admission a = admit_sync(limiter, req);
      if (a.admitted && a.degraded) local_holds.push_back(a.reservation);
      if (!a.degraded) {
        if (a.admitted) limiter.settle(a.reservation, Usage{0, 0});
        return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0);
      }
      std::this_thread::sleep_for(5ms);
    }
    return 5s;
  }

  cic::testing::FakeClock clock_;
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<cache::RedisClient> client_, probe_client_;
  std::atomic<int> fallbacks_{0};
};

// Normal operation, then a freeze: every admission answers within the budget, decided on local
// shares; after SIGCONT the limiter is back on Redis within 2 s and the local usage is in Redis.
TEST_F(RedisOutageTest, FrozenRedisFallsBackToLocalSharesWithinTheBudgetAndReconciles) {
  RedisLimiter limiter(clock_, *client_, options());
  AdmissionRequest req = request("key1", "env1", "org1");
  req.key.rpm = 100;
  req.environment.monthly_spend_micros = 1'000'000;
  req.tokens = 10;
  req.cost_micros = 100;
  AdmissionRequest unlimited = request("key2", "env2", "org2");

  // Added latency on loopback, Redis healthy.
  std::vector<double> healthy;
  for (int i = 0; i < 500; ++i) {
    auto t0 = Steady::now();
    Admission a = admit_sync(limiter, unlimited);
    healthy.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
    ASSERT_TRUE(a.admitted && !a.degraded);
    limiter.settle(a.reservation, Usage{});
  }
  std::printf("[ latency ] healthy loopback: p50 %.3f ms, p99 %.3f ms\n", percentile(healthy, .5),
              percentile(healthy, .99));

  int redis_admitted = 0;
  for (int i = 0; i < 10; ++i) {
    Admission a = admit_sync(limiter, req);
    ASSERT_TRUE(a.admitted && !a.degraded);
    limiter.settle(a.reservation, Usage{10, 100});
    ++redis_admitted;
  }
  const std::string minute = std::to_string(minute_window(clock_.unix_millis()));
  const std::string month = std::to_string(month_window(clock_.unix_millis()));
  ASSERT_EQ(call(*probe_client_, {"PING"}).text, "PONG");

  server_->freeze();
  // A burst in flight when Redis stops answering: every one is answered within the budget.
  auto burst_start = Steady::now();
  auto burst = admit_concurrently({&limiter}, unlimited, 64);
  const double burst_ms = std::chrono::duration<double, std::milli>(Steady::now() - burst_start).count();
  std::printf("[ latency ] Redis frozen, 64 concurrent admissions: all answered after %.3f ms (budget %lld ms)\n",
              burst_ms, static_cast<long long>(kBudget.count()));
  EXPECT_LE(burst_ms, kBudget.count() + 15.0);
  for (auto& [l, a] : burst) {
    EXPECT_TRUE(a.degraded);
    if (a.admitted) limiter.settle(a.reservation, Usage{});
  }

  std::vector<double> frozen;
  std::vector<std::string> local_holds;
  int local_admitted = 0;
  for (int i = 0; i < 150; ++i) {
    auto t0 = Steady::now();
    Admission a = admit_sync(limiter, req);
    frozen.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
    EXPECT_TRUE(a.degraded);
    if (a.admitted) {
      ++local_admitted;
      local_holds.push_back(a.reservation);
    } else {
      EXPECT_EQ(a.denial, Denial::kRate);
      EXPECT_EQ(a.limit_value, 50);  // 100 rpm / 2 replicas
    }
  }
  std::printf("[ latency ] Redis frozen: p50 %.3f ms, p99 %.3f ms, max %.3f ms (budget %lld ms)\n",
              percentile(frozen, .5), percentile(frozen, .99), frozen.empty() ? 0 : percentile(frozen, 1.0),
              static_cast<long long>(kBudget.count()));
  EXPECT_LE(percentile(frozen, .99), kBudget.count() + 15.0);
  EXPECT_LE(local_admitted, 50) << "at most the local share per window";
  EXPECT_GE(local_admitted, 45);
  EXPECT_EQ(fallbacks_.load(), 64 + 150);
  EXPECT_TRUE(limiter.breaker_open());
  for (auto& r : local_holds) limiter.settle(r, Usage{4, 40});
  local_holds.clear();

  server_->thaw();
  auto back = until_back(limiter, req, local_holds);
  std::printf("[ recover ] back on Redis %lld ms after SIGCONT\n", static_cast<long long>(back.count()));
  EXPECT_LT(back, 2s);
  EXPECT_FALSE(limiter.breaker_open());
  for (auto& r : local_holds) limiter.settle(r, Usage{4, 40});
  const int extra_local = static_cast<int>(local_holds.size());
  ASSERT_TRUE(eventually([&] { return limiter.pending_redis_work() == 0; }));
  ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");  // everything sent before it has landed

  // Requests: Redis's own, the local ones, the one that found Redis back, plus at most the one
  // admission that timed out and ran late (its request stays counted; its tokens are cancelled).
  const std::int64_t rpm = counter("k:key1:rpm:" + minute);
  const std::int64_t expected = redis_admitted + local_admitted + extra_local + 1;
  EXPECT_GE(rpm, expected);
  EXPECT_LE(rpm, expected + 1);
  // Tokens and spend: exactly what was settled.
  EXPECT_EQ(counter("k:key1:tpm:" + minute), redis_admitted * 10 + (local_admitted + extra_local) * 4);
  EXPECT_EQ(counter("e:env1:spend:" + month), redis_admitted * 100 + (local_admitted + extra_local) * 40);
  EXPECT_EQ(counter("k:key1:conc"), 0);  // the zset of open reservations is empty (key gone)
}

// Killed and restarted empty: local shares of the monthly cap follow what Redis said remained,
// and the local usage is written back to the new server.
TEST_F(RedisOutageTest, KilledRedisUsesMonthlySharesAndReconcilesIntoTheRestartedServer) {
  RedisLimiter limiter(clock_, *client_, options());
  AdmissionRequest req = request("key1", "env1", "org1");
  req.environment.monthly_spend_micros = 10'000;
  req.tokens = 10;
  req.cost_micros = 1'000;
  for (int i = 0; i < 4; ++i) {
    Admission a = admit_sync(limiter, req);
    ASSERT_TRUE(a.admitted && !a.degraded);
    limiter.settle(a.reservation, Usage{10, 1'000});
  }
  ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");

  server_->kill();
  // 6000 remained at the last answer; half of it (2 replicas) is this replica's: 3 requests.
  std::vector<std::string> holds;
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    auto t0 = Steady::now();
    Admission a = admit_sync(limiter, req);
    EXPECT_LT(Steady::now() - t0, kBudget + 15ms);
    EXPECT_TRUE(a.degraded);
    if (a.admitted) {
      ++admitted;
      holds.push_back(a.reservation);
    } else {
      EXPECT_EQ(a.denial, Denial::kSpend);
      EXPECT_EQ(a.scope, "environment");
      EXPECT_EQ(a.limit_value, 10'000);
    }
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(fallbacks_.load(), 10);
  for (auto& r : holds) limiter.settle(r, Usage{10, 800});
  holds.clear();

  server_->start();  // empty: counters and scripts are gone
  auto back = until_back(limiter, req, holds);
  std::printf("[ recover ] back on Redis %lld ms after restart\n", static_cast<long long>(back.count()));
  EXPECT_LT(back, 2s);
  ASSERT_TRUE(eventually([&] { return limiter.pending_redis_work() == 0; }));
  ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");
  const std::string month = std::to_string(month_window(clock_.unix_millis()));
  // The restarted server knows the local usage (3 x 800); the request that found it back was
  // settled at 0.
  EXPECT_EQ(counter("e:env1:spend:" + month), 3 * 800);
}

// The org's monthly token quota without Redis: one local share of what Redis said remained,
// drawn on by every environment of the org, and reconciled into the restarted server.
TEST_F(RedisOutageTest, KilledRedisSharesTheOrgTokenQuotaAcrossItsEnvironments) {
  RedisLimiter limiter(clock_, *client_, options());
  AdmissionRequest env1 = request("key1", "env1", "org1");
  env1.org.monthly_tokens = 10'000;
  env1.tokens = 1'000;
  AdmissionRequest env2 = env1;
  env2.key_id = "key2";
  env2.environment_id = "env2";
  for (int i = 0; i < 4; ++i) {
    Admission a = admit_sync(limiter, i % 2 == 0 ? env1 : env2);
    ASSERT_TRUE(a.admitted && !a.degraded);
    limiter.settle(a.reservation, Usage{1'000, 0});
  }
  ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");

  server_->kill();
  // 6000 remained at the last answer; half of it (2 replicas) is this replica's: 3 requests of
  // 1000 tokens, whichever of the org's environments asks.
  std::vector<std::string> holds;
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    Admission a = admit_sync(limiter, i % 2 == 0 ? env1 : env2);
    EXPECT_TRUE(a.degraded);
    if (a.admitted) {
      ++admitted;
      holds.push_back(a.reservation);
    } else {
      EXPECT_EQ(a.denial, Denial::kQuota);
      EXPECT_EQ(a.scope, "org");
      EXPECT_EQ(a.limit_name, "monthly_tokens");
      EXPECT_EQ(a.limit_value, 10'000);
      EXPECT_EQ(a.retry_after, until_month_end(clock_.unix_millis()));
      EXPECT_TRUE(a.reservation.empty());
    }
  }
  EXPECT_EQ(admitted, 3);
  // Settling lower gives the difference back to the local share: 3 x 200 = 600 tokens, less
  // than one more request of 1000.
  for (auto& r : holds) limiter.settle(r, Usage{800, 0});
  holds.clear();
  env1.tokens = 600;
  Admission refill = admit_sync(limiter, env1);
  EXPECT_TRUE(refill.degraded);
  ASSERT_TRUE(refill.admitted) << "600 of the share came back and fit exactly";
  limiter.settle(refill.reservation, Usage{600, 0});
  env1.tokens = 1;
  EXPECT_EQ(admit_sync(limiter, env1).scope, "org") << "the share is used up";

  server_->start();  // empty: counters and scripts are gone
  auto back = until_back(limiter, env1, holds);
  EXPECT_LT(back, 2s);
  for (auto& r : holds) limiter.settle(r, Usage{0, 0});  // admitted locally around the probe, if any
  ASSERT_TRUE(eventually([&] { return limiter.pending_redis_work() == 0; }));
  ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");
  const std::string month = std::to_string(month_window(clock_.unix_millis()));
  // The restarted server knows the local usage (3 x 800 + 600); the request that found it back
  // was settled at 0.
  EXPECT_EQ(counter("o:org1:tok:" + month), 3 * 800 + 600);
  EXPECT_EQ(counter("e:env1:tok:" + month) + counter("e:env2:tok:" + month), 3 * 800 + 600);
}

// The environment's concurrency without Redis: a local share of limit / replicas (at least 1),
// drawn on by every key of the environment, released by settle; Redis's own check is back with
// the restarted server.
TEST_F(RedisOutageTest, KilledRedisSharesTheEnvironmentConcurrencyAcrossItsKeys) {
  RedisLimiter limiter(clock_, *client_, options());
  AdmissionRequest key1 = request("key1", "env1", "org1");
  key1.environment.concurrency = 4;
  AdmissionRequest key2 = key1;
  key2.key_id = "key2";
  AdmissionRequest tiny = request("key3", "env3", "org1");
  tiny.environment.concurrency = 1;  // 1 / 2 replicas: a share of 1, not 0 (= no limit)
  Admission before = admit_sync(limiter, key1);
  ASSERT_TRUE(before.admitted && !before.degraded);
  limiter.settle(before.reservation, Usage{});
  ASSERT_EQ(call(*client_, {"PING"}).text, "PONG");

  server_->kill();
  std::vector<std::string> holds;
  for (int i = 0; i < 6; ++i) {
    Admission a = admit_sync(limiter, i % 2 == 0 ? key1 : key2);
    EXPECT_TRUE(a.degraded);
    if (a.admitted) {
      holds.push_back(a.reservation);
    } else {
      EXPECT_EQ(a.denial, Denial::kConcurrency);
      EXPECT_EQ(a.scope, "environment");
      EXPECT_EQ(a.limit_name, "concurrency");
      EXPECT_EQ(a.limit_value, 2) << "4 / 2 replicas";
      EXPECT_EQ(a.retry_after, 1s);
      EXPECT_TRUE(a.reservation.empty());
    }
  }
  EXPECT_EQ(holds.size(), 2u) << "one from each key fills the share";
  limiter.settle(holds.front(), Usage{});
  limiter.settle(holds.front(), Usage{});  // repeated: frees nothing more
  holds.erase(holds.begin());
  Admission refill = admit_sync(limiter, key2);
  EXPECT_TRUE(refill.degraded);
  ASSERT_TRUE(refill.admitted) << "the settled slot is free for the other key";
  holds.push_back(refill.reservation);
  EXPECT_EQ(admit_sync(limiter, key1).scope, "environment");

  Admission tiny_first = admit_sync(limiter, tiny);
  EXPECT_TRUE(tiny_first.admitted && tiny_first.degraded);
  Admission tiny_second = admit_sync(limiter, tiny);
  EXPECT_FALSE(tiny_second.admitted);
  EXPECT_EQ(tiny_second.scope, "environment");
  EXPECT_EQ(tiny_second.limit_value, 1);
  limiter.settle(tiny_first.reservation, Usage{});
  for (auto& r : holds) limiter.settle(r, Usage{});
  holds.clear();

  server_->start();  // empty: sets and scripts are gone
  auto back = until_back(limiter, key1, holds);
  EXPECT_LT(back, 2s);
  for (auto& r : holds) limiter.settle(r, Usage{});
  ASSERT_TRUE(eventually([&] { return limiter.pending_redis_work() == 0; }));
  // Redis decides again, with the whole limit across the environment's keys.
  std::vector<Admission> redis_holds;
  for (int i = 0; i < 5; ++i) {
    Admission a = admit_sync(limiter, i % 2 == 0 ? key1 : key2);
    EXPECT_FALSE(a.degraded);
    if (a.admitted) redis_holds.push_back(a);
    else EXPECT_EQ(a.scope, "environment");
  }
  EXPECT_EQ(redis_holds.size(), 4u);
  cache::Reply open = call(*probe_client_, {"ZCARD", "t:e:env1:conc"});
  EXPECT_EQ(open.integer, 4);
  for (auto& a : redis_holds) limiter.settle(a.reservation, Usage{});
  ASSERT_TRUE(eventually([&] { return call(*probe_client_, {"ZCARD", "t:e:env1:conc"}).integer == 0; }));
}

TEST_F(RedisOutageTest, FailClosedRefusesWhileRedisIsDown) {
  RedisLimiter limiter(clock_, *client_, options(/*fail_closed=*/true));
  AdmissionRequest req = request("key1", "env1", "org1");
  ASSERT_FALSE(admit_sync(limiter, req).degraded);
  server_->kill();
  for (int i = 0; i < 5; ++i) {
    Admission a = admit_sync(limiter, req);
    EXPECT_FALSE(a.admitted);
    EXPECT_TRUE(a.degraded);
    EXPECT_EQ(a.denial, Denial::kRate);
    EXPECT_EQ(a.scope, "redis");
    EXPECT_EQ(a.limit_name, "unavailable");
    EXPECT_GT(a.retry_after, 0ms);
  }
  EXPECT_EQ(fallbacks_.load(), 5);
  server_->start();
  std::vector<std::string> none;
  EXPECT_LT(until_back(limiter, req, none), 2s);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace cic::limits
