// UsageMeter against a real SQLite store and a real log directory: flush timing and batching,
// replay after a crash, replay repeated, the store going away and coming back, the size bound.
#include <sqlite3.h>

#include <atomic>
#include <set>

#include "cic/billing/usage_meter.hpp"
#include "cic/store/store.hpp"
#include "usage_log_support.hpp"

namespace cic::billing::testing {
namespace {

using namespace std::chrono_literals;

class UsageMeterTest : public UsageLogTest {
 protected:
  void SetUp() override {
    UsageLogTest::SetUp();
    db_path_ = (dir_ / "db" / "cic.db").string();
    store_ = store::make_sqlite_store(db_path_);
    store_->migrate();
  }
  void TearDown() override {
    store_.reset();
    UsageLogTest::TearDown();
  }

  UsageMeterOptions meter_options(std::chrono::milliseconds interval = 20ms, std::size_t batch = 1000) const {
    UsageMeterOptions o;
    o.log = options("sqlite:" + db_path_);
    o.log.dir = (dir_ / "wal").string();
    o.flush_interval = interval;
    o.flush_batch = batch;
    o.drain_batch = batch;
    o.retry_max = 200ms;
    return o;
  }

  static bool record_sync(UsageMeter& meter, const store::UsageRecord& r) {
    std::promise<bool> outcome;
    auto future = outcome.get_future();
    meter.record_durable(r, [&outcome](bool durable) { outcome.set_value(durable); });
    return future.get();
  }

  std::size_t count() { return store_->count_usage(); }
  std::int64_t rollup_requests() {
    std::int64_t n = 0;
    for (const auto& h : store_->list_usage_hourly({})) n += h.requests;
    return n;
  }
  std::int64_t rollup_tokens() {
    std::int64_t n = 0;
    for (const auto& h : store_->list_usage_hourly({})) n += h.prompt_tokens + h.completion_tokens;
    return n;
  }

