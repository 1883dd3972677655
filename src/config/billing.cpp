// `billing:` section: the usage write-ahead log and its flusher.
#include <filesystem>

#include "cic/config/config.hpp"
#include "sections.hpp"

namespace cic::config::detail {
namespace {

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;
constexpr std::int64_t kGiB = 1024 * kMiB;

// Without a wal_dir the log lives next to the SQLite database (so every database has its own, and
// var/usage-wal with the default store path), or in var/usage-wal with PostgreSQL.
std::string default_wal_dir(const StoreConfig& store) {
  if (store.backend == StoreConfig::Backend::kSqlite && !store.sqlite.path.empty()) {
    const std::filesystem::path db(store.sqlite.path);
    return (db.parent_path() / "usage-wal").string();
  }
  return "var/usage-wal";
}

}  // namespace

void parse_billing(MapReader& root, BillingConfig& out, const StoreConfig& store) {
  MapReader m = root.child("billing");
  m.read_string("wal_dir", out.wal_dir);
  if (out.wal_dir.empty()) out.wal_dir = default_wal_dir(store);
  m.read_int("wal_max_bytes", out.wal_max_bytes, kMiB, 1024 * kGiB, "bytes");
  m.read_int("wal_segment_bytes", out.wal_segment_bytes, 64 * kKiB, kGiB, "bytes");
  if (out.wal_segment_bytes > out.wal_max_bytes) {
    m.issue("wal_segment_bytes", "must not exceed wal_max_bytes (" + std::to_string(out.wal_max_bytes) + ")");
  }
  m.read_ms("flush_interval_ms", out.flush_interval, 10, 600'000);
  m.read_int("flush_batch", out.flush_batch, 1, 100'000, "records");
  m.read_int("drain_batch", out.drain_batch, 1, 100'000, "records");
  if (out.drain_batch < out.flush_batch) {
    m.issue("drain_batch", "must not be below flush_batch (" + std::to_string(out.flush_batch) + ")");
  }
  m.read_int("flush_parallelism", out.flush_parallelism, 1, 16, "batches");
  m.read_ms("group_commit_max_delay_ms", out.group_commit_max_delay, 0, 100);
  m.read_ms("flush_retry_max_ms", out.flush_retry_max, 100, 600'000);
  m.read_ms("month_close_interval_ms", out.month_close_interval, 1'000, 86'400'000);
  m.read_ms("month_close_delay_ms", out.month_close_delay, 0, 7 * 86'400'000);
}

}  // namespace cic::config::detail
