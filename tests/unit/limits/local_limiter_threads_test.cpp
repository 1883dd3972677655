// LocalLimiter under many threads at once: counts must stay exact, never over-admit, and settle
// must land every request on its real usage. Threads are lined up with barriers and the clock is
// moved between rounds, so the runs are repeatable without sleeping.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cic/limits/local_limiter.hpp"
#include "fakes/fake_clock.hpp"

namespace cic::limits {
namespace {

using namespace std::chrono_literals;

AdmissionRequest request_for(std::string key, std::string env, std::string org) {
  AdmissionRequest r;
  r.key_id = std::move(key);
  r.environment_id = std::move(env);
  r.org_id = std::move(org);
  return r;
}

Admission admit(LocalLimiter& limiter, const AdmissionRequest& r) {
  Admission out;
  limiter.admit(r, [&](Admission a) { out = std::move(a); });
  return out;
}

TEST(LocalLimiterThreadsTest, ExactlyTheRpmPerWindowWith256Threads) {
  constexpr int kThreads = 256;
  constexpr int kAttemptsPerThread = 8;  // 2048 attempts per window against 100
  constexpr int kWindows = 24;
  constexpr std::int64_t kRpm = 100;
  cic::testing::FakeClock clock;
  LocalLimiter limiter(clock);
  std::vector<std::atomic<int>> admitted(kWindows);
  std::barrier sync(kThreads + 1);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AdmissionRequest r = request_for("key_hot", "env_hot", "org_hot");
      r.key.rpm = kRpm;
      r.environment.rpm = 10 * kRpm;
      r.tokens = 10;
      for (int w = 0; w < kWindows; ++w) {
        sync.arrive_and_wait();  // the window opens
        for (int i = 0; i < kAttemptsPerThread; ++i) {
          Admission a = admit(limiter, r);
          if (!a.admitted) continue;
          admitted[w].fetch_add(1, std::memory_order_relaxed);
          if ((t + i) % 2 == 0) limiter.settle(a.reservation, {t % 10, 0});  // half settle at once
          else limiter.settle(a.reservation, {10, 0});
        }
        sync.arrive_and_wait();  // the window is done
      }
    });
  }
  for (int w = 0; w < kWindows; ++w) {
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    clock.advance(1min);
  }
  for (auto& th : threads) th.join();
  for (int w = 0; w < kWindows; ++w) EXPECT_EQ(admitted[w].load(), kRpm) << "window " << w;
  EXPECT_EQ(limiter.open_reservations(), 0u);
}

