// Orgs, environments, API keys, models and nodes in PostgreSQL.
#include "postgres_store.hpp"

#include <algorithm>
#include <map>

#include "cic/common/ids.hpp"
#include "json_list.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

std::optional<std::int64_t> optional_int64(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::int64_t>();
}

Org read_org(const pqxx::row& r) {
  return Org{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
             r[3].as<std::string>(), r[4].as<std::int64_t>()};
}

Environment read_environment(const pqxx::row& r) {
  return Environment{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), from_json_list(r[4].c_str()),
                     r[5].as<std::int64_t>()};
}

// Rows per UPDATE in touch_api_keys: 2 parameters each, far below PostgreSQL's 65535 limit.
constexpr std::size_t kTouchChunk = 1000;

}  // namespace

PostgresStore::PostgresStore(const std::string& dsn, unsigned pool_size)
    : pool_(dsn, pool_size, &PostgresStore::prepare_statements) {}

void PostgresStore::prepare_statements(pqxx::connection& c) {
  c.prepare("insert_org",
            "INSERT INTO orgs (id, name, email, plan, created_at) VALUES ($1, $2, $3, $4, $5)");
  // An id match wins over a name match, should an org ever be named like another org's id.
  c.prepare("find_org",
            "SELECT id, name, email, plan, created_at FROM orgs WHERE id = $1 OR name = $1"
            " ORDER BY (id = $1) DESC LIMIT 1");
  c.prepare("insert_env",
            "INSERT INTO environments (id, org_id, name, region, models, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6)");
  c.prepare("find_env",
            "SELECT id, org_id, name, region, models::text, created_at FROM environments"
            " WHERE org_id = $1 AND (id = $2 OR name = $2) ORDER BY (id = $2) DESC LIMIT 1");
  c.prepare("get_env",
            "SELECT id, org_id, name, region, models::text, created_at FROM environments"
            " WHERE id = $1");
  c.prepare("insert_key",
            "INSERT INTO api_keys (id, org_id, environment_id, name, prefix, hash, created_at,"
            " expires_at, revoked_at, last_used_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
  c.prepare("find_key",
            "SELECT id, org_id, environment_id, name, prefix, hash, created_at, expires_at,"
            " revoked_at, last_used_at FROM api_keys WHERE hash = $1");
  c.prepare("upsert_model",
            "INSERT INTO models (id, family, kind, context_length, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET"
            " family = excluded.family, kind = excluded.kind,"
            " context_length = excluded.context_length");
  c.prepare("list_models", "SELECT id, family, kind, context_length FROM models ORDER BY id");
  c.prepare("upsert_node",
            "INSERT INTO nodes (id, provider, region, instance_type, models, endpoint, spot,"
            " price_per_hour_micros, capacity_tokens_per_sec, state, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO UPDATE SET"
            " provider = excluded.provider, region = excluded.region,"
            " instance_type = excluded.instance_type, models = excluded.models,"
            " endpoint = excluded.endpoint, spot = excluded.spot,"
            " price_per_hour_micros = excluded.price_per_hour_micros,"
            " capacity_tokens_per_sec = excluded.capacity_tokens_per_sec,"
            " state = excluded.state, updated_at = excluded.updated_at");
  c.prepare("list_nodes",
            "SELECT id, provider, region, instance_type, models::text, endpoint, spot,"
            " price_per_hour_micros, capacity_tokens_per_sec, state, updated_at"
            " FROM nodes ORDER BY id");
  c.prepare("list_usage",
            "SELECT request_id, org_id, environment_id, api_key_id, model, region, node_id,"
            " endpoint, prompt_tokens, completion_tokens, cached_tokens, latency_ms, ttft_ms,"
            " status, streamed, cancelled, created_at FROM usage_records WHERE created_at >= $1"
            " ORDER BY created_at, request_id LIMIT $2");
  c.prepare("count_usage", "SELECT COUNT(*) FROM usage_records");
}

Org PostgresStore::create_org(Org org) {
  if (org.id.empty()) org.id = cic::new_id("org");
  if (org.created_at == 0) org.created_at = now_unix_ms();
  pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("insert_org", org.id, org.name, org.email, org.plan, org.created_at);
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

Environment PostgresStore::create_environment(Environment env) {
  if (env.id.empty()) env.id = cic::new_id("env");
  if (env.created_at == 0) env.created_at = now_unix_ms();
  pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("insert_env", env.id, env.org_id, env.name, env.region,
                     to_json_list(env.models), env.created_at);
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

ApiKey PostgresStore::create_api_key(ApiKey key) {
  if (key.id.empty()) key.id = cic::new_id("key");
  if (key.created_at == 0) key.created_at = now_unix_ms();
  pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("insert_key", key.id, key.org_id, key.environment_id, key.name, key.prefix,
                     key.hash, key.created_at, key.expires_at, key.revoked_at, key.last_used_at);
  });
  return key;
}

std::optional<ApiKey> PostgresStore::find_api_key_by_hash(std::string_view hash) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<ApiKey> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared("find_key", std::string(hash));
    if (rows.empty()) return std::nullopt;
    const auto& r = rows[0];
    return ApiKey{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                  r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                  r[6].as<std::int64_t>(), optional_int64(r[7]),  optional_int64(r[8]),
                  optional_int64(r[9])};
  });
}

