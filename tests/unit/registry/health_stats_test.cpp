// HealthPolicy statistics: window percentiles, error rate, tokens/s, health score; thread safety.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cic/registry/health_policy.hpp"
#include "fakes/fake_clock.hpp"

namespace cic::registry {
namespace {

using namespace std::chrono_literals;

Node make_node(const std::string& id) {
  Node node;
  node.id = id;
  node.region = "eu";
  node.models = {"m"};
  return node;
}

TEST(HealthStats, PercentilesOverTheWindow) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Node node = make_node("a");
  EXPECT_EQ(policy.stats(node).p50_us, 0);  // no sample yet
  for (int i = 1; i <= 100; ++i) policy.record_success(node, std::chrono::microseconds(i * 10));
  auto s = policy.stats(node);
  EXPECT_EQ(s.window_samples, 100u);
  EXPECT_EQ(s.p50_us, 500);
  EXPECT_EQ(s.p95_us, 950);
  EXPECT_EQ(s.p99_us, 990);
  EXPECT_GT(s.ewma_latency_us, 0);

  // The window keeps the last 256 outcomes: after 256 samples of 7 ms the old ones are gone.
  for (std::size_t i = 0; i < kHealthWindow; ++i) policy.record_success(node, 7ms);
  s = policy.stats(node);
  EXPECT_EQ(s.window_samples, kHealthWindow);
  EXPECT_EQ(s.p50_us, 7000);
  EXPECT_EQ(s.p99_us, 7000);
}

TEST(HealthStats, ErrorRateOverTheWindow) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Node node = make_node("a");
  for (int i = 0; i < 30; ++i) {
    policy.record_success(node, 1ms);
    policy.record_success(node, 1ms);
    policy.record_failure(node, i % 2 == 0);  // alone in its pool: never ejected
  }
  auto s = policy.stats(node);
  EXPECT_EQ(s.window_samples, 90u);
  EXPECT_EQ(s.window_failures, 30u);
  EXPECT_EQ(s.window_timeouts, 15u);
  EXPECT_NEAR(s.error_rate, 1.0 / 3.0, 1e-12);
  EXPECT_EQ(s.p50_us, 1000);  // failures carry no latency

  // 256 successes push every failure out of the window.
  for (std::size_t i = 0; i < kHealthWindow; ++i) policy.record_success(node, 1ms);
  s = policy.stats(node);
  EXPECT_EQ(s.window_failures, 0u);
  EXPECT_DOUBLE_EQ(s.error_rate, 0.0);
}

TEST(HealthStats, TokensPerSecond) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Node node = make_node("a");
  policy.record_success(node, 1s, 100);
  policy.record_success(node, 500ms);  // no token count: left out of the rate
  policy.record_success(node, 1s, 300);
  EXPECT_DOUBLE_EQ(policy.stats(node).tokens_per_sec, 200.0);
}

TEST(HealthStats, ScoreFormula) {
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 0, 0, 0), 1.0);
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 0, 100, 100), 1.0);
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 0, 50, 100), 1.0);  // faster than median: capped
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 0, 200, 100), 0.5);
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 0.5, 100, 100), 0.25);
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 0.5, 200, 100), 0.125);
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(true, 0, 100, 100), 0.0);
  EXPECT_DOUBLE_EQ(HealthPolicy::health_score(false, 2.0, 100, 100), 0.0);
}

TEST(HealthStats, ScoreOrdersHealthySlowFailingEjected) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  std::vector<Node> nodes{make_node("healthy"), make_node("slow"), make_node("failing"),
                          make_node("ejected"), make_node("median")};
  std::vector<const Node*> pool;
  for (const Node& n : nodes) pool.push_back(&n);
  Node& healthy = nodes[0];
  Node& slow = nodes[1];
  Node& failing = nodes[2];
  Node& ejected = nodes[3];
  Node& median = nodes[4];

  for (int i = 0; i < 40; ++i) {
    policy.record_success(healthy, 100ms);
    policy.record_success(median, 100ms);
    policy.record_success(slow, 180ms);  // 1.8x the median: score ~0.56
    policy.record_success(ejected, 100ms);
    if (i % 3 == 0) {
      policy.record_failure(failing, false, pool);  // 1 in 3 fails: score ~0.44
    } else {
      policy.record_success(failing, 100ms);
    }
  }
  for (int i = 0; i < 3; ++i) policy.record_failure(ejected, true, pool);
  ASSERT_GT(ejected.load->ejected_until_ns.load(), clock.now_ns());

  EXPECT_EQ(HealthPolicy::pool_median_latency_us(pool), 100'000);
  const double s_healthy = policy.health_score(healthy, pool);
  const double s_slow = policy.health_score(slow, pool);
  const double s_failing = policy.health_score(failing, pool);
  const double s_ejected = policy.health_score(ejected, pool);
  EXPECT_DOUBLE_EQ(s_healthy, 1.0);
  EXPECT_GT(s_healthy, s_slow);
  EXPECT_GT(s_slow, s_failing);
  EXPECT_GT(s_failing, s_ejected);
  EXPECT_DOUBLE_EQ(s_ejected, 0.0);

  auto snap = policy.stats(ejected, pool);
  EXPECT_TRUE(snap.ejected);
  EXPECT_EQ(snap.node_id, "ejected");
  EXPECT_EQ(snap.ejections, 1u);
  EXPECT_DOUBLE_EQ(snap.score, 0.0);

  // Without a pool the latency term is neutral.
  EXPECT_DOUBLE_EQ(policy.health_score(slow), 1.0);
}

TEST(HealthStats, ConcurrentRecordingIsConsistent) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  std::vector<Node> nodes{make_node("a"), make_node("b")};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        Node& node = nodes[static_cast<std::size_t>((t + i) % 2)];
        if (i % 10 == 0) {
          policy.record_failure(node, false);
        } else {
          policy.record_success(node, std::chrono::microseconds(100 + i % 50), 10);
        }
        if (i % 100 == 0) (void)policy.stats(node);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const Node& node : nodes) {
    auto s = policy.stats(node);
    EXPECT_EQ(s.window_samples, kHealthWindow);
    EXPECT_FALSE(s.ejected);  // single-node pools are never ejected
    EXPECT_GE(s.p50_us, 100);
    EXPECT_LE(s.p99_us, 149);
  }
}

}  // namespace
}  // namespace cic::registry
