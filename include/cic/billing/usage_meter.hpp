#pragma once
// The meter: usage records go to the write-ahead log (UsageLog) and flusher threads copy them
// from there to the store in batches, checkpointing after each. docs/billing.md.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cic/billing/usage_log.hpp"
#include "cic/billing/usage_sink.hpp"
#include "cic/config/config.hpp"
#include "cic/store/store.hpp"

namespace prometheus {
class Registry;
}

namespace cic::billing {

struct UsageMeterOptions {
  UsageLogOptions log;
  /// A record waits at most this long for its batch (plus the insert itself).
  std::chrono::milliseconds flush_interval{1'000};
  /// A batch is written as soon as this many records are durable.
  std::size_t flush_batch = 1000;
  /// A backlog (more than flush_batch waiting: after an outage, at start) goes this many at a
  /// time; fewer, larger transactions drain it faster.
  std::size_t drain_batch = 5000;
  /// While draining, the checkpoint is written at most this often (and always once caught up).
  std::chrono::milliseconds checkpoint_interval{1000};
  /// Batches inserted at once (each on its own store connection); the checkpoint still moves in
  /// log order. PostgreSQL drains a backlog faster with 2; SQLite serializes them anyway.
  unsigned flush_parallelism = 2;
  /// A failed insert is retried after 100 ms, doubling up to this.
  std::chrono::milliseconds retry_max{5'000};
};

/// The options the `billing:` section and the store section stand for.
UsageMeterOptions meter_options(const config::BillingConfig& billing, const config::StoreConfig& store);
/// What a log slot remembers as the store its records are for: the SQLite file's absolute path,
/// or the PostgreSQL host, port and database (never the user or password of the DSN).
std::string usage_log_owner(const config::StoreConfig& store);

/// UsageSink backed by the write-ahead log. Records reach the store within flush_interval (or
/// sooner, flush_batch at a time); while the store is down they wait in the log, bounded by
/// its max_bytes, and are written when it is back. Nothing is ever dropped once durable.
class UsageMeter final : public UsageSink {
 public:
  /// `on_flushed(new_rows, duplicates)` runs on a flusher thread after every batch.
  using Observer = std::function<void(std::size_t written, std::size_t duplicates)>;

  /// Opens (and replays) the log: BLOCKING, before the gateway accepts requests. The flusher
  /// starts at once with whatever the log held. Throws std::runtime_error if the log cannot be
  /// opened. `registry` (optional) receives the cic_usage_* metrics.
  UsageMeter(store::Store& store, UsageMeterOptions options, prometheus::Registry* registry = nullptr,
             Observer on_flushed = {});
  ~UsageMeter() override;

  void record(store::UsageRecord usage) override;
  void record_durable(store::UsageRecord usage, std::function<void(bool durable)> done) override;
  bool accepting() const override;

  /// Stops taking records (those already appended are fsynced), then writes to the store until
  /// the log is empty or `deadline` passes (what is left stays in the log for the next start).
  /// BLOCKING. Idempotent.
  void flush_and_stop(std::chrono::steady_clock::time_point deadline);
  /// Wakes the flusher now instead of at the end of the interval.
  void flush_now();

  UsageLog& log() { return *log_; }
  struct Stats {
    std::uint64_t written = 0;     // rows the store took as new
    std::uint64_t duplicates = 0;  // records the store already had (replays, retries)
    std::uint64_t batches = 0;
    std::uint64_t failures = 0;    // inserts that failed (and were retried)
  };
  Stats stats() const;

 private:
  struct Metrics;
  struct Job;
  void run_reader();
  void run_inserter();
  /// Commits the finished batches at the front of the window, in log order. False when one was
  /// abandoned at the stop deadline.
  bool commit_finished(bool caught_up, std::chrono::steady_clock::time_point& last_checkpoint, bool& unpersisted);
  void refresh_metrics();
  void backoff(std::chrono::milliseconds pause);
  bool past_deadline_locked() const;

  store::Store& store_;
  UsageMeterOptions options_;
  Observer on_flushed_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<UsageLog> log_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // the reader (and backoffs): work, a finished batch, stop
  std::condition_variable work_;  // the inserters: a queued batch, exit
  bool kick_ = false;
  bool stopping_ = false;
  bool inserters_exit_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  std::deque<std::shared_ptr<Job>> window_;  // read and not yet committed, in log order
  std::deque<std::shared_ptr<Job>> queue_;   // read and not yet taken by an inserter
  Stats stats_;
  std::vector<std::thread> inserters_;
  std::thread flusher_;  // the reader
};

}  // namespace cic::billing
