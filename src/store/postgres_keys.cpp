// API keys, org admin keys and the audit log in PostgreSQL. Every key mutation runs in one
// transaction with its audit entry and a NOTIFY cic_invalidate (touch_api_keys does not notify:
// last_used_at does not affect authentication).
#include "cic/common/ids.hpp"
#include "postgres_store.hpp"
#include "postgres_util.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

const std::string kKeyFields =
    "id, org_id, environment_id, name, prefix, hash, limits::text, created_at, expires_at,"
    " revoked_at, last_used_at, replaced_by";
const std::string kAdminKeyFields =
    "id, org_id, name, prefix, hash, created_at, revoked_at, last_used_at";
const std::string kAuditFields =
    "id, at, actor, action, target_type, target_id, org_id, request_id, before_json::text,"
    " after_json::text";

ApiKey read_api_key(const pqxx::row& r) {
  ApiKey k;
  k.id = r[0].as<std::string>();
  k.org_id = r[1].as<std::string>();
  k.environment_id = r[2].as<std::string>();
  k.name = r[3].as<std::string>();
  k.prefix = r[4].as<std::string>();
  k.hash = r[5].as<std::string>();
  k.limits_json = r[6].as<std::string>();
  k.created_at = r[7].as<std::int64_t>();
  k.expires_at = optional_int64(r[8]);
  k.revoked_at = optional_int64(r[9]);
  k.last_used_at = optional_int64(r[10]);
  k.replaced_by = r[11].as<std::string>();
  return k;
}

AdminKey read_admin_key(const pqxx::row& r) {
  return AdminKey{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                  r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::int64_t>(),
                  optional_int64(r[6]),   optional_int64(r[7])};
}

AuditEntry read_audit(const pqxx::row& r) {
  return AuditEntry{r[0].as<std::string>(), r[1].as<std::int64_t>(), r[2].as<std::string>(),
                    r[3].as<std::string>(), r[4].as<std::string>(),  r[5].as<std::string>(),
                    r[6].as<std::string>(), r[7].as<std::string>(),  r[8].as<std::string>(),
                    r[9].as<std::string>()};
}

void insert_api_key(pqxx::transaction_base& tx, const ApiKey& key) {
  tx.exec_params("INSERT INTO api_keys (id, org_id, environment_id, name, prefix, hash, limits,"
                 " created_at, expires_at, revoked_at, last_used_at, replaced_by)"
                 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                 key.id, key.org_id, key.environment_id, key.name, key.prefix, key.hash,
                 key.limits_json, key.created_at, key.expires_at, key.revoked_at,
                 key.last_used_at, key.replaced_by);
}

// Sets revoked_at on one key of `table` unless already revoked, audits and notifies only when it
// did. False if the key does not exist.
bool revoke_in(pqxx::connection& c, const std::string& table, const std::string& kind,
               const std::string& id, std::int64_t now_ms, const AuditEntry* audit) {
  pqxx::work tx(c);
  auto done = tx.exec_params(
      "UPDATE " + table + " SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", id, now_ms);
  if (done.affected_rows() == 0) {
    return !tx.exec_params("SELECT 1 FROM " + table + " WHERE id = $1", id).empty();
  }
  pg_write_audit(tx, audit);
  pg_notify(tx, kind, id);
  tx.commit();
  return true;
}

}  // namespace

void PostgresStore::prepare_key_statements(pqxx::connection& c) {
  c.prepare("find_key", "SELECT " + kKeyFields + " FROM api_keys WHERE hash = $1");
  c.prepare("get_key", "SELECT " + kKeyFields + " FROM api_keys WHERE id = $1");
  c.prepare("find_admin_key", "SELECT " + kAdminKeyFields + " FROM admin_keys WHERE hash = $1");
}

ApiKey PostgresStore::create_api_key(ApiKey key, const AuditEntry* audit) {
  if (key.id.empty()) key.id = cic::new_id("key");
  if (key.created_at == 0) key.created_at = now_unix_ms();
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    insert_api_key(tx, key);
    pg_write_audit(tx, audit);
    pg_notify(tx, "api_key", key.id);
    tx.commit();
  });
  return key;
}

std::optional<ApiKey> PostgresStore::find_api_key_by_hash(std::string_view hash) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<ApiKey> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_key", std::string(hash));
    if (rows.empty()) return std::nullopt;
    return read_api_key(rows[0]);
  });
}

std::optional<ApiKey> PostgresStore::get_api_key(std::string_view id) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<ApiKey> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("get_key", std::string(id));
    if (rows.empty()) return std::nullopt;
    return read_api_key(rows[0]);
  });
}

PageResult<ApiKey> PostgresStore::list_api_keys(std::string_view environment_id, const Page& page) {
  const std::size_t limit = page_limit(page);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<ApiKey> rows;
    for (const auto& r : tx.exec_params("SELECT " + kKeyFields +
                                            " FROM api_keys WHERE environment_id = $1"
                                            " AND id > $2 ORDER BY id LIMIT $3",
                                        std::string(environment_id), page.after, limit + 1)) {
      rows.push_back(read_api_key(r));
    }
    return to_page(std::move(rows), limit);
  });
}

