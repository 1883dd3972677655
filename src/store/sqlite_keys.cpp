// API keys, org admin keys and the audit log of the SQLite store. Every public method holds mu_
// for its whole duration; mutations run in one transaction with their audit entry.
#include "cic/common/ids.hpp"
#include "sqlite_store.hpp"
#include "store_util.hpp"
#include "tenancy_util.hpp"

namespace cic::store {

namespace {

constexpr const char* kKeyColumns =
    "SELECT id, org_id, environment_id, name, prefix, hash, limits, created_at, expires_at,"
    " revoked_at, last_used_at, replaced_by FROM api_keys ";
constexpr const char* kAdminKeyColumns =
    "SELECT id, org_id, name, prefix, hash, created_at, revoked_at, last_used_at FROM admin_keys ";
constexpr const char* kAuditColumns =
    "SELECT id, at, actor, action, target_type, target_id, org_id, request_id, before_json,"
    " after_json FROM audit_log ";

ApiKey read_api_key(const SqliteQuery& q) {
  ApiKey k;
  k.id = q.text(0);
  k.org_id = q.text(1);
  k.environment_id = q.text(2);
  k.name = q.text(3);
  k.prefix = q.text(4);
  k.hash = q.text(5);
  k.limits_json = q.text(6);
  k.created_at = q.int64(7);
  k.expires_at = q.optional_int64(8);
  k.revoked_at = q.optional_int64(9);
  k.last_used_at = q.optional_int64(10);
  k.replaced_by = q.text(11);
  return k;
}

AdminKey read_admin_key(const SqliteQuery& q) {
  return AdminKey{q.text(0), q.text(1),           q.text(2),           q.text(3),
                  q.text(4), q.int64(5), q.optional_int64(6), q.optional_int64(7)};
}

AuditEntry read_audit(const SqliteQuery& q) {
  return AuditEntry{q.text(0), q.int64(1), q.text(2), q.text(3), q.text(4),
                    q.text(5), q.text(6),  q.text(7), q.text(8), q.text(9)};
}

}  // namespace

void SqliteStore::write_audit(const AuditEntry* audit) {
  if (audit == nullptr) return;
  const AuditEntry e = complete_audit(*audit);
  db_.query("INSERT INTO audit_log (id, at, actor, action, target_type, target_id, org_id,"
            " request_id, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, e.id).bind(2, e.at).bind(3, e.actor).bind(4, e.action).bind(5, e.target_type)
      .bind(6, e.target_id).bind(7, e.org_id).bind(8, e.request_id).bind(9, e.before_json)
      .bind(10, e.after_json).run();
}

void SqliteStore::insert_api_key(const ApiKey& key) {
  db_.query("INSERT INTO api_keys (id, org_id, environment_id, name, prefix, hash, limits,"
            " created_at, expires_at, revoked_at, last_used_at, replaced_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, key.id).bind(2, key.org_id).bind(3, key.environment_id).bind(4, key.name)
      .bind(5, key.prefix).bind(6, key.hash).bind(7, key.limits_json).bind(8, key.created_at)
      .bind(9, key.expires_at).bind(10, key.revoked_at).bind(11, key.last_used_at)
      .bind(12, key.replaced_by).run();
}

int SqliteStore::revoke_key(const char* table, std::string_view key_id, std::int64_t now_ms) {
  const std::string t(table);
  db_.query("UPDATE " + t + " SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
      .bind(1, key_id).bind(2, now_ms).run();
  if (db_.changes() > 0) return 1;
  auto q = db_.query("SELECT 1 FROM " + t + " WHERE id = ?1");
  q.bind(1, key_id);
  return q.step() ? 0 : -1;
}

ApiKey SqliteStore::create_api_key(ApiKey key, const AuditEntry* audit) {
  if (key.id.empty()) key.id = cic::new_id("key");
  if (key.created_at == 0) key.created_at = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  insert_api_key(key);
  write_audit(audit);
  txn.commit();
  return key;
}

std::optional<ApiKey> SqliteStore::api_key_where(const std::string& where, std::string_view a) {
  auto q = db_.query(kKeyColumns + where);
  q.bind(1, a);
  if (!q.step()) return std::nullopt;
  return read_api_key(q);
}

std::optional<ApiKey> SqliteStore::find_api_key_by_hash(std::string_view hash) {
  std::lock_guard lock(mu_);
  return api_key_where("WHERE hash = ?1", hash);
}

std::optional<ApiKey> SqliteStore::get_api_key(std::string_view id) {
  std::lock_guard lock(mu_);
  return api_key_where("WHERE id = ?1", id);
}

PageResult<ApiKey> SqliteStore::list_api_keys(std::string_view environment_id, const Page& page) {
  const std::size_t limit = page_limit(page);
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kKeyColumns) +
                     "WHERE environment_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
  q.bind(1, environment_id).bind(2, page.after).bind(3, static_cast<std::int64_t>(limit + 1));
  std::vector<ApiKey> rows;
  while (q.step()) rows.push_back(read_api_key(q));
  return to_page(std::move(rows), limit);
}

bool SqliteStore::revoke_api_key(std::string_view key_id, std::int64_t now_ms,
                                 const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  const int outcome = revoke_key("api_keys", key_id, now_ms);
  if (outcome < 0) return false;
  if (outcome > 0) write_audit(audit);  // an already revoked key changes nothing: no entry
  txn.commit();
  return true;
}

std::optional<ApiKey> SqliteStore::rotate_api_key(std::string_view old_key_id, ApiKey replacement,
                                                  std::int64_t old_expires_at,
                                                  const AuditEntry* audit) {
  if (replacement.id.empty()) replacement.id = cic::new_id("key");
  if (replacement.created_at == 0) replacement.created_at = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  {
    auto q = db_.query("UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NOT NULL AND"
                       " expires_at < ?2 THEN expires_at ELSE ?2 END, replaced_by = ?3"
                       " WHERE id = ?1 AND revoked_at IS NULL AND replaced_by = '' RETURNING org_id, environment_id");
    q.bind(1, old_key_id).bind(2, old_expires_at).bind(3, replacement.id);
    if (!q.step()) return std::nullopt;  // missing or revoked: the transaction rolls back
    // The replacement belongs where the old key did unless the caller says otherwise.
    if (replacement.org_id.empty()) replacement.org_id = q.text(0);
    if (replacement.environment_id.empty()) replacement.environment_id = q.text(1);
    q.run();
  }
  insert_api_key(replacement);
  write_audit(audit);
  txn.commit();
  return replacement;
}

AdminKey SqliteStore::create_admin_key(AdminKey key, const AuditEntry* audit) {
  if (key.id.empty()) key.id = cic::new_id("adk");
  if (key.created_at == 0) key.created_at = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("INSERT INTO admin_keys (id, org_id, name, prefix, hash, created_at, revoked_at,"
            " last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, key.id).bind(2, key.org_id).bind(3, key.name).bind(4, key.prefix)
      .bind(5, key.hash).bind(6, key.created_at).bind(7, key.revoked_at)
      .bind(8, key.last_used_at).run();
  write_audit(audit);
  txn.commit();
  return key;
}

std::optional<AdminKey> SqliteStore::find_admin_key_by_hash(std::string_view hash) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kAdminKeyColumns) + "WHERE hash = ?1");
  q.bind(1, hash);
  if (!q.step()) return std::nullopt;
  return read_admin_key(q);
}

PageResult<AdminKey> SqliteStore::list_admin_keys(std::string_view org_id, const Page& page) {
  const std::size_t limit = page_limit(page);
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kAdminKeyColumns) +
                     "WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
  q.bind(1, org_id).bind(2, page.after).bind(3, static_cast<std::int64_t>(limit + 1));
  std::vector<AdminKey> rows;
  while (q.step()) rows.push_back(read_admin_key(q));
  return to_page(std::move(rows), limit);
}

