// round_robin and least_connections, plus the NodeLoad latency EWMA.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

using namespace std::chrono_literals;

TEST(RoundRobin, SpreadsEvenlyAcrossThreads) {
  cic::testing::NodeSet set(5);
  RoundRobinStrategy rr;
  std::vector<std::vector<int>> counts(4, std::vector<int>(5, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5'000; ++i) ++counts[t][set.index_of(rr.pick(set.ptrs, {}))];
    });
  }
  for (auto& th : threads) th.join();
  for (int n = 0; n < 5; ++n) {
    int total = 0;
    for (const auto& c : counts) total += c[n];
    EXPECT_EQ(total, 4'000) << "node " << n;  // 20k picks over 5 nodes, exactly even
  }
}

TEST(LeastConnections, PicksTheLeastLoaded) {
  cic::testing::NodeSet set(4);
  LeastConnectionsStrategy lc;
  set.nodes[0].load->in_flight = 7;
  set.nodes[1].load->in_flight = 3;
  set.nodes[2].load->in_flight = 1;
  set.nodes[3].load->in_flight = 4;
  EXPECT_EQ(lc.pick(set.ptrs, {}), set.ptrs[2]);
  for (int i = 0; i < 20; ++i) lc.pick(set.ptrs, {})->load->in_flight.fetch_add(1);
  // 35 in flight in total: levelled to 9,9,9,8 -- the initially busiest never got more than its 7 + 2.
  std::int64_t max = 0, min = 100;
  for (const auto& n : set.nodes) {
    max = std::max(max, n.load->in_flight.load());
    min = std::min(min, n.load->in_flight.load());
  }
  EXPECT_LE(max - min, 1);
}

TEST(RecordLatency, FirstSampleIsTakenThenAlphaIsOneEighth) {
  registry::NodeLoad load;
  EXPECT_EQ(load.ewma_latency_us.load(), 0);
  registry::record_latency(load, 1000us);
  EXPECT_EQ(load.ewma_latency_us.load(), 1000);
  registry::record_latency(load, 1800us);
  EXPECT_EQ(load.ewma_latency_us.load(), 1100);  // 1000 + (1800 - 1000) / 8
  registry::record_latency(load, 300us);
  EXPECT_EQ(load.ewma_latency_us.load(), 1000);  // 1100 - 800 / 8
  for (int i = 0; i < 100; ++i) registry::record_latency(load, 5000us);
  EXPECT_NEAR(static_cast<double>(load.ewma_latency_us.load()), 5000.0, 8.0);
  registry::NodeLoad zero;
  registry::record_latency(zero, 0us);
  EXPECT_EQ(zero.ewma_latency_us.load(), 1);  // 0 stays reserved for "no sample"
}

TEST(RecordLatency, ConcurrentWritersStayWithinTheSampleRange) {
  registry::NodeLoad load;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20'000; ++i) registry::record_latency(load, std::chrono::microseconds(t % 2 ? 2000 : 4000));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GE(load.ewma_latency_us.load(), 2000 - 8);
  EXPECT_LE(load.ewma_latency_us.load(), 4000);
}

}  // namespace
}  // namespace cic::scheduler
