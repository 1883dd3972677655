// The usage meter's two costs (docs/benchmarks.md, "Usage meter"):
//
// 1. What the write-ahead append adds to a request: appends paced at 1,000 a second (open loop:
//    scheduled at t0 + i / rate), each timed from its scheduled time to its durability callback,
//    i.e. through the group-commit queue, one write() and one fdatasync(). Run with the default
//    group-commit delay (billing.group_commit_max_delay_ms, 0) and with 1 and 2 ms. The log
//    goes to CIC_BENCH_WAL_DIR (default: a temp directory under $TMPDIR; put it on the disk the
//    daemon's var/ is on).
// 2. Records per second the meter moves into PostgreSQL: a log of N records (200,000) is written
//    first, then a UsageMeter opens it and the flusher replays it into a fresh schema with the
//    default settings (a backlog goes 5,000 per transaction, two transactions at a time: column
//    arrays merged into usage_records and usage_hourly, then the checkpoint); timed from the
//    meter's start to the last checkpoint. Then insert_usage alone (one connection, no log) at
//    1,000 and 5,000 per batch, for new records and for replayed ones (all duplicates). Needs
//    CIC_BENCH_POSTGRES_DSN (bench/run.sh starts a private server); without it that part is
//    skipped.
//
// Arguments: [seconds=5] [rate=1000] [records=200000]. Exits 0; it reports, it does not assert.
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cic/billing/usage_log.hpp"
#include "cic/billing/usage_meter.hpp"
#include "cic/common/ids.hpp"
#include "cic/store/store.hpp"