  /// Runs `sql` on the database behind the store's back (another process, an operator).
  void exec_raw(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  std::string db_path_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(UsageMeterTest, DurableRecordsReachTheStoreWithinTheInterval) {
  std::atomic<std::size_t> written{0};
  UsageMeter meter(*store_, meter_options(20ms), nullptr, [&](std::size_t w, std::size_t) { written += w; });
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(record_sync(meter, usage(rid(i), i)));
  EXPECT_TRUE(eventually([&] { return count() == 25; }));
  EXPECT_TRUE(eventually([&] { return written.load() == 25u; }));
  EXPECT_EQ(rollup_requests(), 25);
  EXPECT_TRUE(eventually([&] { return meter.log().stats().pending_records == 0; }));
}

TEST_F(UsageMeterTest, AFullBatchIsWrittenWithoutWaitingForTheInterval) {
  UsageMeter meter(*store_, meter_options(10min, 50));
  for (int i = 0; i < 50; ++i) meter.record(usage(rid(i), i));
  EXPECT_TRUE(eventually([&] { return count() == 50; }));
  EXPECT_TRUE(eventually([&] { return meter.stats().batches == 1u; }));
}

TEST_F(UsageMeterTest, FlushAndStopWritesEverythingAndLeavesAnEmptyLog) {
  {
    UsageMeter meter(*store_, meter_options(10min, 1000));
    for (int i = 0; i < 2500; ++i) meter.record(usage(rid(i), i));
    meter.flush_and_stop(std::chrono::steady_clock::now() + 10s);
    EXPECT_EQ(count(), 2500u);
    // At least 1000 + 1000 + 500; more when a full batch was taken while appends were still
    // arriving (the split depends on when the fsyncs fell).
    EXPECT_GE(meter.stats().batches, 3u);
    EXPECT_EQ(meter.stats().written, 2500u);
    meter.flush_and_stop(std::chrono::steady_clock::now() + 1s);  // idempotent
    EXPECT_FALSE(meter.accepting());
  }
  EXPECT_TRUE(segments_in(dir_ / "wal" / "slot-0").empty());
  UsageMeter again(*store_, meter_options());
  EXPECT_EQ(again.log().recovery().records, 0u);
}

TEST_F(UsageMeterTest, ABacklogDrainsInLargerBatchesAndCheckpointsOnceCaughtUp) {
  {
    UsageLog log(meter_options().log);
    for (int i = 0; i < 2600; ++i) log.append(usage(rid(i), i), nullptr);
    ASSERT_TRUE(log.wait_durable(10s));
  }
  auto o = meter_options(10min, 100);
  o.drain_batch = 1000;
  o.checkpoint_interval = 10min;
  UsageMeter meter(*store_, o);
  EXPECT_TRUE(eventually([&] { return count() == 2600; }));
  EXPECT_TRUE(eventually([&] { return meter.log().stats().pending_records == 0; }));
  // Batches of up to 1000 while more than 100 wait: 1000, 1000, 600.
  EXPECT_TRUE(eventually([&] { return meter.stats().batches == 3u; })) << meter.stats().batches;
  // Caught up: the checkpoint on disk is at the end, so a restart replays nothing.
  meter.flush_and_stop(std::chrono::steady_clock::now() + 5s);
  UsageLog reopened(meter_options().log);
  EXPECT_EQ(reopened.recovery().records, 0u);
}

TEST_F(UsageMeterTest, ParallelInsertersCommitInLogOrderAndLoseNothing) {
  {
    UsageLog log(meter_options().log);
    for (int i = 0; i < 20'000; ++i) log.append(usage(rid(i), i), nullptr);
    ASSERT_TRUE(log.wait_durable(20s));
  }
  auto o = meter_options(10min, 100);
  o.drain_batch = 700;  // 29 batches, four at a time
  o.flush_parallelism = 4;
  {
    UsageMeter meter(*store_, o);
    EXPECT_TRUE(eventually([&] { return meter.log().stats().pending_records == 0; }, 30s));
    // New records keep flowing while the backlog drains.
    for (int i = 20'000; i < 20'500; ++i) meter.record(usage(rid(i), i));
    meter.flush_and_stop(std::chrono::steady_clock::now() + 20s);
    EXPECT_EQ(meter.stats().duplicates, 0u);
  }
  EXPECT_EQ(count(), 20'500u);
  EXPECT_EQ(rollup_requests(), 20'500);
  UsageLog reopened(meter_options().log);
  EXPECT_EQ(reopened.recovery().records, 0u) << "the checkpoint reached the end";
}

TEST_F(UsageMeterTest, RecordsLoggedBeforeACrashAreWrittenAtTheNextStart) {
  {
    // The process dies after the records were acknowledged, before any flush: only the log has them.
    UsageLog log(meter_options().log);
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
  }
  ASSERT_EQ(count(), 0u);
  UsageMeter meter(*store_, meter_options(10min));
  EXPECT_EQ(meter.log().recovery().records, 300u);
  EXPECT_TRUE(eventually([&] { return count() == 300; })) << "replayed at once, not after the interval";
}

TEST_F(UsageMeterTest, ReplayingTheSameLogThreeTimesChangesNoTotal) {
  {
    UsageMeter meter(*store_, meter_options(10min));
    for (int i = 0; i < 400; ++i) {
      store::UsageRecord r = usage(rid(i), i);
      r.created_at = 1'700'000'000'000 + i * 30'000;  // spread over a few hours
      meter.record(r);
    }
    ASSERT_TRUE(meter.log().wait_durable(5s));
    // Keep a copy of the log as it is before any flush: the crash image to replay.
    std::filesystem::copy(dir_ / "wal", dir_ / "wal-image", std::filesystem::copy_options::recursive);
    meter.flush_and_stop(std::chrono::steady_clock::now() + 10s);
  }
  const std::size_t records = count();
  const std::int64_t requests = rollup_requests();
  const std::int64_t tokens = rollup_tokens();
  ASSERT_EQ(records, 400u);
  ASSERT_EQ(requests, 400);
  for (int replay = 0; replay < 3; ++replay) {
    std::filesystem::remove_all(dir_ / "wal");
    std::filesystem::copy(dir_ / "wal-image", dir_ / "wal", std::filesystem::copy_options::recursive);
    std::filesystem::remove(dir_ / "wal" / "slot-0" / "LOCK");
    UsageMeter meter(*store_, meter_options(10min));
    EXPECT_EQ(meter.log().recovery().records, 400u);
    meter.flush_and_stop(std::chrono::steady_clock::now() + 10s);
    EXPECT_EQ(meter.stats().written, 0u);
    EXPECT_EQ(meter.stats().duplicates, 400u);
    EXPECT_EQ(count(), records);
    EXPECT_EQ(rollup_requests(), requests);
    EXPECT_EQ(rollup_tokens(), tokens);
  }
}

TEST_F(UsageMeterTest, StoreDownKeepsEverythingAndTheBacklogDrainsWhenItReturns) {
  UsageMeter meter(*store_, meter_options(20ms, 100));
  ASSERT_TRUE(record_sync(meter, usage("before", 1)));
  ASSERT_TRUE(eventually([&] { return count() == 1; }));
  // The store breaks: every insert fails until the table is back.
  exec_raw("ALTER TABLE usage_records RENAME TO usage_records_away");
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(record_sync(meter, usage(rid(i), i)));
  ASSERT_TRUE(eventually([&] { return meter.stats().failures >= 2; }));
  EXPECT_EQ(meter.log().stats().pending_records, 500u);
  EXPECT_TRUE(meter.accepting());
  exec_raw("ALTER TABLE usage_records_away RENAME TO usage_records");
  EXPECT_TRUE(eventually([&] { return count() == 501; }, 10s));
  EXPECT_TRUE(eventually([&] { return meter.log().stats().pending_records == 0; }));
  EXPECT_EQ(rollup_requests(), 501);
}

TEST_F(UsageMeterTest, FullBacklogStopsAdmissionUntilTheStoreTakesItBack) {
  auto o = meter_options(20ms, 500);
  o.log.max_bytes = 1 << 20;
  o.log.segment_bytes = 128 * 1024;
  UsageMeter meter(*store_, o);
  exec_raw("ALTER TABLE usage_records RENAME TO usage_records_away");
  int n = 0;
  while (meter.accepting() && n < 100'000) {
    meter.record(usage(rid(n), n));
    ++n;
  }
  ASSERT_TRUE(meter.log().wait_durable(10s));
  EXPECT_FALSE(meter.accepting());
  exec_raw("ALTER TABLE usage_records_away RENAME TO usage_records");
  EXPECT_TRUE(eventually([&] { return meter.accepting(); }, 20s));
  EXPECT_TRUE(eventually([&] { return count() == static_cast<std::size_t>(n); }, 20s));
}

TEST_F(UsageMeterTest, StopWithTheStoreDownKeepsTheRecordsForTheNextStart) {
  exec_raw("ALTER TABLE usage_records RENAME TO usage_records_away");
  {
    UsageMeter meter(*store_, meter_options(20ms));
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(record_sync(meter, usage(rid(i), i)));
    meter.flush_and_stop(std::chrono::steady_clock::now() + 300ms);
  }
  exec_raw("ALTER TABLE usage_records_away RENAME TO usage_records");
  UsageMeter meter(*store_, meter_options(20ms));
  EXPECT_EQ(meter.log().recovery().records, 50u);
  EXPECT_TRUE(eventually([&] { return count() == 50; }));
}

TEST(UsageMeterOwner, NamesTheStoreWithoutCredentials) {
  config::StoreConfig pg;
  pg.backend = config::StoreConfig::Backend::kPostgres;
  pg.postgres.dsn = "postgresql://cic:s3cret@db.internal:6432/cic?sslmode=require";
  EXPECT_EQ(usage_log_owner(pg), "postgres://db.internal:6432/cic");
  pg.postgres.dsn = "host=db.internal port=6432 user=cic password='se cr\\'et' dbname=cic sslmode=require";
  EXPECT_EQ(usage_log_owner(pg), "postgres: dbname=cic host=db.internal port=6432");
  config::StoreConfig lite;
  lite.sqlite.path = "/var/lib/cic/./cic.db";
  EXPECT_EQ(usage_log_owner(lite), "sqlite:/var/lib/cic/cic.db");
}

}  // namespace
}  // namespace cic::billing::testing
