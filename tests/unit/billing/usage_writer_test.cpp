// UsageWriter against a real SQLite store: timing, flushing, duplicates, backlog limits, retries.
#include <chrono>
#include <thread>

#include "usage_writer_support.hpp"

namespace cic::billing {
namespace {

using namespace std::chrono_literals;

class UsageWriterTest : public testing::SqliteUsageTest {};

TEST_F(UsageWriterTest, RecordsAreWrittenWithinTheInterval) {
  UsageWriter writer(*store_, {.interval = 20ms, .batch_size = 1000}, observer());
  auto started = std::chrono::steady_clock::now();
  writer.record(usage("req_1", 1));
  writer.record(usage("req_2", 2));
  writer.record(usage("req_3", 3));
  ASSERT_TRUE(eventually([&] { return store_->count_usage() == 3; }));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);  // one interval, not a long backlog
  EXPECT_TRUE(eventually([&] { return written_ == 3; }));  // observer runs right after the insert
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(duplicates_, 0u);
  EXPECT_EQ(dropped_, 0u);
}

TEST_F(UsageWriterTest, FieldsRoundTripThroughTheStore) {
  UsageWriter writer(*store_, {.interval = 20ms}, observer());
  writer.record(usage("req_a", 3));
  writer.flush_and_stop(in(5s));
  auto rows = store_->list_usage(0, 10);
  ASSERT_EQ(rows.size(), 1u);
  const auto& r = rows[0];
  EXPECT_EQ(r.request_id, "req_a");
  EXPECT_EQ(r.org_id, "org_1");
  EXPECT_EQ(r.environment_id, "env_1");
  EXPECT_EQ(r.api_key_id, "key_1");
  EXPECT_EQ(r.model, "llama-3-8b");
  EXPECT_EQ(r.region, "eu-west-1");
  EXPECT_EQ(r.node_id, "node_1");
  EXPECT_EQ(r.endpoint, "chat.completions");
  EXPECT_EQ(r.prompt_tokens, 13);
  EXPECT_EQ(r.completion_tokens, 23);
  EXPECT_EQ(r.cached_tokens, 3);
  EXPECT_EQ(r.latency_ms, 103);
  EXPECT_EQ(r.ttft_ms, 8);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.streamed);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.created_at, 1'700'000'000'003);
}

TEST_F(UsageWriterTest, FullBatchIsWrittenWithoutWaitingForTheInterval) {
  // An interval no test would wait for: only the batch size can trigger this write.
  UsageWriter writer(*store_, {.interval = 10min, .batch_size = 5}, observer());
  for (int i = 0; i < 5; ++i) writer.record(usage("req_" + std::to_string(i), i));
  ASSERT_TRUE(eventually([&] { return store_->count_usage() == 5; }));
  EXPECT_TRUE(eventually([&] { return written_ == 5; }));
  writer.flush_and_stop(in(5s));
}

TEST_F(UsageWriterTest, FlushAndStopWritesEverythingPending) {
  UsageWriter writer(*store_, {.interval = 10min, .batch_size = 100}, observer());
  for (int i = 0; i < 250; ++i) writer.record(usage("req_" + std::to_string(i), i));
  writer.flush_and_stop(in(5s));
  EXPECT_EQ(store_->count_usage(), 250u);
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_EQ(written_, 250u);
  EXPECT_EQ(duplicates_, 0u);
}

TEST_F(UsageWriterTest, FlushAndStopIsIdempotent) {
  UsageWriter writer(*store_, {.interval = 10min}, observer());
  writer.record(usage("req_1"));
  writer.flush_and_stop(in(5s));
  writer.flush_and_stop(in(5s));
  EXPECT_EQ(store_->count_usage(), 1u);
  EXPECT_EQ(written_, 1u);
}

TEST_F(UsageWriterTest, DestructorFlushes) {
  {
    UsageWriter writer(*store_, {.interval = 10min}, observer());
    writer.record(usage("req_1"));
    writer.record(usage("req_2"));
  }
  EXPECT_EQ(store_->count_usage(), 2u);
}

TEST_F(UsageWriterTest, DuplicateRequestIdsAreCountedAsDuplicates) {
  store_->insert_usage({usage("req_old")});  // written by an earlier process
  UsageWriter writer(*store_, {.interval = 10min}, observer());
  writer.record(usage("req_old"));
  writer.record(usage("req_1", 1));
  writer.record(usage("req_1", 2));  // a retry of the same request within one batch
  writer.record(usage("req_2", 2));
  writer.flush_and_stop(in(5s));
  EXPECT_EQ(store_->count_usage(), 3u);
  EXPECT_EQ(written_, 2u);
  EXPECT_EQ(duplicates_, 2u);
  auto rows = store_->list_usage(0, 10);  // ordered by (created_at, request_id)
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].request_id, "req_1");
  EXPECT_EQ(rows[0].prompt_tokens, 11);  // the first record of the request wins
  EXPECT_EQ(rows[1].request_id, "req_old");
  EXPECT_EQ(rows[2].request_id, "req_2");
}

TEST_F(UsageWriterTest, DuplicatesAcrossBatchesAreCounted) {
  UsageWriter writer(*store_, {.interval = 20ms}, observer());
  writer.record(usage("req_1"));
  ASSERT_TRUE(eventually([&] { return written_ == 1; }));
  writer.record(usage("req_1"));
  ASSERT_TRUE(eventually([&] { return duplicates_ == 1; }));
  writer.flush_and_stop(in(5s));
  EXPECT_EQ(store_->count_usage(), 1u);
  EXPECT_EQ(written_, 1u);
}

TEST_F(UsageWriterTest, BacklogBeyondMaxPendingIsDroppedAndCounted) {
  UsageWriter writer(*store_, {.interval = 10min, .batch_size = 1000, .max_pending = 3}, observer());
  for (int i = 0; i < 5; ++i) writer.record(usage("req_" + std::to_string(i), i));
  EXPECT_EQ(dropped_, 2u);  // reported synchronously by record()
  EXPECT_EQ(writer.pending(), 3u);
  writer.flush_and_stop(in(5s));
  EXPECT_EQ(store_->count_usage(), 3u);
  EXPECT_EQ(written_, 3u);
}

TEST_F(UsageWriterTest, RetriesUntilTheStoreAcceptsTheBatch) {
  // A real store that cannot take inserts yet: its schema is missing until we migrate it.
  auto fresh = store::make_sqlite_store((dir_ / "later.db").string());
  UsageWriter writer(*fresh, {.interval = 10ms}, observer());
  writer.record(usage("req_1"));
  writer.record(usage("req_2"));
  ASSERT_TRUE(eventually([&] { return batches_ == 0 && writer.pending() == 0; }));  // taken, not written
  EXPECT_EQ(written_, 0u);
  fresh->migrate();
  ASSERT_TRUE(eventually([&] { return written_ == 2; }));
  EXPECT_EQ(fresh->count_usage(), 2u);
  writer.flush_and_stop(in(5s));
}

TEST_F(UsageWriterTest, GivesUpAtTheStopDeadlineWhenTheStoreKeepsFailing) {
  auto broken = store::make_sqlite_store((dir_ / "never-migrated.db").string());
  UsageWriter writer(*broken, {.interval = 10ms}, observer());
  writer.record(usage("req_1"));
  auto started = std::chrono::steady_clock::now();
  writer.flush_and_stop(in(50ms));
  // The deadline can be overshot by at most one retry backoff (the first is 100 ms).
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(written_, 0u);
}

}  // namespace
}  // namespace cic::billing
