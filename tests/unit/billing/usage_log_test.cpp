// UsageLog on real files: durability callbacks, group commit, replay, torn tails, corruption,
// rotation, checkpoints, the size bound, slots.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <set>

#include "cic/billing/usage_log_format.hpp"
#include "usage_log_support.hpp"

namespace cic::billing::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(UsageLogTest, AppendedRecordsAreDurableThenReadBackInOrder) {
  UsageLog log(options());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
  const auto records = read_all(log, 7);
  ASSERT_EQ(records.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(records[i].request_id, rid(i));
    EXPECT_EQ(records[i].prompt_tokens, 10 + i);
  }
  EXPECT_EQ(log.stats().pending_records, 100u);
  EXPECT_GT(log.stats().backlog_bytes, 100u * 100);
  EXPECT_TRUE(log.accepting());
}

TEST_F(UsageLogTest, DoneComesOnlyAfterTheFsyncThatCoveredTheRecord) {
  // Every fsync notes how many bytes of the file it covered; every completion checks that the
  // record's bytes were among them.
  std::mutex mu;
  std::vector<off_t> synced_sizes;
  auto o = options();
  o.sync_file = [&](int fd) {
    const off_t size = ::lseek(fd, 0, SEEK_END);
    const int rc = ::fdatasync(fd);
    std::lock_guard lock(mu);
    synced_sizes.push_back(size);
    return rc;
  };
  UsageLog log(o);
  std::atomic<int> ok{0};
  std::atomic<int> early{0};
  for (int i = 0; i < 200; ++i) {
    log.append(usage(rid(i), i), [&, i](bool durable) {
      if (!durable) return;
      // Record i ends after i + 1 frames; the header is 16 bytes.
      std::lock_guard lock(mu);
      std::string frames;
      for (int k = 0; k <= i; ++k) wal::append_frame(usage(rid(k), k), frames);
      if (synced_sizes.empty() || synced_sizes.back() < static_cast<off_t>(16 + frames.size())) ++early;
      ++ok;
    });
  }
  ASSERT_TRUE(log.wait_durable(5s));
  EXPECT_TRUE(eventually([&] { return ok.load() == 200; }));
  EXPECT_EQ(early.load(), 0);
}

TEST_F(UsageLogTest, RecordsArrivingDuringAnFsyncShareTheNextOne) {
  // A slow disk: each fsync takes 30 ms. The first record goes alone; the 99 that arrive while it
  // is being synced must go together, not one fsync each.
  std::atomic<int> syncs{0};
  std::atomic<bool> first_sync_started{false};
  auto o = options();
  o.sync_file = [&](int fd) {
    first_sync_started = true;
    std::this_thread::sleep_for(30ms);
    ++syncs;
    return ::fdatasync(fd);
  };
  std::vector<std::size_t> batches;
  std::mutex mu;
  UsageLog log(o, [&](std::chrono::nanoseconds, std::size_t records) {
    std::lock_guard lock(mu);
    batches.push_back(records);
  });
  const int header_syncs = syncs.load();  // the segment header of this process
  std::atomic<int> durable{0};
  log.append(usage(rid(0)), [&](bool ok) { durable += ok; });
  ASSERT_TRUE(eventually([&] { return syncs.load() > header_syncs || first_sync_started.load(); }));
  for (int i = 1; i < 100; ++i) log.append(usage(rid(i), i), [&](bool ok) { durable += ok; });
  ASSERT_TRUE(log.wait_durable(5s));
  EXPECT_TRUE(eventually([&] { return durable.load() == 100; }));
  std::lock_guard lock(mu);
  std::size_t total = 0;
  for (auto n : batches) total += n;
  EXPECT_EQ(total, 100u);
  EXPECT_LE(batches.size(), 3u) << "100 records, one slow fsync at a time: group commit";
  EXPECT_EQ(read_all(log).size(), 100u);
}

TEST_F(UsageLogTest, AnIdleLogWritesAtOnceAndABusyOneAtMostOncePerDelay) {
  auto o = options();
  o.group_commit_max_delay = 300ms;
  o.sync_file = [](int) { return 0; };  // no disk: only the log's own timing is measured
  UsageLog log(o);
  auto timed_append = [&](int i) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(append_sync(log, usage(rid(i), i)));
    return std::chrono::steady_clock::now() - start;
  };
  std::this_thread::sleep_for(320ms);  // longer than the delay: the log is idle
  EXPECT_LT(timed_append(0), 150ms) << "the first record after a quiet spell waits for no timer";
  EXPECT_GE(timed_append(1), 100ms) << "the next batch starts no sooner than the delay after the previous";
}

