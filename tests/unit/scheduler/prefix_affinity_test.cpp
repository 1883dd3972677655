// prefix_affinity: bounded-load consistent hashing on the affinity key.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

std::string key(int i) { return std::string("user-").append(std::to_string(i)); }

const registry::Node* pick(PrefixAffinityStrategy& s, std::span<const registry::Node* const> c, const std::string& k) {
  return s.pick(c, PickHints{k});
}

TEST(PrefixAffinity, TheSameKeyGoesToTheSameNode) {
  cic::testing::NodeSet set(10);
  PrefixAffinityStrategy strategy;
  for (int k = 0; k < 50; ++k) {
    const registry::Node* first = pick(strategy, set.ptrs, key(k));
    for (int i = 0; i < 20; ++i) ASSERT_EQ(pick(strategy, set.ptrs, key(k)), first) << key(k);
  }
  // Another strategy instance (another gateway replica), and a reordered candidate list, agree.
  PrefixAffinityStrategy other;
  std::vector<const registry::Node*> reversed(set.ptrs.rbegin(), set.ptrs.rend());
  for (int k = 0; k < 50; ++k) {
    EXPECT_EQ(pick(other, reversed, key(k)), pick(strategy, set.ptrs, key(k))) << key(k);
  }
}

TEST(PrefixAffinity, DifferentKeysSpreadOverAllNodes) {
  cic::testing::NodeSet set(10);
  PrefixAffinityStrategy strategy;
  std::vector<int> counts(10, 0);
  for (int k = 0; k < 10'000; ++k) ++counts[set.index_of(pick(strategy, set.ptrs, key(k)))];
  for (std::size_t i = 0; i < counts.size(); ++i) {
    EXPECT_GT(counts[i], 500) << "node " << i;  // each near 1,000 (100 points per node)
    EXPECT_LT(counts[i], 1'500) << "node " << i;
  }
}

TEST(PrefixAffinity, RespectsTheLoadBoundWhenEveryRequestHasTheSameKey) {
  cic::testing::NodeSet set(8);
  PrefixAffinityStrategy strategy;
  const registry::Node* home = pick(strategy, set.ptrs, "hot");
  for (int m = 1; m <= 1'000; ++m) {
    pick(strategy, set.ptrs, "hot")->load->in_flight.fetch_add(1);
    const auto bound = static_cast<std::int64_t>(std::ceil(1.25 * m / 8.0));
    for (const auto& n : set.nodes) ASSERT_LE(n.load->in_flight.load(), bound) << "after " << m << " on " << n.id;
  }
  // The home node sits at the bound; the overflow went round the ring to the next nodes, each
  // filled to the bound in turn: at least 1000 / 157 -> 7 nodes carry load.
  EXPECT_EQ(home->load->in_flight.load(), static_cast<std::int64_t>(std::ceil(1.25 * 1'000 / 8.0)));
  int used = 0;
  for (const auto& n : set.nodes) used += n.load->in_flight.load() > 0;
  EXPECT_GE(used, 7);
  // Once the home node drains, the key goes home again.
  home->load->in_flight = 0;
  EXPECT_EQ(pick(strategy, set.ptrs, "hot"), home);
}

TEST(PrefixAffinity, OnlyTheLeavingNodesKeysMove) {
  cic::testing::NodeSet set(10);
  PrefixAffinityStrategy strategy;
  std::vector<std::string> before;
  for (int k = 0; k < 10'000; ++k) before.push_back(pick(strategy, set.ptrs, key(k))->id);

  std::vector<const registry::Node*> without_n3;
  for (const auto* p : set.ptrs) {
    if (p->id != "n3") without_n3.push_back(p);
  }
  int moved = 0, was_on_n3 = 0;
  for (int k = 0; k < 10'000; ++k) {
    const std::string& now = pick(strategy, without_n3, key(k))->id;
    if (before[static_cast<std::size_t>(k)] == "n3") {
      ++was_on_n3;
      EXPECT_NE(now, "n3");
    }
    if (now != before[static_cast<std::size_t>(k)]) ++moved;
  }
  EXPECT_EQ(moved, was_on_n3);  // nothing else moved
  EXPECT_GT(moved, 500);        // ~1/10 of the keys
  EXPECT_LT(moved, 1'500);

  // Back to the full set (cached ring or rebuilt): the original mapping again.
  for (int k = 0; k < 10'000; k += 7) EXPECT_EQ(pick(strategy, set.ptrs, key(k))->id, before[static_cast<std::size_t>(k)]);
}

TEST(PrefixAffinity, StaysCorrectAcrossManyCandidateSets) {
  // More distinct sets than the per-thread cache has slots, interleaved: every answer is a member
  // of the set it was asked about and matches a fresh instance's answer.
  cic::testing::NodeSet set(40);
  std::vector<std::vector<const registry::Node*>> sets;
  for (std::size_t s = 0; s < 600; ++s) {
    std::vector<const registry::Node*> c;
    for (std::size_t i = 0; i < set.ptrs.size(); ++i) {
      if ((i * 7 + s) % 5 < 3 || i == s % 40) c.push_back(set.ptrs[i]);
    }
    c.resize(std::min<std::size_t>(c.size(), 5 + s % 19));
    sets.push_back(std::move(c));
  }
  PrefixAffinityStrategy strategy;
  std::map<std::pair<std::size_t, int>, const registry::Node*> first;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t s = 0; s < sets.size(); ++s) {
      for (int k = 0; k < 10; ++k) {
        const registry::Node* got = pick(strategy, sets[s], key(k));
        ASSERT_NE(std::find(sets[s].begin(), sets[s].end(), got), sets[s].end());
        auto [it, inserted] = first.emplace(std::pair{s, k}, got);
        EXPECT_EQ(it->second, got) << "set " << s << " key " << k;
      }
    }
  }
}

TEST(PrefixAffinity, ANodeReplacedAtTheSameAddressIsNotMistakenForTheOldOne) {
  // Same Node address, different node (new id, new NodeLoad): the cached ring must not be reused.
  std::vector<registry::Node> nodes;
  for (int i = 0; i < 5; ++i) nodes.push_back(cic::testing::scheduler_node(std::string("a").append(std::to_string(i))));
  std::vector<const registry::Node*> ptrs;
  for (const auto& n : nodes) ptrs.push_back(&n);
  PrefixAffinityStrategy strategy;
  std::vector<std::size_t> before;
  for (int k = 0; k < 200; ++k) before.push_back(static_cast<std::size_t>(pick(strategy, ptrs, key(k)) - &nodes[0]));

  nodes[2] = cic::testing::scheduler_node("replacement");  // new id and a new NodeLoad, same address
  PrefixAffinityStrategy fresh;
  std::vector<registry::Node> reference;
  for (const auto& n : nodes) reference.push_back(cic::testing::scheduler_node(n.id));
  std::vector<const registry::Node*> reference_ptrs;
  for (const auto& n : reference) reference_ptrs.push_back(&n);
  for (int k = 0; k < 200; ++k) {
    auto got = static_cast<std::size_t>(pick(strategy, ptrs, key(k)) - &nodes[0]);
    auto expected = static_cast<std::size_t>(pick(fresh, reference_ptrs, key(k)) - &reference[0]);
    EXPECT_EQ(got, expected) << key(k);
  }
}

TEST(PrefixAffinity, WithoutAKeyItIsLeastConnections) {
  cic::testing::NodeSet set(4);
  set.nodes[0].load->in_flight = 3;
  set.nodes[1].load->in_flight = 1;
  set.nodes[2].load->in_flight = 0;
  set.nodes[3].load->in_flight = 2;
  PrefixAffinityStrategy strategy;
  EXPECT_EQ(strategy.pick(set.ptrs, PickHints{}), set.ptrs[2]);
}

TEST(PrefixAffinity, ConcurrentPickersAgree) {
  cic::testing::NodeSet set(12);
  PrefixAffinityStrategy reference;
  std::vector<const registry::Node*> expected;
  for (int k = 0; k < 500; ++k) expected.push_back(pick(reference, set.ptrs, key(k)));
  PrefixAffinityStrategy strategy;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 10; ++round) {
        for (int k = 0; k < 500; ++k) {
          if (pick(strategy, set.ptrs, key(k)) != expected[static_cast<std::size_t>(k)]) ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace cic::scheduler
