// Scheduling strategies.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "routing_support.hpp"

namespace cic::scheduler {
namespace {

using cic::testing::make_node;

class StrategyTest : public ::testing::Test {
 protected:
  StrategyTest() {
    for (int i = 0; i < 4; ++i) nodes_.push_back(make_node(std::string("n").append(std::to_string(i)), "eu", {"m"}));
    for (const auto& n : nodes_) ptrs_.push_back(&n);
  }
  std::vector<registry::Node> nodes_;
  std::vector<const registry::Node*> ptrs_;
  PickHints hints_;
};

TEST_F(StrategyTest, EmptyCandidatesGiveNull) {
  RoundRobinStrategy rr;
  LeastConnectionsStrategy lc;
  EXPECT_EQ(rr.pick({}, hints_), nullptr);
  EXPECT_EQ(lc.pick({}, hints_), nullptr);
  EXPECT_STREQ(rr.name(), "round_robin");
  EXPECT_STREQ(lc.name(), "least_connections");
}

TEST_F(StrategyTest, RoundRobinVisitsEveryNodeInTurn) {
  RoundRobinStrategy rr;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < ptrs_.size(); ++i) EXPECT_EQ(rr.pick(ptrs_, hints_), ptrs_[i]);
  }
}

TEST_F(StrategyTest, RoundRobinSpreadsEvenlyAcrossThreads) {
  RoundRobinStrategy rr;
  std::vector<std::map<const registry::Node*, int>> counts(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10'000; ++i) ++counts[t][rr.pick(ptrs_, hints_)];
    });
  }
  for (auto& th : threads) th.join();
  std::map<const registry::Node*, int> total;
  for (const auto& c : counts) {
    for (const auto& [node, n] : c) total[node] += n;
  }
  ASSERT_EQ(total.size(), 4u);
  for (const auto* n : ptrs_) EXPECT_EQ(total[n], 10'000) << n->id;  // 40k picks / 4 nodes exactly
}

TEST_F(StrategyTest, RoundRobinWithOneCandidate) {
  RoundRobinStrategy rr;
  std::vector<const registry::Node*> one{ptrs_[2]};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rr.pick(one, hints_), ptrs_[2]);
}

TEST_F(StrategyTest, LeastConnectionsPicksTheLeastInFlight) {
  LeastConnectionsStrategy lc;
  nodes_[0].load->in_flight = 5;
  nodes_[1].load->in_flight = 2;
  nodes_[2].load->in_flight = 9;
  nodes_[3].load->in_flight = 3;
  EXPECT_EQ(lc.pick(ptrs_, hints_), ptrs_[1]);
  nodes_[3].load->in_flight = 0;
  EXPECT_EQ(lc.pick(ptrs_, hints_), ptrs_[3]);
}

TEST_F(StrategyTest, LeastConnectionsBreaksTiesByPosition) {
  LeastConnectionsStrategy lc;
  for (auto& n : nodes_) n.load->in_flight = 4;
  nodes_[0].load->in_flight = 6;
  EXPECT_EQ(lc.pick(ptrs_, hints_), ptrs_[1]);
  EXPECT_EQ(lc.pick(ptrs_, hints_), ptrs_[1]);  // stateless: same answer again
}

TEST_F(StrategyTest, LeastConnectionsBalancesWhenRequestsStayInFlight) {
  LeastConnectionsStrategy lc;
  for (int i = 0; i < 40; ++i) lc.pick(ptrs_, hints_)->load->in_flight.fetch_add(1);
  for (const auto& n : nodes_) EXPECT_EQ(n.load->in_flight.load(), 10) << n.id;
}

}  // namespace
}  // namespace cic::scheduler
