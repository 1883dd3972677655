// cost_optimized: cheapest price per token with headroom, least in-flight when all are full.
#include <gtest/gtest.h>

#include "cic/scheduler/strategy.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

class CostOptimizedTest : public ::testing::Test {
 protected:
  CostOptimizedTest() : set_(4) {
    // Price per token-per-second: n0 4000, n1 2000, n2 1000 (cheapest, though the dearest per hour
    // but one), n3 unknown capacity (most expensive whatever its hourly price).
    configure(0, 4'000'000, 1'000);
    configure(1, 2'000'000, 1'000);
    configure(2, 3'000'000, 3'000);
    configure(3, 1, 0);
    for (auto& n : set_.nodes) n.load->max_in_flight = 2;
  }
  void configure(std::size_t i, std::int64_t price, std::int64_t capacity) {
    set_.nodes[i].price_per_hour_micros = price;
    set_.nodes[i].capacity_tokens_per_sec = capacity;
  }
  std::size_t pick_and_hold() {
    const registry::Node* node = strategy_.pick(set_.ptrs, {});
    node->load->in_flight.fetch_add(1);
    return set_.index_of(node);
  }
  cic::testing::NodeSet set_;
  CostOptimizedStrategy strategy_;
};

TEST_F(CostOptimizedTest, FillsTheCheapestPerTokenFirstThenMovesOn) {
  std::vector<std::size_t> order;
  for (int i = 0; i < 8; ++i) order.push_back(pick_and_hold());
  EXPECT_EQ(order, (std::vector<std::size_t>{2, 2, 1, 1, 0, 0, 3, 3}));
}

TEST_F(CostOptimizedTest, WhenAllAreFullFallsBackToLeastInFlight) {
  for (int i = 0; i < 8; ++i) pick_and_hold();
  set_.nodes[0].load->in_flight = 5;
  set_.nodes[1].load->in_flight = 3;
  set_.nodes[2].load->in_flight = 4;
  set_.nodes[3].load->in_flight = 2;  // the most expensive, but the least loaded
  EXPECT_EQ(strategy_.pick(set_.ptrs, {}), set_.ptrs[3]);
}

TEST_F(CostOptimizedTest, ReturnsToTheCheapestWhenItFreesUp) {
  for (int i = 0; i < 4; ++i) pick_and_hold();  // n2 and n1 full
  set_.nodes[2].load->in_flight.fetch_sub(1);
  EXPECT_EQ(pick_and_hold(), 2u);
}

TEST_F(CostOptimizedTest, EqualPricesGoToTheLessLoaded) {
  configure(0, 1'000'000, 1'000);
  configure(1, 2'000'000, 2'000);  // the same price per token as n0
  configure(2, 9'000'000, 1'000);
  set_.nodes[0].load->in_flight = 1;
  EXPECT_EQ(strategy_.pick(set_.ptrs, {}), set_.ptrs[1]);
}

TEST(CostOptimizedSoftCap, DerivedFromCapacityWhenUnset) {
  registry::Node node;
  node.capacity_tokens_per_sec = 3'000;
  EXPECT_EQ(soft_max_in_flight(node), 3'000 / kTokensPerSecPerRequest);
  node.capacity_tokens_per_sec = 5;
  EXPECT_EQ(soft_max_in_flight(node), 1);
  node.capacity_tokens_per_sec = 0;
  EXPECT_EQ(soft_max_in_flight(node), kDefaultMaxInFlight);
  node.load->max_in_flight = 7;
  EXPECT_EQ(soft_max_in_flight(node), 7);
}

}  // namespace
}  // namespace cic::scheduler
