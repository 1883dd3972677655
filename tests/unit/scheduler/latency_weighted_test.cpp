// latency_weighted: power of two choices on EWMA latency x (in-flight + 1).
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <queue>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

using namespace std::chrono_literals;

/// Open-loop simulation: one request per millisecond for `picks` ms; a request stays in flight on
/// its node for that node's latency, and each completion feeds the node's EWMA. Returns picks per node.
std::vector<int> simulate(Strategy& strategy, cic::testing::NodeSet& set, const std::vector<int>& latency_ms,
                          int picks) {
  using Completion = std::pair<int, std::size_t>;  // (ms, node index)
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> pending;
  std::vector<int> counts(set.nodes.size(), 0);
  for (int now = 0; now < picks; ++now) {
    while (!pending.empty() && pending.top().first <= now) {
      auto& load = *set.nodes[pending.top().second].load;
      load.in_flight.fetch_sub(1);
      registry::record_latency(load, std::chrono::milliseconds(latency_ms[pending.top().second]));
      pending.pop();
    }
    const std::size_t i = set.index_of(strategy.pick(set.ptrs, {}));
    ++counts[i];
    set.nodes[i].load->in_flight.fetch_add(1);
    pending.push({now + latency_ms[i], i});
  }
  return counts;
}

TEST(LatencyWeighted, PrefersTheFastNodeByAWideMarginButStillUsesTheSlowOne) {
  cic::testing::NodeSet set(2);
  std::vector<int> latency_ms{10, 60};  // node 0 is 6x faster
  for (std::size_t i = 0; i < 2; ++i) {
    registry::record_latency(*set.nodes[i].load, std::chrono::milliseconds(latency_ms[i]));
  }
  LatencyWeightedStrategy strategy;
  auto counts = simulate(strategy, set, latency_ms, 10'000);
  EXPECT_EQ(counts[0] + counts[1], 10'000);
  EXPECT_GT(counts[0], 9'000) << "fast node";  // a wide margin
  EXPECT_GT(counts[1], 20) << "slow node";      // but the slow one still takes overflow
  EXPECT_LT(counts[1], 1'000) << "slow node";
}

TEST(LatencyWeighted, AmongManyNodesTheFastOnesTakeMostTraffic) {
  cic::testing::NodeSet set(8);
  std::vector<int> latency_ms{5, 5, 40, 40, 40, 40, 40, 40};
  for (std::size_t i = 0; i < set.nodes.size(); ++i) {
    registry::record_latency(*set.nodes[i].load, std::chrono::milliseconds(latency_ms[i]));
  }
  LatencyWeightedStrategy strategy;
  auto counts = simulate(strategy, set, latency_ms, 10'000);
  // At this load every sampled pair holding a fast node goes to it, so the fast pair's share is
  // capped by P(sampled) = 1 - C(6,2)/C(8,2) = 46%: nearly twice its fair 25%, each fast node more
  // than twice as busy as any slow one, and every slow node still used.
  const int fast = counts[0] + counts[1];
  EXPECT_GT(fast, 4'300) << "two fast nodes of eight";
  for (std::size_t i = 2; i < counts.size(); ++i) {
    EXPECT_GT(counts[i], 0) << "slow node " << i;
    EXPECT_LT(2 * counts[i], std::min(counts[0], counts[1])) << "slow node " << i;
  }
  // After the run every request has a completion scheduled; in-flight counts never went negative.
  for (const auto& n : set.nodes) EXPECT_GE(n.load->in_flight.load(), 0);
}

TEST(LatencyWeighted, WithStaticLoadTheWorseOfEverySampledPairIsNeverChosen) {
  cic::testing::NodeSet set(4);
  for (std::size_t i = 0; i < 4; ++i) set.nodes[i].load->ewma_latency_us = 1000 * static_cast<std::int64_t>(i + 1);
  LatencyWeightedStrategy strategy;
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 12'000; ++i) ++counts[set.index_of(strategy.pick(set.ptrs, {}))];
  // Two distinct of four sampled uniformly: node k wins the pairs with the 3 - k slower ones.
  EXPECT_NEAR(counts[0], 6'000, 400);  // 3 of 6 pairs
  EXPECT_NEAR(counts[1], 4'000, 400);  // 2 of 6
  EXPECT_NEAR(counts[2], 2'000, 400);  // 1 of 6
  EXPECT_EQ(counts[3], 0);
}

TEST(LatencyWeighted, NodesWithoutSamplesAreComparedOnInFlight) {
  cic::testing::NodeSet set(2);
  set.nodes[0].load->in_flight = 3;
  LatencyWeightedStrategy strategy;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[1]);
  // One sampled node: the unsampled one borrows its EWMA, so in-flight still decides.
  set.nodes[0].load->ewma_latency_us = 100'000;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[1]);
  set.nodes[1].load->in_flight = 9;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[0]);
}

}  // namespace
}  // namespace cic::scheduler