TEST_F(UsageLogTest, ManyThreadsAppendEveryRecordExactlyOnce) {
  UsageLog log(options());
  constexpr int kThreads = 4;
  constexpr int kEach = 2500;
  std::atomic<int> durable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int n = t * kEach + i;
        log.append(usage(rid(n), n), [&](bool ok) { durable += ok; });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log.wait_durable(10s));
  ASSERT_TRUE(eventually([&] { return durable.load() == kThreads * kEach; }));
  std::set<std::string> ids;
  for (const auto& r : read_all(log, 1000)) ids.insert(r.request_id);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST_F(UsageLogTest, ReopeningReplaysWhatWasNotCommitted) {
  {
    UsageLog log(options());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
    auto first = log.read(log.checkpoint(), 4);
    ASSERT_EQ(first.records.size(), 4u);
    log.commit(first.next, 4);
    EXPECT_EQ(log.stats().pending_records, 6u);
  }
  UsageLog log(options());
  EXPECT_EQ(log.recovery().records, 6u);
  EXPECT_EQ(log.recovery().torn_bytes, 0u);
  EXPECT_EQ(log.stats().pending_records, 6u);
  ASSERT_TRUE(append_sync(log, usage(rid(10), 10)));
  const auto records = read_all(log);
  ASSERT_EQ(records.size(), 7u);
  EXPECT_EQ(records.front().request_id, rid(4));
  EXPECT_EQ(records.back().request_id, rid(10));
}

TEST_F(UsageLogTest, TornTailIsTruncatedAndTheRecordsBeforeItKept) {
  {
    UsageLog log(options());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
  }
  // What SIGKILL in the middle of a batch's write leaves: half a record at the end.
  const auto segment = segments().back();
  std::string bytes = read_bytes(segment);
  std::string half;
  wal::append_frame(usage(rid(99), 99), half);
  half.resize(half.size() / 2);
  write_bytes(segment, bytes + half);

  UsageLog log(options());
  EXPECT_EQ(log.recovery().records, 10u);
  EXPECT_EQ(log.recovery().torn_bytes, half.size());
  EXPECT_EQ(log.recovery().corrupt_gaps, 0u);
  EXPECT_EQ(read_bytes(segment), bytes) << "cut back to the last whole record";
  ASSERT_TRUE(append_sync(log, usage(rid(10), 10)));
  const auto records = read_all(log);
  ASSERT_EQ(records.size(), 11u);
  EXPECT_EQ(records[9].request_id, rid(9));
  EXPECT_EQ(records[10].request_id, rid(10));
}

TEST_F(UsageLogTest, EveryPossibleCrashPointOfALastRecordRecovers) {
  std::string whole;
  {
    UsageLog log(options());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
  }
  const auto segment = segments().back();
  whole = read_bytes(segment);
  std::string last;
  wal::append_frame(usage(rid(3), 3), last);
  for (std::size_t cut = 0; cut <= last.size(); cut += 7) {
    write_bytes(segment, whole + last.substr(0, cut));
    UsageLog log(options());
    EXPECT_EQ(log.recovery().records, cut == last.size() ? 4u : 3u) << cut;
    // The reopen left its own (empty) segment behind; remove it so every round starts alike.
    for (const auto& s : segments()) {
      if (s != segment) std::filesystem::remove(s);
    }
  }
}

TEST_F(UsageLogTest, CorruptRecordInAnOlderSegmentIsSkippedNotTheRest) {
  {
    UsageLog log(options());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
  }
  // Damage record 5 (bit rot): records 0..4 and 6..9 stay readable.
  const auto segment = segments().back();
  std::string bytes = read_bytes(segment);
  std::size_t offset = wal::kSegmentHeaderBytes;
  for (int i = 0; i < 5; ++i) offset += wal::valid_frame_at(std::string_view(bytes).substr(offset));
  bytes[offset + 20] ^= 0x01;
  write_bytes(segment, bytes);
  {
    UsageLog log(options());  // a new segment: the damaged one is now an older one
    ASSERT_TRUE(append_sync(log, usage(rid(10), 10)));
  }
  UsageLog log(options());
  EXPECT_EQ(log.recovery().records, 10u);
  EXPECT_EQ(log.recovery().corrupt_gaps, 1u);
  const auto records = read_all(log);
  ASSERT_EQ(records.size(), 10u);
  std::set<std::string> ids;
  for (const auto& r : records) ids.insert(r.request_id);
  EXPECT_EQ(ids.count(rid(5)), 0u);
  EXPECT_EQ(ids.count(rid(6)), 1u);
  EXPECT_EQ(ids.count(rid(10)), 1u);
}

