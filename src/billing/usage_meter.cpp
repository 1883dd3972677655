// The meter: appends go to the write-ahead log; the flusher copies durable records to the store.
//
// The flusher is one reader thread and `flush_parallelism` inserter threads. The reader takes
// batches off the log in order (the log has a single consumer), hands each to an inserter, and
// moves the checkpoint past a batch only once it and every batch before it are in the store, so
// the checkpoint never skips a record that a crash would then lose. Inserts are idempotent, so a
// batch that failed simply goes again, and batches may finish out of order.
#include "cic/billing/usage_meter.hpp"

#include <spdlog/spdlog.h>

#include "usage_meter_metrics.hpp"

namespace cic::billing {

namespace {
using Steady = std::chrono::steady_clock;
constexpr auto kFirstRetry = std::chrono::milliseconds(100);
}  // namespace

/// One batch between the reader and an inserter.
struct UsageMeter::Job {
  UsageLog::Batch batch;
  bool done = false;       // in the store (guarded by mu_)
  bool abandoned = false;  // given up at the stop deadline: it stays in the log
};

UsageMeter::UsageMeter(store::Store& store, UsageMeterOptions options, prometheus::Registry* registry,
                       Observer on_flushed)
    : store_(store), options_(std::move(options)), on_flushed_(std::move(on_flushed)) {
  options_.flush_batch = std::max<std::size_t>(1, options_.flush_batch);
  options_.drain_batch = std::max(options_.flush_batch, options_.drain_batch);
  options_.flush_parallelism = std::max(1u, options_.flush_parallelism);
  if (registry != nullptr) {
    metrics_ = std::make_unique<Metrics>(*registry);
    metrics_->max.Set(static_cast<double>(options_.log.max_bytes));
  }
  // Runs on the log's writer thread, which only exists once log_ is set.
  log_ = std::make_unique<UsageLog>(options_.log, [this](std::chrono::nanoseconds fsync_time, std::size_t records) {
    if (metrics_) {
      metrics_->fsync.Observe(std::chrono::duration<double>(fsync_time).count());
      metrics_->batch.Observe(static_cast<double>(records));
    }
    refresh_metrics();
    // A full batch is worth writing now rather than at the end of the interval.
    if (log_->stats().pending_records >= options_.flush_batch) flush_now();
  });
  refresh_metrics();
  for (unsigned i = 0; i < options_.flush_parallelism; ++i) inserters_.emplace_back([this] { run_inserter(); });
  flusher_ = std::thread([this] { run_reader(); });
  if (log_->recovery().records > 0) flush_now();  // replayed records go out at once
}

UsageMeter::~UsageMeter() { flush_and_stop(Steady::now() + std::chrono::seconds(5)); }

void UsageMeter::record(store::UsageRecord usage) {
  log_->append(usage, [id = usage.request_id, tokens = usage.prompt_tokens + usage.completion_tokens](bool durable) {
    if (!durable) spdlog::error("usage record {} ({} tokens) could not be logged and is NOT billed", id, tokens);
  });
}

void UsageMeter::record_durable(store::UsageRecord usage, std::function<void(bool)> done) {
  log_->append(usage, std::move(done));
}

bool UsageMeter::accepting() const { return log_->accepting(); }

void UsageMeter::flush_now() {
  {
    std::lock_guard lock(mu_);
    kick_ = true;
  }
  wake_.notify_all();
}

UsageMeter::Stats UsageMeter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void UsageMeter::refresh_metrics() {
  if (!metrics_) return;
  const LogStats s = log_->stats();
  metrics_->backlog.Set(static_cast<double>(s.backlog_bytes));
  metrics_->disk.Set(static_cast<double>(s.disk_bytes));
  metrics_->pending.Set(static_cast<double>(s.pending_records));
  metrics_->full.Set(s.full ? 1 : 0);
  std::lock_guard lock(metrics_->mu);
  if (s.refused > metrics_->refused_seen) {
    metrics_->refused.Increment(static_cast<double>(s.refused - metrics_->refused_seen));
    metrics_->refused_seen = s.refused;
  }
}

void UsageMeter::flush_and_stop(Steady::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    if (!flusher_.joinable()) return;
  }
  // Appends end first, so what the flusher drains below is everything there is.
  log_->stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    deadline_ = deadline;
  }
  wake_.notify_all();
  work_.notify_all();
  flusher_.join();
  for (auto& t : inserters_) t.join();
  refresh_metrics();
  const LogStats left = log_->stats();
  if (left.pending_records > 0) {
    spdlog::warn("usage meter: {} records are not in the store yet; they stay in the log ({}) and are written at "
                 "the next start",
                 left.pending_records, log_->slot_dir());
  }
}

bool UsageMeter::past_deadline_locked() const { return stopping_ && Steady::now() >= deadline_; }

void UsageMeter::backoff(std::chrono::milliseconds pause) {
  std::unique_lock lock(mu_);
  const auto until = Steady::now() + pause;
  for (;;) {
    // Once stopping, the deadline bounds the pause too.
    const auto limit = stopping_ ? std::min(until, deadline_) : until;
    if (Steady::now() >= limit) return;
    const bool was_stopping = stopping_;
    wake_.wait_until(lock, limit, [&] { return stopping_ != was_stopping; });
  }
}