namespace {

using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

cic::store::UsageRecord make_record(std::size_t i) {
  cic::store::UsageRecord r;
  r.request_id = "req_bench_" + std::to_string(i) + "_0123456789abcdef";
  r.org_id = "org_" + std::to_string(i % 100);
  r.environment_id = "env_" + std::to_string(i % 300);
  r.api_key_id = "key_" + std::to_string(i % 1000);
  static const char* kModels[] = {"llama-3.1-8b-instruct", "mistral-7b-instruct", "qwen-2.5-7b", "bge-small-en-v1.5"};
  r.model = kModels[i % 4];
  r.region = i % 3 == 0 ? "india" : "europe";
  r.node_id = "node_" + std::to_string(i % 50);
  r.endpoint = i % 4 == 3 ? "embeddings" : "chat.completions";
  r.prompt_tokens = 200 + static_cast<std::int64_t>(i % 1000);
  r.completion_tokens = 100 + static_cast<std::int64_t>(i % 500);
  r.cached_tokens = static_cast<std::int64_t>(i % 64);
  r.latency_ms = 800;
  r.ttft_ms = 90;
  r.status = 200;
  r.streamed = i % 2 == 0;
  r.created_at = 1'700'000'000'000 + static_cast<std::int64_t>(i) * 400;  // ~a day for 200k
  return r;
}

double percentile(const std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

void wait_until(Steady::time_point when) {
  const auto spin = std::chrono::microseconds(200);
  if (Steady::now() < when - spin) std::this_thread::sleep_until(when - spin);
  while (Steady::now() < when) {
  }
}

fs::path scratch_dir(const char* what) {
  const char* base = std::getenv("CIC_BENCH_WAL_DIR");
  fs::path dir = (base && *base ? fs::path(base) : fs::temp_directory_path()) / cic::new_id(what);
  fs::create_directories(dir);
  return dir;
}

void bench_append_latency(int seconds, int rate, std::chrono::microseconds delay, bool is_default) {
  const fs::path dir = scratch_dir("cic-bench-wal");
  cic::billing::UsageLogOptions options;
  options.dir = dir.string();
  options.owner = "bench";
  options.group_commit_max_delay = delay;
  std::atomic<std::size_t> batches{0};
  std::vector<double> fsync_ns;
  std::mutex fsync_mu;
  {
    cic::billing::UsageLog log(options, [&](std::chrono::nanoseconds t, std::size_t) {
      ++batches;
      std::lock_guard lock(fsync_mu);
      fsync_ns.push_back(static_cast<double>(t.count()));
    });
    const std::size_t n = static_cast<std::size_t>(seconds) * static_cast<std::size_t>(rate);
    const std::size_t warmup = static_cast<std::size_t>(rate) / 2;
    std::vector<cic::store::UsageRecord> records;
    for (std::size_t i = 0; i < n + warmup; ++i) records.push_back(make_record(i));
    auto done_at = std::make_shared<std::vector<std::int64_t>>(n + warmup, -1);
    auto completed = std::make_shared<std::atomic<std::size_t>>(0);
    const auto period = std::chrono::nanoseconds(1'000'000'000LL / rate);
    const Steady::time_point t0 = Steady::now() + std::chrono::milliseconds(10);
    std::vector<double> late;
    for (std::size_t i = 0; i < n + warmup; ++i) {
      const auto scheduled = t0 + period * static_cast<std::int64_t>(i);
      wait_until(scheduled);
      if (i >= warmup) late.push_back(static_cast<double>((Steady::now() - scheduled).count()));
      log.append(records[i], [done_at, completed, i, t0](bool ok) {
        (*done_at)[i] = ok ? (Steady::now() - t0).count() : -2;
        completed->fetch_add(1, std::memory_order_release);
      });
    }
    log.wait_durable(std::chrono::seconds(10));
    while (completed->load(std::memory_order_acquire) < n + warmup) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::vector<double> latency;
    std::size_t failed = 0;
    for (std::size_t i = warmup; i < n + warmup; ++i) {
      if ((*done_at)[i] < 0) {
        ++failed;
        continue;
      }
      latency.push_back(static_cast<double>((*done_at)[i] - period.count() * static_cast<std::int64_t>(i)));
    }
    std::sort(latency.begin(), latency.end());
    std::sort(late.begin(), late.end());
    std::sort(fsync_ns.begin(), fsync_ns.end());
    std::printf("usage log append -> durable, %zu appends paced at %d/s, group_commit_max_delay %lld us%s (%s):\n", n,
                rate, static_cast<long long>(delay.count()), is_default ? " (the default)" : "", dir.c_str());
    std::printf("  added latency p50 %.0f us  p90 %.0f us  p99 %.0f us  p99.9 %.0f us  max %.0f us; %zu failed\n",
                percentile(latency, 0.5) / 1000, percentile(latency, 0.9) / 1000, percentile(latency, 0.99) / 1000,
                percentile(latency, 0.999) / 1000, latency.back() / 1000, failed);
    std::printf("  of which pacer lateness p99 %.0f us; %zu fsyncs (%.1f records each), fsync p50 %.0f us  p99 %.0f us  max %.0f us\n",
                percentile(late, 0.99) / 1000, batches.load(),
                static_cast<double>(n + warmup) / static_cast<double>(std::max<std::size_t>(1, batches.load())),
                percentile(fsync_ns, 0.5) / 1000, percentile(fsync_ns, 0.99) / 1000, fsync_ns.back() / 1000);
  }
  fs::remove_all(dir);
}

std::string with_schema(const std::string& dsn, const std::string& schema) {
  if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
    const char* sep = dsn.find('?') == std::string::npos ? "?" : "&";
    return dsn + sep + "options=-csearch_path%3D" + schema;
  }
  return dsn + " options='-csearch_path=" + schema + "'";
}

void bench_postgres(const std::string& admin_dsn, std::size_t n) {
  const std::string schema = cic::new_id("cic_bench_meter");
  {
    pqxx::connection admin(admin_dsn);
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE SCHEMA " + schema);
  }
  const fs::path dir = scratch_dir("cic-bench-meter");
  {
    auto store = cic::store::make_postgres_store(with_schema(admin_dsn, schema), 4);
    store->migrate();
    std::vector<cic::store::UsageRecord> records;
    records.reserve(n);
    for (std::size_t i = 0; i < n; ++i) records.push_back(make_record(i));

    cic::billing::UsageMeterOptions options;
    options.log.dir = dir.string();
    options.log.owner = "bench";
    options.flush_interval = std::chrono::minutes(10);  // the defaults otherwise: 1,000 / 5,000 / 2
    {
      // The backlog a store outage leaves behind: N records in the log, none in the store.
      cic::billing::UsageLog log(options.log);
      for (const auto& r : records) log.append(r, nullptr);
      log.wait_durable(std::chrono::seconds(60));
    }
    const auto start = Steady::now();
    cic::billing::UsageMeter meter(*store, options);
    const auto opened = Steady::now();  // the log validated (the replay scan); the flusher starts
    while (meter.log().stats().pending_records > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double scan_s = std::chrono::duration<double>(opened - start).count();
    const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
    const auto stats = meter.stats();
    std::printf("usage meter -> PostgreSQL: %zu records replayed from the log and flushed in %.2f s: %.0f records/s "
                "(%.0f records/s after the %.2f s replay scan; %llu batches of <= %zu, %u at a time; %llu new, "
                "%llu duplicates)\n",
                n, seconds, static_cast<double>(n) / seconds, static_cast<double>(n) / (seconds - scan_s), scan_s,
                static_cast<unsigned long long>(stats.batches), options.drain_batch, options.flush_parallelism,
                static_cast<unsigned long long>(stats.written), static_cast<unsigned long long>(stats.duplicates));
    meter.flush_and_stop(Steady::now() + std::chrono::seconds(10));

    for (std::size_t batch : {std::size_t{1000}, std::size_t{5000}}) {
      // insert_usage alone, every record a duplicate (what a replayed flush costs) ...
      auto t = Steady::now();
      for (std::size_t i = 0; i < n; i += batch) {
        std::vector<cic::store::UsageRecord> slice(records.begin() + static_cast<std::ptrdiff_t>(i),
                                                   records.begin() + static_cast<std::ptrdiff_t>(std::min(n, i + batch)));
        store->insert_usage(slice);
      }
      const double dup_s = std::chrono::duration<double>(Steady::now() - t).count();
      // ... and new records.
      for (auto& r : records) r.request_id += "_b" + std::to_string(batch);
      t = Steady::now();
      for (std::size_t i = 0; i < n; i += batch) {
        std::vector<cic::store::UsageRecord> slice(records.begin() + static_cast<std::ptrdiff_t>(i),
                                                   records.begin() + static_cast<std::ptrdiff_t>(std::min(n, i + batch)));
        store->insert_usage(slice);
      }
      const double new_s = std::chrono::duration<double>(Steady::now() - t).count();
      std::printf("  insert_usage alone, %zu per batch: %.0f new records/s, %.0f replayed (duplicate) records/s\n", batch,
                  static_cast<double>(n) / new_s, static_cast<double>(n) / dup_s);
    }
    std::int64_t requests = 0;
    for (const auto& h : store->list_usage_hourly({})) requests += h.requests;
    std::printf("  check: %zu usage rows, hourly rollups count %lld requests\n", store->count_usage(),
                static_cast<long long>(requests));
  }
  fs::remove_all(dir);
  pqxx::connection admin(admin_dsn);
  pqxx::nontransaction tx(admin);
  tx.exec("DROP SCHEMA " + schema + " CASCADE");
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = std::max(1, argc > 1 ? std::atoi(argv[1]) : 5);
  const int rate = std::max(1, argc > 2 ? std::atoi(argv[2]) : 1'000);
  const std::size_t records = static_cast<std::size_t>(std::max(1000, argc > 3 ? std::atoi(argv[3]) : 200'000));
  using std::chrono::microseconds;
  bench_append_latency(seconds, rate, microseconds(0), true);
  bench_append_latency(seconds, rate, microseconds(1000), false);
  bench_append_latency(seconds, rate, microseconds(2000), false);

  const char* dsn = std::getenv("CIC_BENCH_POSTGRES_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    std::printf("usage meter -> PostgreSQL: skipped -- CIC_BENCH_POSTGRES_DSN is not set (bench/run.sh starts a "
                "private PostgreSQL and sets it)\n");
    return 0;
  }
  try {
    bench_postgres(dsn, records);
  } catch (const std::exception& e) {
    std::printf("usage meter -> PostgreSQL: failed: %s\n", e.what());
  }
  return 0;
}
