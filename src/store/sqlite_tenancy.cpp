// Orgs and environments of the SQLite store: create, find, list, update, soft delete. Every public
// method holds mu_ for its whole duration; mutations run in one transaction with their audit entry.
#include "cic/common/ids.hpp"
#include "json_list.hpp"
#include "sqlite_store.hpp"
#include "store_util.hpp"
#include "tenancy_util.hpp"

namespace cic::store {

namespace {

constexpr const char* kOrgFields =
    "id, name, email, plan, monthly_spend_cap_micros, created_at, updated_at, deleted_at";
constexpr const char* kEnvFields =
    "id, org_id, name, region, models, limits, monthly_token_quota, monthly_spend_cap_micros,"
    " data_residency, created_at, updated_at, deleted_at";

Org read_org(const SqliteQuery& q) {
  Org o;
  o.id = q.text(0);
  o.name = q.text(1);
  o.email = q.text(2);
  o.plan = q.text(3);
  o.monthly_spend_cap_micros = q.int64(4);
  o.created_at = q.int64(5);
  o.updated_at = q.int64(6);
  o.deleted_at = q.optional_int64(7);
  return o;
}

Environment read_environment(const SqliteQuery& q) {
  Environment e;
  e.id = q.text(0);
  e.org_id = q.text(1);
  e.name = q.text(2);
  e.region = q.text(3);
  e.models = from_json_list(q.text(4));
  e.limits_json = q.text(5);
  e.monthly_token_quota = q.int64(6);
  e.monthly_spend_cap_micros = q.int64(7);
  e.data_residency = q.text(8);
  e.created_at = q.int64(9);
  e.updated_at = q.int64(10);
  e.deleted_at = q.optional_int64(11);
  return e;
}

std::string select_from(const char* fields, const char* table) {
  return std::string("SELECT ") + fields + " FROM " + table + " ";
}

}  // namespace

Org SqliteStore::create_org(Org org, const AuditEntry* audit) {
  if (org.id.empty()) org.id = cic::new_id("org");
  if (org.created_at == 0) org.created_at = now_unix_ms();
  if (org.updated_at == 0) org.updated_at = org.created_at;
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("INSERT INTO orgs (id, name, email, plan, monthly_spend_cap_micros, created_at,"
            " updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, org.id).bind(2, org.name).bind(3, org.email).bind(4, org.plan)
      .bind(5, org.monthly_spend_cap_micros).bind(6, org.created_at).bind(7, org.updated_at)
      .bind(8, org.deleted_at).run();
  write_audit(audit);
  txn.commit();
  return org;
}

std::optional<Org> SqliteStore::find_org(std::string_view id_or_name) {
  std::lock_guard lock(mu_);
  // An id match wins over a name match, should an org ever be named like another org's id.
  auto q = db_.query(select_from(kOrgFields, "orgs") +
                     "WHERE deleted_at IS NULL AND (id = ?1 OR name = ?1)"
                     " ORDER BY id = ?1 DESC LIMIT 1");
  q.bind(1, id_or_name);
  if (!q.step()) return std::nullopt;
  return read_org(q);
}

PageResult<Org> SqliteStore::list_orgs(const Page& page) {
  const std::size_t limit = page_limit(page);
  std::lock_guard lock(mu_);
  auto q = db_.query(select_from(kOrgFields, "orgs") +
                     "WHERE deleted_at IS NULL AND id > ?1 ORDER BY id LIMIT ?2");
  q.bind(1, page.after).bind(2, static_cast<std::int64_t>(limit + 1));
  std::vector<Org> rows;
  while (q.step()) rows.push_back(read_org(q));
  return to_page(std::move(rows), limit);
}

std::optional<Org> SqliteStore::update_org(const Org& org, const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  std::optional<Org> updated;
  {
    auto q = db_.query(std::string("UPDATE orgs SET name = ?2, email = ?3, plan = ?4,"
                                   " monthly_spend_cap_micros = ?5, updated_at = ?6"
                                   " WHERE id = ?1 AND deleted_at IS NULL RETURNING ") +
                       kOrgFields);
    q.bind(1, org.id).bind(2, org.name).bind(3, org.email).bind(4, org.plan)
        .bind(5, org.monthly_spend_cap_micros).bind(6, now_unix_ms());
    if (q.step()) {
      updated = read_org(q);
      q.run();  // finish the statement before COMMIT (stepping past DONE would run it again)
    }
  }
  if (!updated) return std::nullopt;
  write_audit(audit);
  txn.commit();
  return updated;
}

bool SqliteStore::delete_org(std::string_view org_id, std::int64_t now_ms, const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("UPDATE orgs SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL")
      .bind(1, org_id).bind(2, now_ms).run();
  if (db_.changes() == 0) return false;
  db_.query("UPDATE environments SET deleted_at = ?2, updated_at = ?2"
            " WHERE org_id = ?1 AND deleted_at IS NULL")
      .bind(1, org_id).bind(2, now_ms).run();
  db_.query("UPDATE api_keys SET revoked_at = ?2 WHERE org_id = ?1 AND revoked_at IS NULL")
      .bind(1, org_id).bind(2, now_ms).run();
  db_.query("UPDATE admin_keys SET revoked_at = ?2 WHERE org_id = ?1 AND revoked_at IS NULL")
      .bind(1, org_id).bind(2, now_ms).run();
  write_audit(audit);
  txn.commit();
  return true;
}

Environment SqliteStore::create_environment(Environment env, const AuditEntry* audit) {
  if (env.id.empty()) env.id = cic::new_id("env");
  if (env.created_at == 0) env.created_at = now_unix_ms();
  if (env.updated_at == 0) env.updated_at = env.created_at;
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("INSERT INTO environments (id, org_id, name, region, models, limits,"
            " monthly_token_quota, monthly_spend_cap_micros, data_residency, created_at,"
            " updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, env.id).bind(2, env.org_id).bind(3, env.name).bind(4, env.region)
      .bind(5, to_json_list(env.models)).bind(6, env.limits_json).bind(7, env.monthly_token_quota)
      .bind(8, env.monthly_spend_cap_micros).bind(9, env.data_residency).bind(10, env.created_at)
      .bind(11, env.updated_at).bind(12, env.deleted_at).run();
  write_audit(audit);
  txn.commit();
  return env;
}

std::optional<Environment> SqliteStore::environment_where(
    const std::string& where, std::string_view a, std::optional<std::string_view> b) {
  auto q = db_.query(select_from(kEnvFields, "environments") + where);
  q.bind(1, a);
  if (b) q.bind(2, *b);
  if (!q.step()) return std::nullopt;
  return read_environment(q);
}

std::optional<Environment> SqliteStore::find_environment(std::string_view org_id,
                                                         std::string_view id_or_name) {
  std::lock_guard lock(mu_);
  return environment_where("WHERE org_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR name = ?2)"
                           " ORDER BY id = ?2 DESC LIMIT 1",
                           org_id, id_or_name);
}

std::optional<Environment> SqliteStore::get_environment(std::string_view id) {
  std::lock_guard lock(mu_);
  return environment_where("WHERE id = ?1 AND deleted_at IS NULL", id, std::nullopt);
}

PageResult<Environment> SqliteStore::list_environments(std::string_view org_id, const Page& page) {
  const std::size_t limit = page_limit(page);
  std::lock_guard lock(mu_);
  auto q = db_.query(select_from(kEnvFields, "environments") +
                     "WHERE org_id = ?1 AND deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3");
  q.bind(1, org_id).bind(2, page.after).bind(3, static_cast<std::int64_t>(limit + 1));
  std::vector<Environment> rows;
  while (q.step()) rows.push_back(read_environment(q));
  return to_page(std::move(rows), limit);
}

std::optional<Environment> SqliteStore::update_environment(const Environment& env,
                                                           const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  std::optional<Environment> updated;
  {
    // A non-empty org_id must match too, so a caller scoped to one org cannot reach another's.
    auto q = db_.query(std::string("UPDATE environments SET region = ?2, models = ?3, limits = ?4,"
                                   " monthly_token_quota = ?5, monthly_spend_cap_micros = ?6,"
                                   " data_residency = ?7, updated_at = ?8 WHERE id = ?1"
                                   " AND (?9 = '' OR org_id = ?9) AND deleted_at IS NULL"
                                   " RETURNING ") +
                       kEnvFields);
    q.bind(1, env.id).bind(2, env.region).bind(3, to_json_list(env.models))
        .bind(4, env.limits_json).bind(5, env.monthly_token_quota)
        .bind(6, env.monthly_spend_cap_micros).bind(7, env.data_residency)
        .bind(8, now_unix_ms()).bind(9, env.org_id);
    if (q.step()) {
      updated = read_environment(q);
      q.run();
    }
  }
  if (!updated) return std::nullopt;
  write_audit(audit);
  txn.commit();
  return updated;
}

bool SqliteStore::delete_environment(std::string_view env_id, std::int64_t now_ms,
                                     const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("UPDATE environments SET deleted_at = ?2, updated_at = ?2"
            " WHERE id = ?1 AND deleted_at IS NULL")
      .bind(1, env_id).bind(2, now_ms).run();
  if (db_.changes() == 0) return false;
  db_.query("UPDATE api_keys SET revoked_at = ?2 WHERE environment_id = ?1 AND revoked_at IS NULL")
      .bind(1, env_id).bind(2, now_ms).run();
  write_audit(audit);
  txn.commit();
  return true;
}

}  // namespace cic::store
