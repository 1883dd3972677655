// Orgs and environments in PostgreSQL: create, find, list, update, soft delete. Every mutation runs
// in one transaction with its audit entry and a NOTIFY cic_invalidate.
#include "cic/common/ids.hpp"
#include "json_list.hpp"
#include "postgres_store.hpp"
#include "postgres_util.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

const std::string kOrgFields =
    "id, name, email, plan, monthly_spend_cap_micros, created_at, updated_at, deleted_at";
const std::string kEnvFields =
    "id, org_id, name, region, models::text, limits::text, monthly_token_quota,"
    " monthly_spend_cap_micros, data_residency, created_at, updated_at, deleted_at";

Org read_org(const pqxx::row& r) {
  Org o;
  o.id = r[0].as<std::string>();
  o.name = r[1].as<std::string>();
  o.email = r[2].as<std::string>();
  o.plan = r[3].as<std::string>();
  o.monthly_spend_cap_micros = r[4].as<std::int64_t>();
  o.created_at = r[5].as<std::int64_t>();
  o.updated_at = r[6].as<std::int64_t>();
  o.deleted_at = optional_int64(r[7]);
  return o;
}

Environment read_environment(const pqxx::row& r) {
  Environment e;
  e.id = r[0].as<std::string>();
  e.org_id = r[1].as<std::string>();
  e.name = r[2].as<std::string>();
  e.region = r[3].as<std::string>();
  e.models = from_json_list(r[4].c_str());
  e.limits_json = r[5].as<std::string>();
  e.monthly_token_quota = r[6].as<std::int64_t>();
  e.monthly_spend_cap_micros = r[7].as<std::int64_t>();
  e.data_residency = r[8].as<std::string>();
  e.created_at = r[9].as<std::int64_t>();
  e.updated_at = r[10].as<std::int64_t>();
  e.deleted_at = optional_int64(r[11]);
  return e;
}

}  // namespace

void PostgresStore::prepare_tenancy_statements(pqxx::connection& c) {
  // The lookups every authentication or admin call makes; the rest use exec_params.
  // An id match wins over a name match, should an org ever be named like another org's id.
  c.prepare("find_org", "SELECT " + kOrgFields +
                            " FROM orgs WHERE deleted_at IS NULL AND (id = $1 OR name = $1)"
                            " ORDER BY (id = $1) DESC LIMIT 1");
  c.prepare("find_env", "SELECT " + kEnvFields +
                            " FROM environments WHERE org_id = $1 AND deleted_at IS NULL"
                            " AND (id = $2 OR name = $2) ORDER BY (id = $2) DESC LIMIT 1");
  c.prepare("get_env",
            "SELECT " + kEnvFields + " FROM environments WHERE id = $1 AND deleted_at IS NULL");
  prepare_key_statements(c);
}

Org PostgresStore::create_org(Org org, const AuditEntry* audit) {
  if (org.id.empty()) org.id = cic::new_id("org");
  if (org.created_at == 0) org.created_at = now_unix_ms();
  if (org.updated_at == 0) org.updated_at = org.created_at;
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO orgs (id, name, email, plan, monthly_spend_cap_micros, created_at,"
                   " updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                   org.id, org.name, org.email, org.plan, org.monthly_spend_cap_micros,
                   org.created_at, org.updated_at, org.deleted_at);
    pg_write_audit(tx, audit);
    pg_notify(tx, "org", org.id);
    tx.commit();
  });
  return org;
}

std::optional<Org> PostgresStore::find_org(std::string_view id_or_name) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<Org> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_org", std::string(id_or_name));
    if (rows.empty()) return std::nullopt;
    return read_org(rows[0]);
  });
}

PageResult<Org> PostgresStore::list_orgs(const Page& page) {
  const std::size_t limit = page_limit(page);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<Org> rows;
    for (const auto& r : tx.exec_params("SELECT " + kOrgFields +
                                            " FROM orgs WHERE deleted_at IS NULL AND id > $1"
                                            " ORDER BY id LIMIT $2",
                                        page.after, limit + 1)) {
      rows.push_back(read_org(r));
    }
    return to_page(std::move(rows), limit);
  });
}

std::optional<Org> PostgresStore::update_org(const Org& org, const AuditEntry* audit) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<Org> {
    pqxx::work tx(c);
    auto rows = tx.exec_params("UPDATE orgs SET name = $2, email = $3, plan = $4,"
                               " monthly_spend_cap_micros = $5, updated_at = $6"
                               " WHERE id = $1 AND deleted_at IS NULL RETURNING " + kOrgFields,
                               org.id, org.name, org.email, org.plan,
                               org.monthly_spend_cap_micros, now_unix_ms());
    if (rows.empty()) return std::nullopt;  // nothing changed; the transaction aborts
    Org updated = read_org(rows[0]);
    pg_write_audit(tx, audit);
    pg_notify(tx, "org", updated.id);
    tx.commit();
    return updated;
  });
}

