// HealthPolicy ejection: threshold, backoff growth and cap, the pool share cap, resets.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cic/registry/health_policy.hpp"
#include "fakes/fake_clock.hpp"

namespace cic::registry {
namespace {

using namespace std::chrono_literals;

struct Pool {
  std::vector<Node> nodes;
  std::vector<const Node*> view;

  explicit Pool(int n) : nodes(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) {
      std::string id = "n";
      id += std::to_string(i);
      nodes[static_cast<std::size_t>(i)].id = id;
      nodes[static_cast<std::size_t>(i)].region = "eu";
      nodes[static_cast<std::size_t>(i)].models = {"m"};
    }
    for (const Node& node : nodes) view.push_back(&node);
  }
  Node& operator[](int i) { return nodes[static_cast<std::size_t>(i)]; }
};

bool ejected(const Node& node, const testing::FakeClock& clock) {
  return node.load->ejected_until_ns.load() > clock.now_ns();
}

std::int64_t ejection_left_ns(const Node& node, const testing::FakeClock& clock) {
  return node.load->ejected_until_ns.load() - clock.now_ns();
}

TEST(HealthPolicy, EjectsAfterThreeConsecutiveFailuresNotBefore) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(4);
  EXPECT_FALSE(policy.record_failure(pool[0], false, pool.view));
  EXPECT_FALSE(policy.record_failure(pool[0], true, pool.view));
  EXPECT_FALSE(ejected(pool[0], clock));
  EXPECT_TRUE(policy.record_failure(pool[0], false, pool.view));
  EXPECT_TRUE(ejected(pool[0], clock));
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(5s).count());

  clock.advance(5s);
  EXPECT_FALSE(ejected(pool[0], clock));
  auto s = policy.stats(pool[0]);
  EXPECT_EQ(s.ejections, 1u);
  EXPECT_EQ(s.consecutive_failures, 0);
}

TEST(HealthPolicy, SuccessResetsTheConsecutiveCount) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(4);
  for (int round = 0; round < 5; ++round) {
    EXPECT_FALSE(policy.record_failure(pool[1], false, pool.view));
    EXPECT_FALSE(policy.record_failure(pool[1], false, pool.view));
    policy.record_success(pool[1], 10ms);
  }
  EXPECT_FALSE(ejected(pool[1], clock));
  EXPECT_EQ(policy.stats(pool[1]).consecutive_failures, 0);
}

TEST(HealthPolicy, FailuresWhileEjectedDoNotCount) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(4);
  for (int i = 0; i < 3; ++i) policy.record_failure(pool[0], false, pool.view);
  ASSERT_TRUE(ejected(pool[0], clock));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(policy.record_failure(pool[0], false, pool.view));
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(5s).count());  // not extended
  clock.advance(5s);
  EXPECT_FALSE(policy.record_failure(pool[0], false, pool.view));  // one failure is not three
  EXPECT_FALSE(ejected(pool[0], clock));
}

TEST(HealthPolicy, BackoffDoublesUpToTheCapThenResetsAfterAHealthyPeriod) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);  // base 5 s, max 60 s, reset after 60 s
  Pool pool(4);
  const std::vector<std::chrono::seconds> expected{5s, 10s, 20s, 40s, 60s, 60s};
  for (auto want : expected) {
    for (int i = 0; i < 3; ++i) policy.record_failure(pool[2], false, pool.view);
    ASSERT_TRUE(ejected(pool[2], clock));
    EXPECT_EQ(ejection_left_ns(pool[2], clock), std::chrono::nanoseconds(want).count());
    clock.advance(want);
    // A quick success after the ejection does not reset the backoff.
    policy.record_success(pool[2], 5ms);
  }
  EXPECT_EQ(policy.stats(pool[2]).backoff_level, 6);

  // Healthy for 60 s after the last ejection ended: back to the base duration.
  clock.advance(60s);
  policy.record_success(pool[2], 5ms);
  EXPECT_EQ(policy.stats(pool[2]).backoff_level, 0);
  for (int i = 0; i < 3; ++i) policy.record_failure(pool[2], false, pool.view);
  EXPECT_EQ(ejection_left_ns(pool[2], clock), std::chrono::nanoseconds(5s).count());
}

