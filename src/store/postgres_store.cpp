// Models and key touches in PostgreSQL (nodes: postgres_nodes.cpp), and the statements prepared on every connection.
#include "postgres_store.hpp"

#include <algorithm>
#include <map>

#include "json_list.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

// Rows per UPDATE in touch_api_keys: 2 parameters each, far below PostgreSQL's 65535 limit.
constexpr std::size_t kTouchChunk = 1000;

}  // namespace

PostgresStore::PostgresStore(const std::string& dsn, unsigned pool_size)
    : pool_(dsn, pool_size, &PostgresStore::prepare_statements) {}

void PostgresStore::prepare_statements(pqxx::connection& c) {
  prepare_tenancy_statements(c);
  c.prepare("upsert_model",
            "INSERT INTO models (id, family, kind, context_length, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET"
            " family = excluded.family, kind = excluded.kind,"
            " context_length = excluded.context_length");
  c.prepare("list_models", "SELECT id, family, kind, context_length FROM models ORDER BY id");
  prepare_node_statements(c);
  c.prepare("list_usage",
            "SELECT request_id, org_id, environment_id, api_key_id, model, region, node_id,"
            " endpoint, prompt_tokens, completion_tokens, cached_tokens, latency_ms, ttft_ms,"
            " status, streamed, cancelled, created_at FROM usage_records WHERE created_at >= $1"
            " ORDER BY created_at, request_id LIMIT $2");
  c.prepare("count_usage", "SELECT COUNT(*) FROM usage_records");
  prepare_usage_statements(c);
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

}  // namespace cic::store
