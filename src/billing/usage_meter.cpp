// The meter: appends go to the write-ahead log; the flusher thread copies durable records to the
// store in batches and checkpoints the log after each one.
#include "cic/billing/usage_meter.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <optional>

namespace cic::billing {

namespace {
using Steady = std::chrono::steady_clock;
constexpr auto kFirstRetry = std::chrono::milliseconds(100);
}  // namespace

struct UsageMeter::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : backlog(prometheus::BuildGauge()
                    .Name("cic_usage_log_bytes")
                    .Help("Bytes of usage records in the write-ahead log that are not in the store yet")
                    .Register(r)
                    .Add({})),
        disk(prometheus::BuildGauge()
                 .Name("cic_usage_log_disk_bytes")
                 .Help("Bytes of every segment file of the usage write-ahead log")
                 .Register(r)
                 .Add({})),
        max(prometheus::BuildGauge()
                .Name("cic_usage_log_max_bytes")
                .Help("billing.wal_max_bytes: the backlog at which new billable requests are refused")
                .Register(r)
                .Add({})),
        pending(prometheus::BuildGauge()
                    .Name("cic_usage_log_records_pending")
                    .Help("Durable usage records not yet written to the store")
                    .Register(r)
                    .Add({})),
        full(prometheus::BuildGauge()
                 .Name("cic_usage_log_full")
                 .Help("1 while the usage log is full and billable requests are refused")
                 .Register(r)
                 .Add({})),
        refused(prometheus::BuildCounter()
                    .Name("cic_usage_log_refused_total")
                    .Help("Usage records the log could not take (full, stopped or a write error)")
                    .Register(r)
                    .Add({})),
        fsync(prometheus::BuildHistogram()
                  .Name("cic_usage_log_fsync_seconds")
                  .Help("fdatasync of one group-commit batch of the usage log")
                  .Register(r)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})),
        batch(prometheus::BuildHistogram()
                  .Name("cic_usage_log_batch_records")
                  .Help("Usage records per group-commit batch (one write, one fsync)")
                  .Register(r)
                  .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
        flush(prometheus::BuildHistogram()
                  .Name("cic_usage_flush_seconds")
                  .Help("One batch of usage records written to the store")
                  .Register(r)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                    0.5, 1, 2.5, 5})),
        flush_failures(prometheus::BuildCounter()
                           .Name("cic_usage_flush_failures_total")
                           .Help("Batches of usage records the store failed to take (each is retried)")
                           .Register(r)
                           .Add({})) {}

  prometheus::Gauge& backlog;
  prometheus::Gauge& disk;
  prometheus::Gauge& max;
  prometheus::Gauge& pending;
  prometheus::Gauge& full;
  prometheus::Counter& refused;
  prometheus::Histogram& fsync;
  prometheus::Histogram& batch;
  prometheus::Histogram& flush;
  prometheus::Counter& flush_failures;
  std::mutex mu;
  std::uint64_t refused_seen = 0;
};

UsageMeter::UsageMeter(store::Store& store, UsageMeterOptions options, prometheus::Registry* registry,
                       Observer on_flushed)
    : store_(store), options_(std::move(options)), on_flushed_(std::move(on_flushed)) {
  if (options_.flush_batch == 0) options_.flush_batch = 1;
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
  flusher_ = std::thread([this] { run_flusher(); });
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
  wake_.notify_one();
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
  wake_.notify_one();
  flusher_.join();
  refresh_metrics();
  const LogStats left = log_->stats();
  if (left.pending_records > 0) {
    spdlog::warn("usage meter: {} records are not in the store yet; they stay in the log ({}) and are written at "
                 "the next start",
                 left.pending_records, log_->slot_dir());
  }
}

bool UsageMeter::wait_for_work(Steady::time_point last_flush) {
  std::unique_lock lock(mu_);
  wake_.wait_until(lock, last_flush + options_.flush_interval, [&] { return kick_ || stopping_; });
  kick_ = false;
  return !stopping_ || Steady::now() < deadline_;
}

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

