// load_aware: engine queue depth and KV usage plus gateway in-flight; ties in turn.
#include <gtest/gtest.h>

#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

TEST(LoadAware, ScoreWeighsQueueKvRunningAndInFlight) {
  registry::Node node;
  EXPECT_EQ(load_aware_score(node), 0);
  node.load->requests_waiting = 2;
  node.load->requests_running = 3;
  node.load->in_flight = 1;
  node.load->kv_cache_usage_milli = 500;
  EXPECT_EQ(load_aware_score(node), 1000 * (4 * 2 + 3 + 1) + 8 * 500);
  node.load->kv_cache_usage_milli = 5000;  // clamped to full
  node.load->requests_waiting = -1;        // a bad scrape counts as 0
  EXPECT_EQ(load_aware_score(node), 1000 * (3 + 1) + 8 * 1000);
  node.load->kv_cache_usage_milli = 500;  // a negative counter does not disturb an in-range kv
  EXPECT_EQ(load_aware_score(node), 1000 * (3 + 1) + 8 * 500);
  node.load->requests_waiting = 0;
  node.load->in_flight = -2;
  node.load->kv_cache_usage_milli = -7;
  EXPECT_EQ(load_aware_score(node), 1000 * 3);
  node.load->in_flight = 0;
  node.load->kv_cache_usage_milli = 1000;
  EXPECT_EQ(load_aware_score(node), 1000 * 3 + 8 * 1000);
}

TEST(LoadAware, PicksByTheScoreIncludingClampedCounters) {
  cic::testing::NodeSet set(3);
  set.nodes[0].load->requests_running = 2;
  set.nodes[0].load->kv_cache_usage_milli = 100;  // 2000 + 800
  set.nodes[1].load->requests_waiting = -5;       // a bad scrape counts as 0
  set.nodes[1].load->requests_running = 2;
  set.nodes[1].load->kv_cache_usage_milli = 50;   // 2000 + 400: the lowest
  set.nodes[2].load->requests_running = 1;
  set.nodes[2].load->kv_cache_usage_milli = 900;  // 1000 + 7200
  LoadAwareStrategy strategy;
  EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[1]);
  set.nodes[1].load->kv_cache_usage_milli = 4000;  // capped at 1000: 2000 + 8000
  EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[0]);
}

TEST(LoadAware, AvoidsTheNodeWithTheDeepQueueOrFullKvCache) {
  cic::testing::NodeSet set(4);
  set.nodes[0].load->requests_waiting = 12;
  set.nodes[0].load->requests_running = 64;
  set.nodes[0].load->kv_cache_usage_milli = 990;
  set.nodes[1].load->kv_cache_usage_milli = 970;
  set.nodes[1].load->requests_running = 20;
  set.nodes[2].load->requests_running = 20;
  set.nodes[2].load->kv_cache_usage_milli = 300;
  set.nodes[3].load->requests_running = 20;
  set.nodes[3].load->kv_cache_usage_milli = 250;
  LoadAwareStrategy strategy;
  EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[3]);

  // A burst between two scrapes: in-flight spreads it over the healthy nodes; the queued node gets nothing.
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 60; ++i) {
    const registry::Node* node = strategy.pick(set.ptrs, {});
    node->load->in_flight.fetch_add(1);
    ++counts[set.index_of(node)];
  }
  EXPECT_EQ(counts[0], 0);
  EXPECT_LT(counts[1], counts[2]);  // high KV usage costs ~5 requests' worth
  EXPECT_LE(counts[2], counts[3]);
  EXPECT_GT(counts[1], 0);
}

TEST(LoadAware, TiesAreTakenInTurn) {
  cic::testing::NodeSet set(3);
  LoadAwareStrategy strategy;
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 300; ++i) ++counts[set.index_of(strategy.pick(set.ptrs, {}))];
  EXPECT_EQ(counts, (std::vector<int>{100, 100, 100}));
  // Only the tied lowest take turns.
  set.nodes[1].load->requests_waiting = 1;
  std::vector<int> two(3, 0);
  for (int i = 0; i < 100; ++i) ++two[set.index_of(strategy.pick(set.ptrs, {}))];
  EXPECT_EQ(two, (std::vector<int>{50, 0, 50}));
}

TEST(LoadAware, PicksTheLowestInALargePool) {
  cic::testing::NodeSet set(600);
  for (auto& n : set.nodes) n.load->requests_running = 5;
  set.nodes[517].load->requests_running = 1;
  LoadAwareStrategy strategy;
  EXPECT_EQ(strategy.pick(set.ptrs, {}), set.ptrs[517]);
}

}  // namespace
}  // namespace cic::scheduler