bool SqliteStore::revoke_admin_key(std::string_view key_id, std::int64_t now_ms,
                                   const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  const int outcome = revoke_key("admin_keys", key_id, now_ms);
  if (outcome < 0) return false;
  if (outcome > 0) write_audit(audit);
  txn.commit();
  return true;
}

PageResult<AuditEntry> SqliteStore::list_audit(const AuditFilter& filter, const Page& page) {
  const std::size_t limit = page_limit(page);
  // Only the filters that are set become conditions (so an index can serve them); parameters
  // keep fixed numbers, and SQLite accepts bindings for numbers a statement does not mention
  // as long as a higher one (?7, the limit) is used.
  std::string sql = std::string(kAuditColumns) + "WHERE 1 = 1";
  if (!filter.org_id.empty()) sql += " AND org_id = ?1";
  if (!filter.actor.empty()) sql += " AND actor = ?2";
  if (!filter.action.empty()) sql += " AND action = ?3";
  if (filter.from_ms != 0) sql += " AND at >= ?4";
  if (filter.to_ms != 0) sql += " AND at < ?5";
  if (!page.after.empty()) sql += " AND id < ?6";
  sql += " ORDER BY id DESC LIMIT ?7";
  std::lock_guard lock(mu_);
  auto q = db_.query(sql);
  q.bind(1, filter.org_id).bind(2, filter.actor).bind(3, filter.action).bind(4, filter.from_ms)
      .bind(5, filter.to_ms).bind(6, page.after).bind(7, static_cast<std::int64_t>(limit + 1));
  std::vector<AuditEntry> rows;
  while (q.step()) rows.push_back(read_audit(q));
  return to_page(std::move(rows), limit);
}

}  // namespace cic::store