TEST_F(UsageLogTest, SegmentsRotateBySizeAndReadAcrossThem) {
  auto o = options();
  o.segment_bytes = 64 * 1024;
  UsageLog log(o);
  for (int i = 0; i < 1500; ++i) log.append(usage(rid(i), i), nullptr);
  ASSERT_TRUE(log.wait_durable(10s));
  EXPECT_GE(segments().size(), 3u);
  for (const auto& s : segments()) EXPECT_LE(std::filesystem::file_size(s), 64u * 1024 + 200);
  const auto records = read_all(log, 333);
  ASSERT_EQ(records.size(), 1500u);
  for (int i = 0; i < 1500; ++i) ASSERT_EQ(records[i].request_id, rid(i));
}

TEST_F(UsageLogTest, CommitDeletesWhollyFlushedSegmentsAndSurvivesReopen) {
  auto o = options();
  o.segment_bytes = 64 * 1024;
  {
    UsageLog log(o);
    for (int i = 0; i < 1500; ++i) log.append(usage(rid(i), i), nullptr);
    ASSERT_TRUE(log.wait_durable(10s));
    const std::size_t before = segments().size();
    // The first 1,000 records are in the store.
    LogPosition pos = log.checkpoint();
    std::size_t done = 0;
    while (done < 1000) {
      auto b = log.read(pos, 1000 - done);
      done += b.records.size();
      pos = b.next;
    }
    log.commit(pos, 1000);
    EXPECT_LT(segments().size(), before);
    EXPECT_EQ(log.stats().pending_records, 500u);
    EXPECT_EQ(log.read(log.checkpoint(), 1).records.at(0).request_id, rid(1000));
  }
  UsageLog log(o);
  EXPECT_EQ(log.recovery().records, 500u);
  const auto records = read_all(log);
  ASSERT_EQ(records.size(), 500u);
  EXPECT_EQ(records.front().request_id, rid(1000));
}

TEST_F(UsageLogTest, CleanStopWithEverythingCommittedLeavesNoSegments) {
  {
    UsageLog log(options());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
    log.stop();
    EXPECT_EQ(commit_all(log), 10u);
    EXPECT_TRUE(segments().empty());
  }
  UsageLog log(options());
  EXPECT_EQ(log.recovery().records, 0u);
  ASSERT_TRUE(append_sync(log, usage(rid(10), 10)));
  EXPECT_EQ(read_all(log).size(), 1u);
}

TEST_F(UsageLogTest, DamagedCheckpointReplaysTheWholeSlot) {
  {
    UsageLog log(options());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_sync(log, usage(rid(i), i)));
    auto b = log.read(log.checkpoint(), 6);
    log.commit(b.next, 6);
  }
  std::string checkpoint = read_bytes(slot() / "checkpoint");
  checkpoint[10] ^= 0x55;
  write_bytes(slot() / "checkpoint", checkpoint);
  UsageLog log(options());
  // Safe, because the store skips request ids it already has.
  EXPECT_EQ(log.recovery().records, 10u);
}

