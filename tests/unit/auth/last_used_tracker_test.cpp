// LastUsedTracker: one pending timestamp per key (the latest), drained in one go.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "cic/auth/last_used_tracker.hpp"

namespace cic::auth {
namespace {

using Pending = std::vector<std::pair<std::string, std::int64_t>>;

Pending sorted(Pending v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(LastUsedTracker, EmptyDrainIsEmpty) {
  LastUsedTracker tracker;
  EXPECT_TRUE(tracker.drain().empty());
}

TEST(LastUsedTracker, KeepsTheMaximumPerKey) {
  LastUsedTracker tracker;
  tracker.record("key_a", 100);
  tracker.record("key_a", 300);
  tracker.record("key_a", 200);  // out of order: must not move it back
  tracker.record("key_b", 50);
  EXPECT_EQ(sorted(tracker.drain()), (Pending{{"key_a", 300}, {"key_b", 50}}));
}

TEST(LastUsedTracker, DrainEmptiesThePendingSet) {
  LastUsedTracker tracker;
  tracker.record("key_a", 100);
  EXPECT_EQ(tracker.drain().size(), 1u);
  EXPECT_TRUE(tracker.drain().empty());
  tracker.record("key_a", 50);  // a new period starts fresh, even with an older time
  EXPECT_EQ(tracker.drain(), (Pending{{"key_a", 50}}));
}

TEST(LastUsedTracker, ConcurrentRecordsKeepTheMaximum) {
  LastUsedTracker tracker;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&tracker, t] {
      for (int i = 0; i < 5000; ++i) tracker.record("key_" + std::to_string(i % 10), t * 10'000 + i);
    });
  }
  for (auto& th : threads) th.join();
  Pending got = sorted(tracker.drain());
  ASSERT_EQ(got.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(got[k].first, "key_" + std::to_string(k));
    EXPECT_EQ(got[k].second, 30'000 + 4990 + k);  // thread 3's last i with i % 10 == k
  }
}

}  // namespace
}  // namespace cic::auth
