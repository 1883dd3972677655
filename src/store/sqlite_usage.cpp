// Usage records and their hourly rollups in SQLite. Every public method takes mu_ for its whole
// duration (see sqlite_store.hpp), so a batch is one transaction no other thread interleaves with.
#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "sqlite_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

constexpr std::int64_t kHourMs = 3'600'000;

constexpr const char* kUsageColumns =
    "SELECT request_id, org_id, environment_id, api_key_id, model, region, node_id, endpoint,"
    " prompt_tokens, completion_tokens, cached_tokens, latency_ms, ttft_ms, status, streamed,"
    " cancelled, created_at FROM usage_records ";

UsageRecord read_usage(const SqliteQuery& q) {
  UsageRecord r;
  r.request_id = q.text(0);
  r.org_id = q.text(1);
  r.environment_id = q.text(2);
  r.api_key_id = q.text(3);
  r.model = q.text(4);
  r.region = q.text(5);
  r.node_id = q.text(6);
  r.endpoint = q.text(7);
  r.prompt_tokens = q.int64(8);
  r.completion_tokens = q.int64(9);
  r.cached_tokens = q.int64(10);
  r.latency_ms = q.int64(11);
  r.ttft_ms = q.int64(12);
  r.status = static_cast<int>(q.int64(13));
  r.streamed = q.int64(14) != 0;
  r.cancelled = q.int64(15) != 0;
  r.created_at = q.int64(16);
  return r;
}

// The hour a record belongs to (created_at rounded down; floor also for the odd negative time).
std::int64_t hour_of(std::int64_t ms) { return ms - ((ms % kHourMs) + kHourMs) % kHourMs; }

using HourKey = std::tuple<std::string, std::string, std::string, std::string, std::int64_t>;

}  // namespace

std::size_t SqliteStore::insert_usage(const std::vector<UsageRecord>& records) {
  if (records.empty()) return 0;
  const std::int64_t now = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  std::size_t inserted = 0;
  // Rollups of the rows that were really new: a request id already stored adds nothing, so a
  // replayed batch leaves usage_hourly as it was.
  std::map<HourKey, UsageHourly> hours;
  for (const UsageRecord& r : records) {
    const std::int64_t created_at = r.created_at != 0 ? r.created_at : now;
    // ON CONFLICT (request_id) DO NOTHING rather than INSERT OR IGNORE: same idempotency, but any
    // other constraint failure still raises instead of silently dropping a billable row.
    db_.query("INSERT INTO usage_records (request_id, org_id, environment_id, api_key_id, model,"
              " region, node_id, endpoint, prompt_tokens, completion_tokens, cached_tokens,"
              " latency_ms, ttft_ms, status, streamed, cancelled, created_at)"
              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
              " ON CONFLICT (request_id) DO NOTHING")
        .bind(1, r.request_id).bind(2, r.org_id).bind(3, r.environment_id).bind(4, r.api_key_id)
        .bind(5, r.model).bind(6, r.region).bind(7, r.node_id).bind(8, r.endpoint)
        .bind(9, r.prompt_tokens).bind(10, r.completion_tokens).bind(11, r.cached_tokens)
        .bind(12, r.latency_ms).bind(13, r.ttft_ms).bind(14, std::int64_t{r.status})
        .bind(15, std::int64_t{r.streamed ? 1 : 0}).bind(16, std::int64_t{r.cancelled ? 1 : 0})
        .bind(17, created_at).run();
    if (db_.changes() == 0) continue;
    ++inserted;
    const std::int64_t hour = hour_of(created_at);
    UsageHourly& h = hours[HourKey{r.org_id, r.environment_id, r.model, r.region, hour}];
    h.requests += 1;
    h.prompt_tokens += r.prompt_tokens;
    h.completion_tokens += r.completion_tokens;
    h.cached_tokens += r.cached_tokens;
  }
  for (const auto& [key, h] : hours) {
    const auto& [org, env, model, region, hour] = key;
    db_.query("INSERT INTO usage_hourly (org_id, environment_id, model, region, hour_start, requests,"
              " prompt_tokens, completion_tokens, cached_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
              " ON CONFLICT (org_id, environment_id, model, region, hour_start) DO UPDATE SET"
              " requests = requests + excluded.requests,"
              " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
              " completion_tokens = completion_tokens + excluded.completion_tokens,"
              " cached_tokens = cached_tokens + excluded.cached_tokens")
        .bind(1, org).bind(2, env).bind(3, model).bind(4, region).bind(5, hour)
        .bind(6, h.requests).bind(7, h.prompt_tokens).bind(8, h.completion_tokens)
        .bind(9, h.cached_tokens).run();
  }
  txn.commit();
  return inserted;
}

std::vector<UsageHourly> SqliteStore::list_usage_hourly(const UsageHourlyFilter& filter) {
  std::lock_guard lock(mu_);
  // One statement for every filter: an empty string or a 0 bound switches its condition off.
  auto q = db_.query(
      "SELECT org_id, environment_id, model, region, hour_start, requests, prompt_tokens,"
      " completion_tokens, cached_tokens FROM usage_hourly"
      " WHERE (?1 = '' OR org_id = ?1) AND (?2 = '' OR environment_id = ?2)"
      " AND (?3 = '' OR model = ?3) AND (?4 = '' OR region = ?4)"
      " AND (?5 = 0 OR hour_start >= ?5) AND (?6 = 0 OR hour_start < ?6)"
      " ORDER BY hour_start, org_id, environment_id, model, region");
  q.bind(1, filter.org_id).bind(2, filter.environment_id).bind(3, filter.model).bind(4, filter.region);
  q.bind(5, filter.from_ms).bind(6, filter.to_ms);
  std::vector<UsageHourly> out;
  while (q.step()) {
    out.push_back(UsageHourly{q.text(0), q.text(1), q.text(2), q.text(3), q.int64(4), q.int64(5),
                              q.int64(6), q.int64(7), q.int64(8)});
  }
  return out;
}

std::vector<UsageRecord> SqliteStore::list_usage(std::int64_t since_ms, std::size_t limit) {
  std::lock_guard lock(mu_);
  // request_id breaks ties so pagination by (created_at, request_id) is stable.
  auto q = db_.query(std::string(kUsageColumns) +
                     "WHERE created_at >= ? ORDER BY created_at, request_id LIMIT ?");
  const auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  q.bind(1, since_ms).bind(2, static_cast<std::int64_t>(std::min(limit, max)));
  std::vector<UsageRecord> out;
  while (q.step()) out.push_back(read_usage(q));
  return out;
}

std::size_t SqliteStore::count_usage() {
  std::lock_guard lock(mu_);
  auto q = db_.query("SELECT COUNT(*) FROM usage_records");
  q.step();
  return static_cast<std::size_t>(q.int64(0));
}

}  // namespace cic::store