TEST_F(UsageLogTest, FullLogRefusesAdmissionThenAppendsPastTheReserve) {
  auto o = options();
  o.max_bytes = 1 << 20;  // the reserve above it is max(1 MiB, 1 %) = 1 MiB
  o.segment_bytes = 256 * 1024;
  o.sync_file = [](int) { return 0; };  // ~14,000 appends one by one: spare the disk
  UsageLog log(o);
  int appended = 0;
  while (log.accepting()) {
    ASSERT_TRUE(append_sync(log, usage(rid(appended), appended)));
    ++appended;
    ASSERT_LT(appended, 100'000);
  }
  EXPECT_GE(log.stats().backlog_bytes, 1u << 20);
  EXPECT_TRUE(log.stats().full);
  // Requests admitted before it filled are still logged, into the reserve...
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(append_sync(log, usage(rid(appended + i), i)));
  appended += 100;
  // ... but not forever.
  int refused = 0;
  for (int i = 0; i < 20'000 && refused == 0; ++i) refused += append_sync(log, usage(rid(appended + i), i)) ? 0 : 1;
  EXPECT_EQ(refused, 1);
  EXPECT_GE(log.stats().refused, 1u);
  // The store took everything: the log drains and accepts again.
  commit_all(log);
  EXPECT_TRUE(log.accepting());
  EXPECT_FALSE(log.stats().full);
  EXPECT_TRUE(append_sync(log, usage("after", 1)));
}

TEST_F(UsageLogTest, AFailedWriteFailsItsBatchOnlyAndLeavesNoGarbage) {
  std::atomic<int> fail_next{0};
  auto o = options();
  o.sync_file = [&](int fd) {
    if (fail_next.exchange(0) != 0) {
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  };
  UsageLog log(o);
  ASSERT_TRUE(append_sync(log, usage(rid(0))));
  fail_next = 1;
  EXPECT_FALSE(append_sync(log, usage(rid(1))));
  EXPECT_EQ(log.stats().write_errors, 1u);
  ASSERT_TRUE(append_sync(log, usage(rid(2))));
  const auto records = read_all(log);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].request_id, rid(0));
  EXPECT_EQ(records[1].request_id, rid(2));
  log.stop();
  UsageLog::Batch none = log.read(log.checkpoint(), 10);
  EXPECT_EQ(none.records.size(), 2u);
}

TEST_F(UsageLogTest, AppendsAfterStopAreRefusedAtOnce) {
  UsageLog log(options());
  ASSERT_TRUE(append_sync(log, usage(rid(0))));
  log.stop();
  EXPECT_FALSE(log.accepting());
  EXPECT_FALSE(append_sync(log, usage(rid(1))));
  EXPECT_EQ(read_all(log).size(), 1u);
}

TEST_F(UsageLogTest, TwoLiveProcessesGetTwoSlots) {
  UsageLog a(options());
  UsageLog b(options());
  EXPECT_EQ(a.recovery().slot, 0u);
  EXPECT_EQ(b.recovery().slot, 1u);
  ASSERT_TRUE(append_sync(a, usage("a1")));
  ASSERT_TRUE(append_sync(b, usage("b1")));
  EXPECT_EQ(read_all(a).at(0).request_id, "a1");
  EXPECT_EQ(read_all(b).at(0).request_id, "b1");
}

TEST_F(UsageLogTest, AnOrphanedSlotOfTheSameStoreIsAdopted) {
  {
    UsageLog a(options());
    UsageLog b(options());
    ASSERT_TRUE(append_sync(a, usage("a1")));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_sync(b, usage(rid(i), i)));
  }
  // One process comes back: it takes slot 0 and the records slot 1 still held.
  UsageLog log(options());
  EXPECT_EQ(log.recovery().slot, 0u);
  EXPECT_EQ(log.recovery().adopted_records, 5u);
  EXPECT_EQ(log.recovery().records, 6u);
  EXPECT_EQ(read_all(log).size(), 6u);
  EXPECT_TRUE(segments(1).empty());
}

TEST_F(UsageLogTest, ASlotOfAnotherStoreIsNeverReplayedHere) {
  {
    UsageLog other(options("postgres://db-a:5432/cic"));
    ASSERT_TRUE(append_sync(other, usage("for-a")));
  }
  UsageLog log(options("postgres://db-b:5432/cic"));
  EXPECT_EQ(log.recovery().slot, 1u) << "slot 0 still holds a record for the other store";
  EXPECT_EQ(log.recovery().records, 0u);
  EXPECT_FALSE(segments(0).empty());
  // Once that store's records are gone, its slot may be reused by anyone.
  {
    UsageLog drained(options("postgres://db-a:5432/cic"));
    EXPECT_EQ(drained.recovery().slot, 0u);
    drained.stop();
    EXPECT_EQ(commit_all(drained), 1u);
  }
  UsageLog reuse(options("postgres://db-c:5432/cic"));
  EXPECT_EQ(reuse.recovery().slot, 0u);
}

}  // namespace
}  // namespace cic::billing::testing