void PostgresStore::touch_api_keys(
    const std::vector<std::pair<std::string, std::int64_t>>& last_used) {
  if (last_used.empty()) return;
  // One row per key (the latest time wins), in id order so concurrent batches lock rows in the
  // same order and cannot deadlock each other.
  std::map<std::string, std::int64_t> latest;
  for (const auto& [id, at] : last_used) {
    auto [it, fresh] = latest.emplace(id, at);
    if (!fresh) it->second = std::max(it->second, at);
  }
  std::vector<std::pair<std::string, std::int64_t>> rows(latest.begin(), latest.end());
  pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    for (std::size_t begin = 0; begin < rows.size(); begin += kTouchChunk) {
      const std::size_t end = std::min(rows.size(), begin + kTouchChunk);
      std::string sql = "UPDATE api_keys AS k SET last_used_at = v.at FROM (VALUES ";
      std::vector<std::string> params;
      for (std::size_t i = begin; i < end; ++i) {
        const std::size_t n = params.size();
        sql += (i == begin ? "" : ", ");
        sql += "($";
        sql += std::to_string(n + 1);
        sql += ", $";
        sql += std::to_string(n + 2);
        sql += "::bigint)";
        params.push_back(rows[i].first);
        params.push_back(std::to_string(rows[i].second));
      }
      // Never move last_used_at backwards: batches from several gateways arrive out of order.
      sql += ") AS v(id, at) WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)";
      tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    }
    tx.commit();
  });
}

void PostgresStore::upsert_model(const Model& model) {
  pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("upsert_model", model.id, model.family, model.kind, model.context_length,
                     now_unix_ms());
  });
}

std::vector<Model> PostgresStore::list_models() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<Model> out;
    for (const auto& r : tx.exec_prepared("list_models")) {
      out.push_back(Model{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                          r[3].as<std::int64_t>()});
    }
    return out;
  });
}

void PostgresStore::upsert_node(const Node& node) {
  pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("upsert_node", node.id, node.provider, node.region, node.instance_type,
                     to_json_list(node.models), node.endpoint, node.spot,
                     node.price_per_hour_micros, node.capacity_tokens_per_sec, node.state,
                     node.updated_at != 0 ? node.updated_at : now_unix_ms());
  });
}

std::vector<Node> PostgresStore::list_nodes() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<Node> out;
    for (const auto& r : tx.exec_prepared("list_nodes")) {
      out.push_back(Node{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                         r[3].as<std::string>(), from_json_list(r[4].c_str()),
                         r[5].as<std::string>(), r[6].as<bool>(), r[7].as<std::int64_t>(),
                         r[8].as<std::int64_t>(), r[9].as<std::string>(),
                         r[10].as<std::int64_t>()});
    }
    return out;
  });
}

}  // namespace cic::store
