// UsageWriter under concurrent producers: every record lands exactly once.
#include <set>
#include <thread>
#include <vector>

#include "usage_writer_support.hpp"

namespace cic::billing {
namespace {

using namespace std::chrono_literals;

class UsageWriterConcurrency : public testing::SqliteUsageTest {};

TEST_F(UsageWriterConcurrency, TenThousandRecordsFromFourThreadsLandExactlyOnce) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  UsageWriter writer(*store_, {.interval = 20ms, .batch_size = 500}, observer());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "req_t";
        id += std::to_string(t);
        id += '_';
        id += std::to_string(i);
        writer.record(usage(id, i));
      }
    });
  }
  for (auto& th : threads) th.join();
  writer.flush_and_stop(in(10s));

  EXPECT_EQ(store_->count_usage(), 10'000u);
  EXPECT_EQ(written_, 10'000u);
  EXPECT_EQ(duplicates_, 0u);
  EXPECT_EQ(dropped_, 0u);
  EXPECT_EQ(writer.pending(), 0u);
  auto rows = store_->list_usage(0, 20'000);
  ASSERT_EQ(rows.size(), 10'000u);
  std::set<std::string> ids;
  for (const auto& r : rows) ids.insert(r.request_id);
  EXPECT_EQ(ids.size(), 10'000u);
  EXPECT_EQ(ids.count("req_t0_0"), 1u);
  EXPECT_EQ(ids.count("req_t3_2499"), 1u);
}

TEST_F(UsageWriterConcurrency, ReplayedRecordsFromManyThreadsAreWrittenOnce) {
  // Four threads all report the same 1000 requests (e.g. a retried hand-off): one row each.
  UsageWriter writer(*store_, {.interval = 20ms, .batch_size = 250}, observer());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&writer] {
      for (int i = 0; i < 1000; ++i) {
        std::string id = "req_";
        id += std::to_string(i);
        writer.record(usage(id, i));
      }
    });
  }
  for (auto& th : threads) th.join();
  writer.flush_and_stop(in(10s));
  EXPECT_EQ(store_->count_usage(), 1000u);
  EXPECT_EQ(written_, 1000u);
  EXPECT_EQ(duplicates_, 3000u);
}

}  // namespace
}  // namespace cic::billing