void UsageMeter::run_flusher() {
  LogPosition cursor = log_->checkpoint();
  std::optional<UsageLog::Batch> batch;  // kept across retries: the same records go again
  std::size_t asked = 0;                 // the size `batch` was read with
  auto retry = kFirstRetry;
  auto last_flush = Steady::now();
  auto last_checkpoint = Steady::now();
  bool unpersisted = false;  // the checkpoint moved in memory only (while draining)
  bool more = false;         // the last batch was full: more is waiting, no pause
  for (;;) {
    bool stopping = false;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
      if (stopping && Steady::now() >= deadline_) break;
    }
    if (!more && !stopping && !batch && !wait_for_work(last_flush)) break;
    more = false;
    try {
      if (!batch) {
        asked = log_->stats().pending_records > options_.flush_batch ? std::max(options_.flush_batch, options_.drain_batch)
                                                                     : options_.flush_batch;
        batch = log_->read(cursor, asked);
      }
    } catch (const std::exception& e) {
      spdlog::error("usage meter: {}", e.what());
      backoff(options_.retry_max);
      continue;
    }
    if (batch->records.empty()) {
      // Caught up. Persist a checkpoint left behind while draining, or one past damaged bytes.
      if (batch->next != cursor || unpersisted) {
        try {
          log_->commit(batch->next, 0);
          last_checkpoint = Steady::now();
          unpersisted = false;
        } catch (const std::exception& e) {
          spdlog::warn("usage meter: {}", e.what());
        }
      }
      cursor = batch->next;
      batch.reset();
      last_flush = Steady::now();
      if (stopping) break;  // drained
      continue;
    }
    const auto started = Steady::now();
    std::size_t written = 0;
    try {
      written = store_.insert_usage(batch->records);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mu_);
        ++stats_.failures;
      }
      if (metrics_) metrics_->flush_failures.Increment();
      spdlog::warn("usage meter: the store did not take {} records (retrying in {} ms): {}", batch->records.size(),
                   retry.count(), e.what());
      refresh_metrics();
      backoff(retry);
      retry = std::min(retry * 2, options_.retry_max);
      continue;
    }
    if (metrics_) metrics_->flush.Observe(std::chrono::duration<double>(Steady::now() - started).count());
    retry = kFirstRetry;
    const std::size_t count = batch->records.size();
    more = count >= asked || stopping;
    // While a backlog drains, the checkpoint (three fsyncs) is written once a second rather than
    // after every batch; a crash in between replays those batches, and the store skips them.
    const bool persist = !more || Steady::now() - last_checkpoint >= options_.checkpoint_interval;
    try {
      log_->commit(batch->next, count, persist);
      if (persist) last_checkpoint = Steady::now();
      unpersisted = !persist;
    } catch (const std::exception& e) {
      // The records are in the store; without the checkpoint they are replayed at the next start
      // and skipped there as duplicates. Nothing is lost.
      spdlog::warn("usage meter: {}", e.what());
    }
    cursor = batch->next;
    batch.reset();
    {
      std::lock_guard lock(mu_);
      stats_.written += written;
      stats_.duplicates += count - written;
      ++stats_.batches;
    }
    if (on_flushed_) on_flushed_(written, count - written);
    refresh_metrics();
    if (!more) last_flush = Steady::now();
  }
}

namespace {

// The parts of a PostgreSQL DSN that name the database (host, port, database), without the user,
// password or options: the owner of a log slot is written to disk in clear.
std::string postgres_identity(const std::string& dsn) {
  if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
    std::string rest = dsn.substr(dsn.find("://") + 3);
    rest = rest.substr(0, rest.find('?'));
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    const std::string database = slash == std::string::npos ? "" : rest.substr(slash);
    if (const auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
    return "postgres://" + authority + database;
  }
  // key=value pairs; a value may be single-quoted with backslash escapes.
  std::map<std::string, std::string> kept;
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
  };
  while (i < dsn.size()) {
    skip_spaces();
    std::string key;
    while (i < dsn.size() && dsn[i] != '=' && !std::isspace(static_cast<unsigned char>(dsn[i]))) key += dsn[i++];
    skip_spaces();
    if (i < dsn.size() && dsn[i] == '=') ++i;
    skip_spaces();
    std::string value;
    if (i < dsn.size() && dsn[i] == '\'') {
      for (++i; i < dsn.size() && dsn[i] != '\''; ++i) {
        if (dsn[i] == '\\' && i + 1 < dsn.size()) ++i;
        value += dsn[i];
      }
      ++i;
    } else {
      while (i < dsn.size() && !std::isspace(static_cast<unsigned char>(dsn[i]))) value += dsn[i++];
    }
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname") kept[key] = value;
  }
  std::string out = "postgres:";
  for (const auto& [key, value] : kept) out += " " + key + "=" + value;
  return out;
}

}  // namespace

std::string usage_log_owner(const config::StoreConfig& store) {
  if (store.backend == config::StoreConfig::Backend::kPostgres) return postgres_identity(store.postgres.dsn);
  return "sqlite:" + std::filesystem::absolute(store.sqlite.path).lexically_normal().string();
}

UsageMeterOptions meter_options(const config::BillingConfig& billing, const config::StoreConfig& store) {
  UsageMeterOptions o;
  o.log.dir = billing.wal_dir;
  o.log.owner = usage_log_owner(store);
  o.log.max_bytes = billing.wal_max_bytes;
  o.log.segment_bytes = billing.wal_segment_bytes;
  o.log.group_commit_max_delay = std::chrono::duration_cast<std::chrono::microseconds>(billing.group_commit_max_delay);
  o.flush_interval = billing.flush_interval;
  o.flush_batch = billing.flush_batch;
  o.drain_batch = billing.drain_batch;
  o.retry_max = billing.flush_retry_max;
  return o;
}

}  // namespace cic::billing
