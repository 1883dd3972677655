// Model nodes of the SQLite store: upsert, find (by id or token hash), state changes, delete.
// Every public method holds mu_ for its whole duration; mutations run in one transaction with
// their audit entry.
#include "json_list.hpp"
#include "sqlite_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

constexpr const char* kNodeColumns =
    "SELECT id, provider, region, instance_type, models, endpoint, spot, price_per_hour_micros,"
    " capacity_tokens_per_sec, state, updated_at, source, token_hash, created_at,"
    " eviction_deadline, last_heartbeat_at FROM nodes ";

Node read_node(const SqliteQuery& q) {
  Node n;
  n.id = q.text(0);
  n.provider = q.text(1);
  n.region = q.text(2);
  n.instance_type = q.text(3);
  n.models = from_json_list(q.text(4));
  n.endpoint = q.text(5);
  n.spot = q.int64(6) != 0;
  n.price_per_hour_micros = q.int64(7);
  n.capacity_tokens_per_sec = q.int64(8);
  n.state = q.text(9);
  n.updated_at = q.int64(10);
  n.source = q.text(11);
  n.token_hash = q.text(12);
  n.created_at = q.int64(13);
  n.eviction_deadline = q.int64(14);
  n.last_heartbeat_at = q.int64(15);
  return n;
}

}  // namespace

void SqliteStore::upsert_node(const Node& node, const AuditEntry* audit) {
  const std::int64_t now = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  // created_at is not in the update list: the first insert's value stays (a row migrated with 0
  // takes the new one).
  db_.query("INSERT INTO nodes (id, provider, region, instance_type, models, endpoint, spot,"
            " price_per_hour_micros, capacity_tokens_per_sec, state, updated_at, source,"
            " token_hash, created_at, eviction_deadline)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " provider = excluded.provider, region = excluded.region,"
            " instance_type = excluded.instance_type, models = excluded.models,"
            " endpoint = excluded.endpoint, spot = excluded.spot,"
            " price_per_hour_micros = excluded.price_per_hour_micros,"
            " capacity_tokens_per_sec = excluded.capacity_tokens_per_sec,"
            " state = excluded.state, updated_at = excluded.updated_at,"
            " source = excluded.source, token_hash = excluded.token_hash,"
            " created_at = CASE WHEN nodes.created_at = 0 THEN excluded.created_at"
            " ELSE nodes.created_at END,"
            " eviction_deadline = excluded.eviction_deadline")
      .bind(1, node.id).bind(2, node.provider).bind(3, node.region).bind(4, node.instance_type)
      .bind(5, to_json_list(node.models)).bind(6, node.endpoint)
      .bind(7, std::int64_t{node.spot ? 1 : 0}).bind(8, node.price_per_hour_micros)
      .bind(9, node.capacity_tokens_per_sec).bind(10, node.state)
      .bind(11, node.updated_at != 0 ? node.updated_at : now).bind(12, node.source)
      .bind(13, node.token_hash).bind(14, node.created_at != 0 ? node.created_at : now)
      .bind(15, node.eviction_deadline).run();
  write_audit(audit);
  txn.commit();
}

std::optional<Node> SqliteStore::node_where(const std::string& where, std::string_view a) {
  auto q = db_.query(kNodeColumns + where);
  q.bind(1, a);
  if (!q.step()) return std::nullopt;
  return read_node(q);
}

std::optional<Node> SqliteStore::find_node(std::string_view id) {
  std::lock_guard lock(mu_);
  return node_where("WHERE id = ?1", id);
}

std::optional<Node> SqliteStore::find_node_by_token_hash(std::string_view hash) {
  if (hash.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  // The explicit `<> ''` lets SQLite use the partial unique index nodes_token_hash_idx.
  return node_where("WHERE token_hash = ?1 AND token_hash <> ''", hash);
}

bool SqliteStore::delete_node(std::string_view id, const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("DELETE FROM nodes WHERE id = ?1").bind(1, id).run();
  if (db_.changes() == 0) return false;  // nothing to audit; the transaction rolls back
  write_audit(audit);
  txn.commit();
  return true;
}

bool SqliteStore::update_node_state(std::string_view id, std::string_view state,
                                    std::int64_t eviction_deadline, std::int64_t now_ms,
                                    const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("UPDATE nodes SET state = ?2, eviction_deadline = ?3, updated_at = ?4 WHERE id = ?1")
      .bind(1, id).bind(2, state).bind(3, eviction_deadline).bind(4, now_ms).run();
  if (db_.changes() == 0) return false;
  write_audit(audit);
  txn.commit();
  return true;
}

std::vector<Node> SqliteStore::list_nodes() {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kNodeColumns) + "ORDER BY id");
  std::vector<Node> out;
  while (q.step()) out.push_back(read_node(q));
  return out;
}

void SqliteStore::touch_node_heartbeats(const std::vector<std::pair<std::string, std::int64_t>>& beats) {
  if (beats.empty()) return;
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  for (const auto& [id, at] : beats) {
    db_.query("UPDATE nodes SET last_heartbeat_at = ?2 WHERE id = ?1 AND last_heartbeat_at < ?2")
        .bind(1, id).bind(2, at).run();
  }
  txn.commit();
}

}  // namespace cic::store
