#pragma once
// The usage write-ahead log: every usage record is appended here, and fsynced, before the client
// sees its response complete; the flusher (UsageMeter) later copies it to the store and
// checkpoints. Design and file format: docs/billing.md.
#include <atomic>
#include <chrono>
#include <compare>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cic/store/records.hpp"

namespace cic::billing {

/// A place in the log: a segment's sequence number and a byte offset in it.
struct LogPosition {
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  auto operator<=>(const LogPosition&) const = default;
};

struct UsageLogOptions {
  /// The log's directory. Several processes may share it: each takes its own slot
  /// (`<dir>/slot-N`, locked with flock) and never touches another live one.
  std::string dir = "var/usage-wal";
  /// Names the store the records are meant for (no secrets: see UsageMeter). A slot remembers its
  /// owner; slots of another owner that still hold records are left alone, never replayed here.
  std::string owner;
  /// A new segment is started once the current one would grow past this.
  std::uint64_t segment_bytes = 64ull << 20;
  /// Records not yet in the store may take this much; then admission refuses (accepting() is
  /// false). Appends of requests already admitted are still taken into a reserve of
  /// max(1 MiB, 1 %) above it; past that they fail.
  std::uint64_t max_bytes = 1ull << 30;
  /// Group commit: records that arrive while a batch is being written and fsynced always share
  /// the next batch. With a delay, the next batch also starts no sooner than this after the
  /// previous one started (fewer fsyncs, more latency); a record that arrives when the log has
  /// been idle that long is written at once. 0 (the default) = as soon as the previous is done.
  std::chrono::microseconds group_commit_max_delay{0};
  /// Tests and benches: replaces fdatasync (e.g. to slow it down or make it fail). Gets the fd.
  std::function<int(int fd)> sync_file;
};

/// What opening the log found; also logged.
struct LogRecovery {
  std::uint32_t slot = 0;
  LogPosition checkpoint;            // where replay starts
  std::size_t segments = 0;          // segments at or after the checkpoint
  std::size_t records = 0;           // valid records after the checkpoint (handed to the flusher)
  std::size_t adopted_records = 0;   // of those: taken over from orphaned slots of the same owner
  std::size_t torn_bytes = 0;        // truncated from the end of the last segment
  std::size_t corrupt_gaps = 0;      // damaged runs skipped (a valid record followed each)
  std::size_t corrupt_bytes = 0;
  std::size_t lost_tail_bytes = 0;   // damaged ends of older segments (nothing valid followed)
};

/// Counters and levels, for metrics. Cheap; any thread.
struct LogStats {
  std::uint64_t backlog_bytes = 0;    // records not yet in the store, as framed on disk
  std::uint64_t pending_records = 0;  // durable records not yet committed to the store
  std::uint64_t queued_records = 0;   // appended, waiting for their fsync
  std::uint64_t disk_bytes = 0;       // every segment file of the slot
  std::uint64_t refused = 0;          // appends refused (log full, stopped, write error)
  std::uint64_t write_errors = 0;
  bool full = false;                  // accepting() is false
};

/// The write-ahead log of one process. `append` may be called from any thread and never blocks on
/// I/O: records are serialized into a queue that a dedicated writer thread writes with one write()
/// and one fdatasync() per batch (group commit). The reader side (`read`, `commit`) belongs to one
/// consumer thread, the flusher.
class UsageLog {
 public:
  /// `done(durable)`: true once the fsync covering the record returned, on the log's writer
  /// thread; false when the record was refused (log full, log stopped: then at once on the
  /// calling thread) or could not be written (writer thread). Called exactly once; keep it short.
  using Done = std::function<void(bool durable)>;
  /// Called on the writer thread after every batch: its fsync time and record count.
  using SyncObserver = std::function<void(std::chrono::nanoseconds fsync_time, std::size_t records)>;

  /// Creates the directory if needed, takes a slot, adopts orphaned slots of the same owner,
  /// replays: validates every segment after the checkpoint, truncates a torn tail of the last
  /// one, and starts a new segment for this process. BLOCKING; throws std::runtime_error when the
  /// directory is unusable.
  explicit UsageLog(UsageLogOptions options, SyncObserver on_sync = {});
  ~UsageLog();
  UsageLog(const UsageLog&) = delete;
  UsageLog& operator=(const UsageLog&) = delete;