TEST(LocalLimiterThreadsTest, EnvironmentRpmHoldsAcrossKeysInDifferentShards) {
  constexpr int kThreads = 64;
  constexpr int kKeys = 8;
  constexpr int kWindows = 20;
  cic::testing::FakeClock clock;
  LocalLimiter limiter(clock);
  std::vector<std::array<std::atomic<int>, kKeys>> per_key(kWindows);
  std::barrier sync(kThreads + 1);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const int k = t % kKeys;
      AdmissionRequest r = request_for("key_" + std::to_string(k), "env_shared", "org_shared");
      r.key.rpm = 50;
      r.environment.rpm = 300;  // less than 8 x 50: the environment is what binds
      for (int w = 0; w < kWindows; ++w) {
        sync.arrive_and_wait();
        for (int i = 0; i < 16; ++i) {
          Admission a = admit(limiter, r);
          if (!a.admitted) continue;
          per_key[w][k].fetch_add(1, std::memory_order_relaxed);
          limiter.settle(a.reservation, {});
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (int w = 0; w < kWindows; ++w) {
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    clock.advance(1min);
  }
  for (auto& th : threads) th.join();
  for (int w = 0; w < kWindows; ++w) {
    int total = 0;
    for (int k = 0; k < kKeys; ++k) {
      EXPECT_LE(per_key[w][k].load(), 50) << "window " << w << " key " << k;
      total += per_key[w][k].load();
    }
    EXPECT_EQ(total, 300) << "window " << w;
  }
}

TEST(LocalLimiterThreadsTest, SpendCapHoldsWorstCasesAndSettlesToTheExactActuals) {
  constexpr int kThreads = 64;
  constexpr std::int64_t kOrgCap = 1'000'000;
  constexpr std::int64_t kEnvCap = 1'200'000;
  constexpr std::int64_t kAlreadySpent = 500'000;
  cic::testing::FakeClock clock;
  LocalLimiter limiter(clock);

  for (int round = 0; round < 20; ++round) {
    const std::string env = "env_" + std::to_string(round);
    const std::string org = "org_" + std::to_string(round);
    AdmissionRequest base = request_for("key_" + std::to_string(round), env, org);
    base.environment.monthly_spend_micros = kEnvCap;
    base.environment.monthly_tokens = 100'000'000;
    base.org.monthly_spend_micros = kOrgCap;

    AdmissionRequest earlier = base;
    earlier.cost_micros = kAlreadySpent;
    earlier.tokens = 1'000;
    Admission e = admit(limiter, earlier);
    ASSERT_TRUE(e.admitted);
    limiter.settle(e.reservation, {1'000, kAlreadySpent});

    struct Outcome {
      std::int64_t cost = 0, tokens = 0, actual_cost = 0, actual_tokens = 0;
      Admission admission;
    };
    std::vector<Outcome> outcomes(kThreads);
    std::barrier sync(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<std::uint64_t>(round * 1000 + t));
        Outcome& o = outcomes[t];
        o.cost = std::uniform_int_distribution<std::int64_t>(30'000, 60'000)(rng);  // 64 x 45k >> 500k
        o.tokens = std::uniform_int_distribution<std::int64_t>(100, 4'000)(rng);
        AdmissionRequest r = base;
        r.cost_micros = o.cost;
        r.tokens = o.tokens;
        sync.arrive_and_wait();  // all ask at once
        o.admission = admit(limiter, r);
        sync.arrive_and_wait();  // all answered before anyone settles
        if (o.admission.admitted) {
          o.actual_cost = std::uniform_int_distribution<std::int64_t>(0, o.cost)(rng);
          o.actual_tokens = std::uniform_int_distribution<std::int64_t>(0, o.tokens)(rng);
          limiter.settle(o.admission.reservation, {o.actual_tokens, o.actual_cost});
        }
      });
    }
    for (auto& th : threads) th.join();

    std::int64_t held = 0, actual_cost = 0, actual_tokens = 0;
    int admitted = 0;
    for (const Outcome& o : outcomes) {
      if (!o.admission.admitted) continue;
      ++admitted;
      held += o.cost;
      actual_cost += o.actual_cost;
      actual_tokens += o.actual_tokens;
    }
    ASSERT_GT(admitted, 0);
    ASSERT_LT(admitted, kThreads);
    EXPECT_LE(held, kOrgCap - kAlreadySpent) << "round " << round;
    for (const Outcome& o : outcomes) {
      if (o.admission.admitted) continue;
      EXPECT_EQ(o.admission.denial, Denial::kSpend);
      EXPECT_EQ(o.admission.scope, "org");
      // Room only shrank while they raced, so no refused request would fit in what was left.
      EXPECT_GT(o.cost, kOrgCap - kAlreadySpent - held) << "round " << round;
    }

    // Probe the counters exactly: one past what is left is refused, exactly what is left fits.
    const std::int64_t spent = kAlreadySpent + actual_cost;
    const std::int64_t used_tokens = 1'000 + actual_tokens;
    AdmissionRequest probe = request_for("key_probe", env, org);
    probe.org.monthly_spend_micros = kOrgCap;
    probe.cost_micros = kOrgCap - spent + 1;
    EXPECT_EQ(admit(limiter, probe).scope, "org") << "round " << round;
    probe.org.monthly_spend_micros = 0;
    probe.environment.monthly_spend_micros = kEnvCap;
    probe.cost_micros = kEnvCap - spent + 1;
    EXPECT_EQ(admit(limiter, probe).denial, Denial::kSpend) << "round " << round;
    probe.environment.monthly_spend_micros = 0;
    probe.cost_micros = 0;
    probe.environment.monthly_tokens = 1'000'000;
    probe.tokens = 1'000'000 - used_tokens + 1;
    EXPECT_EQ(admit(limiter, probe).denial, Denial::kQuota) << "round " << round;
    probe.tokens = 1'000'000 - used_tokens;
    probe.cost_micros = kOrgCap - spent;
    probe.org.monthly_spend_micros = kOrgCap;
    EXPECT_TRUE(admit(limiter, probe).admitted) << "round " << round;
  }
}

TEST(LocalLimiterThreadsTest, ConcurrencyNeverExceededUnderThreads) {
  constexpr int kThreads = 64;
  constexpr std::int64_t kSlots = 4;
  cic::testing::FakeClock clock;
  LocalLimiter limiter(clock);
  std::atomic<int> in_flight{0}, peak{0}, admitted{0};
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      AdmissionRequest r = request_for("key_busy", "env_busy", "org_busy");
      r.key.concurrency = kSlots;
      sync.arrive_and_wait();
      for (int i = 0; i < 500; ++i) {
        Admission a = admit(limiter, r);
        if (!a.admitted) {
          EXPECT_EQ(a.denial, Denial::kConcurrency);
          continue;
        }
        admitted.fetch_add(1);
        int now = in_flight.fetch_add(1) + 1;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        in_flight.fetch_sub(1);  // before settle: the counted figure can only be lower than the truth
        limiter.settle(a.reservation, {});
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(peak.load(), kSlots);
  EXPECT_GT(admitted.load(), 0);
  AdmissionRequest r = request_for("key_busy", "env_busy", "org_busy");
  r.key.concurrency = kSlots;
  std::vector<Admission> held;
  for (int i = 0; i < kSlots; ++i) held.push_back(admit(limiter, r));
  for (const Admission& a : held) EXPECT_TRUE(a.admitted) << "every slot came back";
  EXPECT_FALSE(admit(limiter, r).admitted);
}

}  // namespace
}  // namespace cic::limits