bool PostgresStore::delete_org(std::string_view org_id, std::int64_t now_ms,
                               const AuditEntry* audit) {
  const std::string id(org_id);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto done = tx.exec_params("UPDATE orgs SET deleted_at = $2, updated_at = $2"
                               " WHERE id = $1 AND deleted_at IS NULL",
                               id, now_ms);
    if (done.affected_rows() == 0) return false;
    tx.exec_params("UPDATE environments SET deleted_at = $2, updated_at = $2"
                   " WHERE org_id = $1 AND deleted_at IS NULL",
                   id, now_ms);
    tx.exec_params("UPDATE api_keys SET revoked_at = $2 WHERE org_id = $1 AND revoked_at IS NULL",
                   id, now_ms);
    tx.exec_params("UPDATE admin_keys SET revoked_at = $2 WHERE org_id = $1 AND revoked_at IS NULL",
                   id, now_ms);
    pg_write_audit(tx, audit);
    pg_notify(tx, "org", id);
    tx.commit();
    return true;
  });
}

Environment PostgresStore::create_environment(Environment env, const AuditEntry* audit) {
  if (env.id.empty()) env.id = cic::new_id("env");
  if (env.created_at == 0) env.created_at = now_unix_ms();
  if (env.updated_at == 0) env.updated_at = env.created_at;
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO environments (id, org_id, name, region, models, limits,"
                   " monthly_token_quota, monthly_spend_cap_micros, data_residency, created_at,"
                   " updated_at, deleted_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                   env.id, env.org_id, env.name, env.region, to_json_list(env.models),
                   env.limits_json, env.monthly_token_quota, env.monthly_spend_cap_micros,
                   env.data_residency, env.created_at, env.updated_at, env.deleted_at);
    pg_write_audit(tx, audit);
    pg_notify(tx, "environment", env.id);
    tx.commit();
  });
  return env;
}

std::optional<Environment> PostgresStore::find_environment(std::string_view org_id,
                                                           std::string_view id_or_name) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<Environment> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_env", std::string(org_id), std::string(id_or_name));
    if (rows.empty()) return std::nullopt;
    return read_environment(rows[0]);
  });
}

std::optional<Environment> PostgresStore::get_environment(std::string_view id) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<Environment> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("get_env", std::string(id));
    if (rows.empty()) return std::nullopt;
    return read_environment(rows[0]);
  });
}

PageResult<Environment> PostgresStore::list_environments(std::string_view org_id,
                                                         const Page& page) {
  const std::size_t limit = page_limit(page);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<Environment> rows;
    for (const auto& r : tx.exec_params("SELECT " + kEnvFields +
                                            " FROM environments WHERE org_id = $1"
                                            " AND deleted_at IS NULL AND id > $2"
                                            " ORDER BY id LIMIT $3",
                                        std::string(org_id), page.after, limit + 1)) {
      rows.push_back(read_environment(r));
    }
    return to_page(std::move(rows), limit);
  });
}

std::optional<Environment> PostgresStore::update_environment(const Environment& env,
                                                             const AuditEntry* audit) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<Environment> {
    pqxx::work tx(c);
    // A non-empty org_id must match too, so a caller scoped to one org cannot reach another's.
    auto rows = tx.exec_params(
        "UPDATE environments SET region = $2, models = $3, limits = $4, monthly_token_quota = $5,"
        " monthly_spend_cap_micros = $6, data_residency = $7, updated_at = $8 WHERE id = $1"
        " AND ($9 = '' OR org_id = $9) AND deleted_at IS NULL RETURNING " + kEnvFields,
        env.id, env.region, to_json_list(env.models), env.limits_json, env.monthly_token_quota,
        env.monthly_spend_cap_micros, env.data_residency, now_unix_ms(), env.org_id);
    if (rows.empty()) return std::nullopt;
    Environment updated = read_environment(rows[0]);
    pg_write_audit(tx, audit);
    pg_notify(tx, "environment", updated.id);
    tx.commit();
    return updated;
  });
}

bool PostgresStore::delete_environment(std::string_view env_id, std::int64_t now_ms,
                                       const AuditEntry* audit) {
  const std::string id(env_id);
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto done = tx.exec_params("UPDATE environments SET deleted_at = $2, updated_at = $2"
                               " WHERE id = $1 AND deleted_at IS NULL",
                               id, now_ms);
    if (done.affected_rows() == 0) return false;
    tx.exec_params("UPDATE api_keys SET revoked_at = $2"
                   " WHERE environment_id = $1 AND revoked_at IS NULL",
                   id, now_ms);
    pg_write_audit(tx, audit);
    pg_notify(tx, "environment", id);
    tx.commit();
    return true;
  });
}

}  // namespace cic::store
