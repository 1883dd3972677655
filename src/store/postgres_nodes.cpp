// Model nodes in PostgreSQL: upsert, find (by id or token hash), state changes, delete. Every
// mutation runs in one transaction with its audit entry and a NOTIFY cic_nodes (never
// cic_invalidate: nodes do not affect authentication).
#include <map>

#include "json_list.hpp"
#include "postgres_store.hpp"
#include "postgres_util.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

const std::string kNodeColumns =
    "SELECT id, provider, region, instance_type, models::text, endpoint, spot,"
    " price_per_hour_micros, capacity_tokens_per_sec, state, updated_at, source, token_hash,"
    " created_at, eviction_deadline, last_heartbeat_at FROM nodes ";

Node read_node(const pqxx::row& r) {
  Node n;
  n.id = r[0].as<std::string>();
  n.provider = r[1].as<std::string>();
  n.region = r[2].as<std::string>();
  n.instance_type = r[3].as<std::string>();
  n.models = from_json_list(r[4].c_str());
  n.endpoint = r[5].as<std::string>();
  n.spot = r[6].as<bool>();
  n.price_per_hour_micros = r[7].as<std::int64_t>();
  n.capacity_tokens_per_sec = r[8].as<std::int64_t>();
  n.state = r[9].as<std::string>();
  n.updated_at = r[10].as<std::int64_t>();
  n.source = r[11].as<std::string>();
  n.token_hash = r[12].as<std::string>();
  n.created_at = r[13].as<std::int64_t>();
  n.eviction_deadline = r[14].as<std::int64_t>();
  n.last_heartbeat_at = r[15].as<std::int64_t>();
  return n;
}

}  // namespace

void PostgresStore::prepare_node_statements(pqxx::connection& c) {
  // created_at is not in the update list: the first insert's value stays (a row migrated with 0
  // takes the new one).
  c.prepare("upsert_node",
            "INSERT INTO nodes (id, provider, region, instance_type, models, endpoint, spot,"
            " price_per_hour_micros, capacity_tokens_per_sec, state, updated_at, source,"
            " token_hash, created_at, eviction_deadline)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            " ON CONFLICT (id) DO UPDATE SET"
            " provider = excluded.provider, region = excluded.region,"
            " instance_type = excluded.instance_type, models = excluded.models,"
            " endpoint = excluded.endpoint, spot = excluded.spot,"
            " price_per_hour_micros = excluded.price_per_hour_micros,"
            " capacity_tokens_per_sec = excluded.capacity_tokens_per_sec,"
            " state = excluded.state, updated_at = excluded.updated_at,"
            " source = excluded.source, token_hash = excluded.token_hash,"
            " created_at = CASE WHEN nodes.created_at = 0 THEN excluded.created_at"
            " ELSE nodes.created_at END,"
            " eviction_deadline = excluded.eviction_deadline");
  c.prepare("find_node", kNodeColumns + "WHERE id = $1");
  // The explicit `<> ''` lets the planner use the partial unique index nodes_token_hash_idx.
  c.prepare("find_node_by_token_hash", kNodeColumns + "WHERE token_hash = $1 AND token_hash <> ''");
  c.prepare("list_nodes", kNodeColumns + "ORDER BY id");
}

void PostgresStore::upsert_node(const Node& node, const AuditEntry* audit) {
  const std::int64_t now = now_unix_ms();
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_prepared("upsert_node", node.id, node.provider, node.region, node.instance_type,
                     to_json_list(node.models), node.endpoint, node.spot,
                     node.price_per_hour_micros, node.capacity_tokens_per_sec, node.state,
                     node.updated_at != 0 ? node.updated_at : now, node.source, node.token_hash,
                     node.created_at != 0 ? node.created_at : now, node.eviction_deadline);
    pg_write_audit(tx, audit);
    pg_notify_nodes(tx, node.id);
    tx.commit();
  });
}

std::optional<Node> PostgresStore::find_node(std::string_view id) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<Node> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_node", std::string(id));
    if (rows.empty()) return std::nullopt;
    return read_node(rows[0]);
  });
}

std::optional<Node> PostgresStore::find_node_by_token_hash(std::string_view hash) {
  if (hash.empty()) return std::nullopt;
  return pool_.run([&](pqxx::connection& c) -> std::optional<Node> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_node_by_token_hash", std::string(hash));
    if (rows.empty()) return std::nullopt;
    return read_node(rows[0]);
  });
}

bool PostgresStore::delete_node(std::string_view id, const AuditEntry* audit) {
  const std::string node_id(id);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto done = tx.exec_params("DELETE FROM nodes WHERE id = $1", node_id);
    if (done.affected_rows() == 0) return false;  // nothing changed; the transaction aborts
    pg_write_audit(tx, audit);
    pg_notify_nodes(tx, node_id);
    tx.commit();
    return true;
  });
}

bool PostgresStore::update_node_state(std::string_view id, std::string_view state,
                                      std::int64_t eviction_deadline, std::int64_t now_ms,
                                      const AuditEntry* audit) {
  const std::string node_id(id);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto done = tx.exec_params(
        "UPDATE nodes SET state = $2, eviction_deadline = $3, updated_at = $4 WHERE id = $1",
        node_id, std::string(state), eviction_deadline, now_ms);
    if (done.affected_rows() == 0) return false;
    pg_write_audit(tx, audit);
    pg_notify_nodes(tx, node_id);
    tx.commit();
    return true;
  });
}

std::vector<Node> PostgresStore::list_nodes() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<Node> out;
    for (const auto& r : tx.exec_prepared("list_nodes")) out.push_back(read_node(r));
    return out;
  });
}

void PostgresStore::touch_node_heartbeats(const std::vector<std::pair<std::string, std::int64_t>>& beats) {
  if (beats.empty()) return;
  // The latest time per node, in id order so concurrent batches lock rows in the same order.
  std::map<std::string, std::int64_t> latest;
  for (const auto& [id, at] : beats) {
    auto [it, fresh] = latest.emplace(id, at);
    if (!fresh) it->second = std::max(it->second, at);
  }
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    for (const auto& [id, at] : latest) {
      tx.exec_params("UPDATE nodes SET last_heartbeat_at = $2 WHERE id = $1 AND last_heartbeat_at < $2", id, at);
    }
    tx.commit();
  });
}

}  // namespace cic::store
