// Models and key touches of the SQLite store (nodes: sqlite_nodes.cpp, usage: sqlite_usage.cpp).
// Every public method takes mu_ for its whole duration, so a transaction never interleaves with
// another thread's statements on the shared connection.
#include "sqlite_store.hpp"

#include <algorithm>
#include <limits>

#include "json_list.hpp"
#include "store_util.hpp"

namespace cic::store {

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

}  // namespace cic::store
