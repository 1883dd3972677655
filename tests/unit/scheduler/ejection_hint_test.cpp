// PickHints::now_ns: the scanning strategies pass over passively ejected candidates.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

constexpr std::int64_t kNow = 1'000'000'000;

const std::vector<std::string> kScanning{"least_connections", "cost_optimized", "load_aware", "prefix_affinity"};

TEST(EjectionHint, ScanningStrategiesPassOverEjectedCandidates) {
  for (const auto& name : kScanning) {
    cic::testing::NodeSet set(6);
    for (auto& n : set.nodes) n.load->in_flight = 5;
    set.nodes[2].load->in_flight = 0;  // idle because it is ejected: the best, were it not
    set.nodes[2].load->ejected_until_ns = kNow + 1;
    set.nodes[4].load->in_flight = 1;
    auto strategy = make_strategy(name);
    PickHints hints;
    hints.now_ns = kNow;
    for (int i = 0; i < 50; ++i) {
      const std::string key = std::string("k").append(std::to_string(i));
      hints.affinity_key = key;
      const registry::Node* node = strategy->pick(set.ptrs, hints);
      ASSERT_NE(node, nullptr) << name;
      EXPECT_NE(node, set.ptrs[2]) << name;
    }
    if (name == "prefix_affinity") continue;  // the rest is about the least loaded node
    hints.affinity_key = {};
    EXPECT_EQ(strategy->pick(set.ptrs, hints), set.ptrs[4]) << name;
    // Ejection over (until == now), or no time given: the idle node counts again.
    set.nodes[2].load->ejected_until_ns = kNow;
    EXPECT_EQ(strategy->pick(set.ptrs, hints), set.ptrs[2]) << name;
    set.nodes[2].load->ejected_until_ns = kNow + 1;
    EXPECT_EQ(strategy->pick(set.ptrs, PickHints{}), set.ptrs[2]) << name;
  }
}

TEST(EjectionHint, EveryCandidateEjectedGivesNull) {
  for (const auto& name : kScanning) {
    cic::testing::NodeSet set(4);
    for (auto& n : set.nodes) n.load->ejected_until_ns = kNow + 5;
    auto strategy = make_strategy(name);
    PickHints hints;
    hints.now_ns = kNow;
    hints.affinity_key = "key";
    EXPECT_EQ(strategy->pick(set.ptrs, hints), nullptr) << name;
    hints.affinity_key = {};
    EXPECT_EQ(strategy->pick(set.ptrs, hints), nullptr) << name;
    EXPECT_NE(strategy->pick(set.ptrs, PickHints{}), nullptr) << name;
  }
}

// Passing over ejected candidates is exactly picking among the others: the consistent-hash home
// (the next node clockwise) and the load bound (total and count of the others) are the same.
TEST(EjectionHint, PrefixAffinityOverThePoolEqualsOverTheNonEjected) {
  cic::testing::NodeSet set(40);
  std::mt19937_64 rng(3);
  auto strategy = make_strategy("prefix_affinity");
  for (int round = 0; round < 200; ++round) {
    std::vector<const registry::Node*> live;
    for (std::size_t i = 0; i < set.nodes.size(); ++i) {
      set.nodes[i].load->in_flight = static_cast<std::int64_t>(rng() % 6);
      set.nodes[i].load->ejected_until_ns = rng() % 5 == 0 ? kNow + 1 : 0;
      if (set.nodes[i].load->ejected_until_ns.load() <= kNow) live.push_back(set.ptrs[i]);
    }
    for (int k = 0; k < 20; ++k) {
      const std::string key = std::string("session-").append(std::to_string(rng() % 1000));
      PickHints all;
      all.affinity_key = key;
      all.now_ns = kNow;
      PickHints plain;
      plain.affinity_key = key;
      EXPECT_EQ(strategy->pick(set.ptrs, all), strategy->pick(live, plain)) << "round " << round << " " << key;
    }
  }
}

}  // namespace
}  // namespace cic::scheduler
