// Models, key touches and usage records of the SQLite store (nodes: sqlite_nodes.cpp). Every public method takes mu_
// for its whole duration, so a transaction never interleaves with another thread's statements on
// the shared connection.
#include "sqlite_store.hpp"

#include <algorithm>
#include <limits>

#include "json_list.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

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

}  // namespace

void SqliteStore::touch_api_keys(
    const std::vector<std::pair<std::string, std::int64_t>>& last_used) {
  if (last_used.empty()) return;
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  for (const auto& [id, at] : last_used) {
    // Never move last_used_at backwards: batches from several gateways can arrive out of order.
    db_.query("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1"
              " AND (last_used_at IS NULL OR last_used_at < ?2)")
        .bind(1, id).bind(2, at).run();
  }
  txn.commit();
}

void SqliteStore::upsert_model(const Model& model) {
  std::lock_guard lock(mu_);
  db_.query("INSERT INTO models (id, family, kind, context_length, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET family = excluded.family,"
            " kind = excluded.kind, context_length = excluded.context_length")
      .bind(1, model.id).bind(2, model.family).bind(3, model.kind)
      .bind(4, model.context_length).bind(5, now_unix_ms()).run();
}

std::vector<Model> SqliteStore::list_models() {
  std::lock_guard lock(mu_);
  auto q = db_.query("SELECT id, family, kind, context_length FROM models ORDER BY id");
  std::vector<Model> out;
  while (q.step()) out.push_back(Model{q.text(0), q.text(1), q.text(2), q.int64(3)});
  return out;
}

std::size_t SqliteStore::insert_usage(const std::vector<UsageRecord>& records) {
  if (records.empty()) return 0;
  const std::int64_t now = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  std::size_t inserted = 0;
  for (const UsageRecord& r : records) {
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
        .bind(17, r.created_at != 0 ? r.created_at : now).run();
    inserted += static_cast<std::size_t>(db_.changes());
  }
  txn.commit();
  return inserted;
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