TEST(HealthPolicy, BackoffResetsAfterAHealthyPeriodEvenWithoutSuccesses) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(4);
  for (int i = 0; i < 3; ++i) policy.record_failure(pool[0], false, pool.view);
  clock.advance(5s);
  for (int i = 0; i < 3; ++i) policy.record_failure(pool[0], false, pool.view);
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(10s).count());
  clock.advance(10s + 60s);
  for (int i = 0; i < 3; ++i) policy.record_failure(pool[0], false, pool.view);
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(5s).count());
}

TEST(HealthPolicy, ShareCapKeepsAThirdOfFourNodesIn) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);  // max_ejected_share 0.5
  Pool pool(4);
  for (int node = 0; node < 3; ++node) {
    for (int i = 0; i < 3; ++i) policy.record_failure(pool[node], false, pool.view);
  }
  EXPECT_TRUE(ejected(pool[0], clock));
  EXPECT_TRUE(ejected(pool[1], clock));
  EXPECT_FALSE(ejected(pool[2], clock));
  EXPECT_EQ(policy.stats(pool[2]).ejections_refused, 1u);
  EXPECT_EQ(policy.stats(pool[2]).consecutive_failures, 3);

  // Once a slot frees up, the refused node's next failure ejects it.
  clock.advance(5s);
  EXPECT_FALSE(ejected(pool[0], clock));
  EXPECT_TRUE(policy.record_failure(pool[2], false, pool.view));
  EXPECT_TRUE(ejected(pool[2], clock));
}

TEST(HealthPolicy, ShareCapCountsEjectionsMadeElsewhere) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(4);
  // The forwarder's connect-failure path ejects two nodes directly.
  pool[0].load->ejected_until_ns = clock.now_ns() + 1'000'000'000;
  pool[1].load->ejected_until_ns = clock.now_ns() + 1'000'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(policy.record_failure(pool[3], false, pool.view));
  EXPECT_FALSE(ejected(pool[3], clock));
}

TEST(HealthPolicy, SingleNodePoolIsNeverEjectedBelowFullShare) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(1);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(policy.record_failure(pool[0], false, pool.view));
  // No pool given means the node alone: same answer.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(policy.record_failure(pool[0], false));
  EXPECT_FALSE(ejected(pool[0], clock));

  HealthPolicy lenient(clock, {.max_ejected_share = 1.0});
  Pool other(1);
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(lenient.record_failure(other[0], false, other.view));
  EXPECT_TRUE(lenient.record_failure(other[0], false, other.view));
}

TEST(HealthPolicy, CustomThresholdAndBase) {
  testing::FakeClock clock;
  HealthPolicy policy(clock, {.consecutive_failures_to_eject = 5, .eject_base = 1s, .eject_max = 3s});
  Pool pool(2);
  HealthPolicy::Options o = policy.options();
  EXPECT_EQ(o.consecutive_failures_to_eject, 5);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(policy.record_failure(pool[0], false, pool.view));
  EXPECT_TRUE(policy.record_failure(pool[0], false, pool.view));
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(1s).count());
  clock.advance(1s);
  for (int i = 0; i < 5; ++i) policy.record_failure(pool[0], false, pool.view);
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(2s).count());
  clock.advance(2s);
  for (int i = 0; i < 5; ++i) policy.record_failure(pool[0], false, pool.view);
  EXPECT_EQ(ejection_left_ns(pool[0], clock), std::chrono::nanoseconds(3s).count());  // capped
}

TEST(HealthPolicy, ForgetDropsState) {
  testing::FakeClock clock;
  HealthPolicy policy(clock);
  Pool pool(4);
  policy.record_failure(pool[0], false, pool.view);
  policy.record_failure(pool[0], false, pool.view);
  policy.forget(pool[0].id);
  EXPECT_EQ(policy.stats(pool[0]).window_samples, 0u);
  EXPECT_FALSE(policy.record_failure(pool[0], false, pool.view));  // the count restarted
}

}  // namespace
}  // namespace cic::registry