void UsageMeter::run_inserter() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] { return !queue_.empty() || inserters_exit_; });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    auto retry = kFirstRetry;
    std::size_t written = 0;
    bool ok = false;
    for (;;) {
      const auto started = Steady::now();
      try {
        written = store_.insert_usage(job->batch.records);
        ok = true;
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(mu_);
          ++stats_.failures;
        }
        if (metrics_) metrics_->flush_failures.Increment();
        spdlog::warn("usage meter: the store did not take {} records (retrying in {} ms): {}",
                     job->batch.records.size(), retry.count(), e.what());
        refresh_metrics();
      }
      if (ok) {
        if (metrics_) metrics_->flush.Observe(std::chrono::duration<double>(Steady::now() - started).count());
        break;
      }
      backoff(retry);
      retry = std::min(retry * 2, options_.retry_max);
      std::lock_guard lock(mu_);
      if (past_deadline_locked()) break;
    }
    const std::size_t count = job->batch.records.size();
    {
      std::lock_guard lock(mu_);
      (ok ? job->done : job->abandoned) = true;
      if (ok) {
        stats_.written += written;
        stats_.duplicates += count - written;
        ++stats_.batches;
      }
    }
    wake_.notify_all();
    if (ok && on_flushed_) on_flushed_(written, count - written);
  }
}

bool UsageMeter::commit_finished(bool caught_up, Steady::time_point& last_checkpoint, bool& unpersisted) {
  for (;;) {
    std::shared_ptr<Job> job;
    bool last_in_window = false;
    {
      std::lock_guard lock(mu_);
      if (window_.empty()) return true;
      if (window_.front()->abandoned) return false;  // nothing after it may be committed either
      if (!window_.front()->done) return true;
      job = std::move(window_.front());
      window_.pop_front();
      last_in_window = window_.empty();
    }
    // While a backlog drains the checkpoint (three fsyncs) is written once a second rather than
    // after every batch; a crash in between replays those batches, and the store skips them.
    const bool persist = (last_in_window && caught_up) || Steady::now() - last_checkpoint >= options_.checkpoint_interval;
    try {
      log_->commit(job->batch.next, job->batch.records.size(), persist);
      if (persist) last_checkpoint = Steady::now();
      unpersisted = !persist;
    } catch (const std::exception& e) {
      // The records are in the store; without the checkpoint they are replayed at the next start
      // and skipped there as duplicates. Nothing is lost.
      spdlog::warn("usage meter: {}", e.what());
    }
    refresh_metrics();
  }
}

void UsageMeter::run_reader() {
  LogPosition cursor = log_->checkpoint();
  auto last_flush = Steady::now();
  auto last_checkpoint = Steady::now();
  bool unpersisted = false;  // the checkpoint moved in memory only (while draining)
  bool more = false;         // the last batch read was full: more is waiting, no pause
  std::size_t in_flight = 0; // records read but not committed
  for (;;) {
    if (!commit_finished(!more, last_checkpoint, unpersisted)) break;  // abandoned at the deadline
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      in_flight = 0;
      for (const auto& job : window_) in_flight += job->batch.records.size();
      if (past_deadline_locked()) break;
      stopping = stopping_;
      const auto finished = [&] { return !window_.empty() && (window_.front()->done || window_.front()->abandoned); };
      if (window_.size() >= options_.flush_parallelism) {
        // Every inserter is busy: wait for one (or for the deadline).
        wake_.wait_until(lock, stopping_ ? deadline_ : Steady::now() + std::chrono::seconds(1),
                         [&] { return finished() || past_deadline_locked(); });
        continue;
      }
      if (!more && !stopping && !kick_ && !finished()) {
        wake_.wait_until(lock, last_flush + options_.flush_interval, [&] { return kick_ || stopping_ || finished(); });
        if (finished() || (!kick_ && !stopping_ && Steady::now() < last_flush + options_.flush_interval)) continue;
      }
      kick_ = false;
      stopping = stopping_;
    }
    // The records not read yet decide the batch size: a backlog goes drain_batch at a time.
    const std::uint64_t pending = log_->stats().pending_records;
    const std::uint64_t unread = pending > in_flight ? pending - in_flight : 0;
    const std::size_t asked = unread > options_.flush_batch ? options_.drain_batch : options_.flush_batch;
    auto job = std::make_shared<Job>();
    try {
      job->batch = log_->read(cursor, asked);
    } catch (const std::exception& e) {
      spdlog::error("usage meter: {}", e.what());
      backoff(options_.retry_max);
      continue;
    }
    more = job->batch.records.size() >= asked;
    if (job->batch.records.empty()) {
      last_flush = Steady::now();
      bool idle = false;
      {
        std::lock_guard lock(mu_);
        idle = window_.empty();
        if (job->batch.next != cursor) {
          // Only damaged bytes: commit past them in order, like a batch.
          job->done = true;
          window_.push_back(job);
          idle = false;
        }
      }
      cursor = job->batch.next;
      if (idle && unpersisted) {
        try {
          log_->commit(cursor, 0);
          last_checkpoint = Steady::now();
          unpersisted = false;
        } catch (const std::exception& e) {
          spdlog::warn("usage meter: {}", e.what());
        }
      }
      if (stopping && idle) break;  // drained
      if (stopping) {
        std::unique_lock lock(mu_);
        wake_.wait_until(lock, deadline_, [&] { return (!window_.empty() && window_.front()->done) || window_.empty(); });
      }
      continue;
    }
    cursor = job->batch.next;
    if (!more) last_flush = Steady::now();
    {
      std::lock_guard lock(mu_);
      window_.push_back(job);
      queue_.push_back(std::move(job));
    }
    work_.notify_one();
  }
  {
    // Batches no inserter took yet stay in the log, like the abandoned ones.
    std::lock_guard lock(mu_);
    for (auto& job : queue_) job->abandoned = true;
    queue_.clear();
    inserters_exit_ = true;
  }
  work_.notify_all();
}

}  // namespace cic::billing