bool PostgresStore::revoke_api_key(std::string_view key_id, std::int64_t now_ms,
                                   const AuditEntry* audit) {
  return pool_.run([&](pqxx::connection& c) {
    return revoke_in(c, "api_keys", "api_key", std::string(key_id), now_ms, audit);
  });
}

std::optional<ApiKey> PostgresStore::rotate_api_key(std::string_view old_key_id, ApiKey replacement,
                                                    std::int64_t old_expires_at,
                                                    const AuditEntry* audit) {
  if (replacement.id.empty()) replacement.id = cic::new_id("key");
  if (replacement.created_at == 0) replacement.created_at = now_unix_ms();
  return pool_.run([&](pqxx::connection& c) -> std::optional<ApiKey> {
    pqxx::work tx(c);
    // The UPDATE locks the old row, so a concurrent revoke either precedes it (no match) or waits.
    auto old = tx.exec_params(
        "UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < $2"
        " THEN expires_at ELSE $2 END, replaced_by = $3"
        " WHERE id = $1 AND revoked_at IS NULL AND replaced_by = '' RETURNING org_id, environment_id",
        std::string(old_key_id), old_expires_at, replacement.id);
    if (old.empty()) return std::nullopt;  // missing or revoked; the transaction aborts
    // The replacement belongs where the old key did unless the caller says otherwise.
    ApiKey key = replacement;
    if (key.org_id.empty()) key.org_id = old[0][0].as<std::string>();
    if (key.environment_id.empty()) key.environment_id = old[0][1].as<std::string>();
    insert_api_key(tx, key);
    pg_write_audit(tx, audit);
    pg_notify(tx, "api_key", std::string(old_key_id));
    tx.commit();
    return key;
  });
}

AdminKey PostgresStore::create_admin_key(AdminKey key, const AuditEntry* audit) {
  if (key.id.empty()) key.id = cic::new_id("adk");
  if (key.created_at == 0) key.created_at = now_unix_ms();
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO admin_keys (id, org_id, name, prefix, hash, created_at,"
                   " revoked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                   key.id, key.org_id, key.name, key.prefix, key.hash, key.created_at,
                   key.revoked_at, key.last_used_at);
    pg_write_audit(tx, audit);
    pg_notify(tx, "admin_key", key.id);
    tx.commit();
  });
  return key;
}

std::optional<AdminKey> PostgresStore::find_admin_key_by_hash(std::string_view hash) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<AdminKey> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_admin_key", std::string(hash));
    if (rows.empty()) return std::nullopt;
    return read_admin_key(rows[0]);
  });
}

PageResult<AdminKey> PostgresStore::list_admin_keys(std::string_view org_id, const Page& page) {
  const std::size_t limit = page_limit(page);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<AdminKey> rows;
    for (const auto& r : tx.exec_params("SELECT " + kAdminKeyFields +
                                            " FROM admin_keys WHERE org_id = $1 AND id > $2"
                                            " ORDER BY id LIMIT $3",
                                        std::string(org_id), page.after, limit + 1)) {
      rows.push_back(read_admin_key(r));
    }
    return to_page(std::move(rows), limit);
  });
}

bool PostgresStore::revoke_admin_key(std::string_view key_id, std::int64_t now_ms,
                                     const AuditEntry* audit) {
  return pool_.run([&](pqxx::connection& c) {
    return revoke_in(c, "admin_keys", "admin_key", std::string(key_id), now_ms, audit);
  });
}

PageResult<AuditEntry> PostgresStore::list_audit(const AuditFilter& filter, const Page& page) {
  const std::size_t limit = page_limit(page);
  // Only the filters that are set become conditions (and parameters), so an index can serve them.
  std::string sql = "SELECT " + kAuditFields + " FROM audit_log WHERE TRUE";
  std::vector<std::string> params;
  auto add = [&](const char* condition, std::string value) {
    params.push_back(std::move(value));
    sql += condition;
    sql += std::to_string(params.size());
  };
  if (!filter.org_id.empty()) add(" AND org_id = $", filter.org_id);
  if (!filter.actor.empty()) add(" AND actor = $", filter.actor);
  if (!filter.action.empty()) add(" AND action = $", filter.action);
  if (filter.from_ms != 0) add(" AND at >= $", std::to_string(filter.from_ms));
  if (filter.to_ms != 0) add(" AND at < $", std::to_string(filter.to_ms));
  if (!page.after.empty()) add(" AND id < $", page.after);
  add(" ORDER BY id DESC LIMIT $", std::to_string(limit + 1));
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<AuditEntry> rows;
    for (const auto& r : tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params))) {
      rows.push_back(read_audit(r));
    }
    return to_page(std::move(rows), limit);
  });
}

}  // namespace cic::store