  void append(const store::UsageRecord& record, Done done);
  /// False once the backlog reaches max_bytes: new billable work should be refused.
  bool accepting() const;
  LogStats stats() const;
  const LogRecovery& recovery() const { return recovery_; }
  /// The slot directory in use.
  const std::string& slot_dir() const { return slot_dir_; }

  /// Consumer side (one thread). Up to `max` durable records from `from` on; `next` is where the
  /// following read starts (past damaged bytes too). Empty when nothing durable is left. BLOCKING.
  struct Batch {
    std::vector<store::UsageRecord> records;
    LogPosition next;
  };
  Batch read(LogPosition from, std::size_t max);
  /// Where the records not yet in the store begin (the checkpoint).
  LogPosition checkpoint() const;
  /// Everything before `upto` (`records` of them) is in the store. With `persist`, writes the
  /// checkpoint atomically (tmp file, fsync, rename, fsync of the directory) and deletes the
  /// segments wholly before it; without, only the backlog accounting moves (a crash then replays
  /// a little more, which the store absorbs). BLOCKING. Throws std::runtime_error if the
  /// checkpoint cannot be written.
  void commit(LogPosition upto, std::size_t records, bool persist = true);
  /// Blocks until the durable end of the log is past every record appended before the call (or
  /// the timeout passes). True if so.
  bool wait_durable(std::chrono::milliseconds timeout);

  /// Writes and fsyncs what is queued, then stops the writer; later appends are refused. The
  /// reader side keeps working. Idempotent.
  void stop();

 private:
  struct Segment {
    std::uint64_t size = 0;  // bytes on disk (the durable end, for the active one)
  };

  // Opening (usage_log_slot.cpp).
  void open_slot();
  void recover();
  void adopt_orphans();
  // Writer side (the constructor, then the writer thread only).
  void start_segment(std::uint64_t sequence);
  /// How many of the batch's records (from the front) are durable.
  std::size_t write_batch(const std::string& bytes, std::size_t records);
  bool write_chunk(std::string_view bytes, std::size_t records);
  void run_writer();
  int sync(int fd) const;
  // Fill level: full_/accepting_ from the backlog (mu_ held), and the 50/80/100 % log lines.
  void refresh_fill_locked();
  void log_fill_level();
  std::uint64_t backlog_locked() const;
  void write_checkpoint(LogPosition position);

  UsageLogOptions options_;
  SyncObserver on_sync_;
  std::uint64_t reserve_bytes_ = 0;
  std::string slot_dir_;
  int lock_fd_ = -1;
  int dir_fd_ = -1;
  LogRecovery recovery_;

  mutable std::mutex mu_;
  std::condition_variable wake_writer_;
  std::condition_variable durable_cv_;
  std::string queued_;              // framed records waiting for the writer
  std::vector<Done> queued_done_;
  std::uint64_t appended_ = 0;      // records ever queued (tickets for wait_durable)
  std::uint64_t durable_count_ = 0; // records ever made durable or failed
  std::map<std::uint64_t, Segment> segments_;  // every segment file of the slot, by sequence
  LogPosition durable_;             // end of the durable data (in the active segment)
  LogPosition checkpoint_;
  std::uint64_t backlog_ = 0;       // bytes from checkpoint_ to durable_
  std::uint64_t pending_records_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t write_errors_ = 0;
  bool full_ = false;
  std::atomic<bool> accepting_{true};
  int fill_level_ = 0;              // 0, 50, 80 or 100: the last level logged
  bool stopping_ = false;
  bool stopped_ = false;            // the writer has exited

  // Writer thread only (and the constructor before it).
  bool observe_ = false;  // on_sync_ is called (not during adoption in the constructor)
  int active_fd_ = -1;
  std::chrono::steady_clock::time_point last_batch_start_{};

  // Reader thread only: the segment it has open.
  int read_fd_ = -1;
  std::uint64_t read_segment_ = 0;
  std::string read_buffer_;

  std::thread writer_;
};

}  // namespace cic::billing
