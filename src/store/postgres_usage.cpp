// Usage records in PostgreSQL: idempotent multi-row batches.
#include <algorithm>
#include <limits>

#include "postgres_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

constexpr int kUsageColumns = 17;
// Rows per INSERT: 17 parameters each keeps a statement at 17,000 parameters, under PostgreSQL's
// 65,535 limit, while a typical flush (hundreds of rows) still goes out in one round trip.
constexpr std::size_t kUsageChunk = 1000;

void append_params(std::vector<std::string>& params, const UsageRecord& r, std::int64_t now) {
  params.push_back(r.request_id);
  params.push_back(r.org_id);
  params.push_back(r.environment_id);
  params.push_back(r.api_key_id);
  params.push_back(r.model);
  params.push_back(r.region);
  params.push_back(r.node_id);
  params.push_back(r.endpoint);
  params.push_back(std::to_string(r.prompt_tokens));
  params.push_back(std::to_string(r.completion_tokens));
  params.push_back(std::to_string(r.cached_tokens));
  params.push_back(std::to_string(r.latency_ms));
  params.push_back(std::to_string(r.ttft_ms));
  params.push_back(std::to_string(r.status));
  params.push_back(r.streamed ? "true" : "false");
  params.push_back(r.cancelled ? "true" : "false");
  params.push_back(std::to_string(r.created_at != 0 ? r.created_at : now));
}

std::string insert_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO usage_records (request_id, org_id, environment_id, api_key_id, model, region,"
      " node_id, endpoint, prompt_tokens, completion_tokens, cached_tokens, latency_ms, ttft_ms,"
      " status, streamed, cancelled, created_at) VALUES ";
  int n = 0;
  for (std::size_t row = 0; row < rows; ++row) {
    sql += row == 0 ? "(" : ", (";
    for (int col = 0; col < kUsageColumns; ++col) {
      if (col != 0) sql += ", ";
      // Appended piecewise: `"$" + std::to_string(n)` trips a GCC 12 -Wrestrict false positive.
      sql += '$';
      sql += std::to_string(++n);
    }
    sql += ")";
  }
  return sql + " ON CONFLICT (request_id) DO NOTHING";
}

UsageRecord read_usage(const pqxx::row& r) {
  UsageRecord u;
  u.request_id = r[0].as<std::string>();
  u.org_id = r[1].as<std::string>();
  u.environment_id = r[2].as<std::string>();
  u.api_key_id = r[3].as<std::string>();
  u.model = r[4].as<std::string>();
  u.region = r[5].as<std::string>();
  u.node_id = r[6].as<std::string>();
  u.endpoint = r[7].as<std::string>();
  u.prompt_tokens = r[8].as<std::int64_t>();
  u.completion_tokens = r[9].as<std::int64_t>();
  u.cached_tokens = r[10].as<std::int64_t>();
  u.latency_ms = r[11].as<std::int64_t>();
  u.ttft_ms = r[12].as<std::int64_t>();
  u.status = r[13].as<int>();
  u.streamed = r[14].as<bool>();
  u.cancelled = r[15].as<bool>();
  u.created_at = r[16].as<std::int64_t>();
  return u;
}

}  // namespace

std::size_t PostgresStore::insert_usage(const std::vector<UsageRecord>& records) {
  if (records.empty()) return 0;
  // Sorted by request_id so two concurrent batches with overlapping ids take their row locks in
  // the same order (no deadlock); duplicates inside the batch are dropped here, first one wins.
  std::vector<const UsageRecord*> rows;
  rows.reserve(records.size());
  for (const auto& r : records) rows.push_back(&r);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto* a, const auto* b) { return a->request_id < b->request_id; });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const auto* a, const auto* b) { return a->request_id == b->request_id; }),
             rows.end());

  const std::int64_t now = now_unix_ms();
  return pool_.run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    std::size_t inserted = 0;
    std::vector<std::string> params;
    for (std::size_t begin = 0; begin < rows.size(); begin += kUsageChunk) {
      const std::size_t end = std::min(rows.size(), begin + kUsageChunk);
      params.clear();
      for (std::size_t i = begin; i < end; ++i) append_params(params, *rows[i], now);
      // affected_rows() counts only the rows ON CONFLICT DO NOTHING let through: the new ones.
      auto result = tx.exec_params(insert_sql(end - begin), pqxx::prepare::make_dynamic_params(params));
      inserted += result.affected_rows();
    }
    tx.commit();
    return inserted;
  });
}

std::vector<UsageRecord> PostgresStore::list_usage(std::int64_t since_ms, std::size_t limit) {
  const auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  const auto capped = static_cast<std::int64_t>(std::min(limit, max));
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<UsageRecord> out;
    for (const auto& r : tx.exec_prepared("list_usage", since_ms, capped)) out.push_back(read_usage(r));
    return out;
  });
}

std::size_t PostgresStore::count_usage() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec_prepared("count_usage")[0][0].as<std::size_t>();
  });
}

}  // namespace cic::store
