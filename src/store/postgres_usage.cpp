// Usage records in PostgreSQL: a batch goes as 17 column arrays in one prepared statement that
// inserts the rows (ON CONFLICT DO NOTHING) and adds the new ones to usage_hourly, in one
// transaction and one round trip.
#include <algorithm>
#include <array>
#include <limits>

#include "postgres_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

// unnest() of the column arrays yields the rows in array order, which is request_id order (the
// batch is sorted below), and rollups are inserted in key order: two replicas merging
// overlapping batches take their row locks in the same order and cannot deadlock. Only the rows
// the INSERT really added come back from RETURNING, so the rollup counts a request once however
// often its batch is replayed.
//
// Why arrays rather than a multi-row VALUES list: one prepared statement of 17 parameters is
// parsed and planned once per connection, instead of a fresh 17,000-parameter statement per batch;
// and rather than COPY into a staging table: as fast here, without a temporary table per session.
constexpr const char* kMerge =
    "WITH new_rows AS ("
    " INSERT INTO usage_records (request_id, org_id, environment_id, api_key_id, model, region,"
    "  node_id, endpoint, prompt_tokens, completion_tokens, cached_tokens, latency_ms, ttft_ms,"
    "  status, streamed, cancelled, created_at)"
    " SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],"
    "  $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[], $13::BIGINT[],"
    "  $14::INTEGER[], $15::BOOLEAN[], $16::BOOLEAN[], $17::BIGINT[])"
    " ON CONFLICT (request_id) DO NOTHING"
    " RETURNING org_id, environment_id, model, region, created_at, prompt_tokens,"
    "  completion_tokens, cached_tokens),"
    " rollup AS ("
    " INSERT INTO usage_hourly (org_id, environment_id, model, region, hour_start, requests,"
    "  prompt_tokens, completion_tokens, cached_tokens)"
    " SELECT org_id, environment_id, model, region, hour_start, COUNT(*), SUM(prompt_tokens),"
    "  SUM(completion_tokens), SUM(cached_tokens)"
    " FROM (SELECT *, created_at - ((created_at % 3600000) + 3600000) % 3600000 AS hour_start"
    "  FROM new_rows) AS n"
    " GROUP BY org_id, environment_id, model, region, hour_start"
    " ORDER BY org_id, environment_id, model, region, hour_start"
    " ON CONFLICT (org_id, environment_id, model, region, hour_start) DO UPDATE SET"
    "  requests = usage_hourly.requests + excluded.requests,"
    "  prompt_tokens = usage_hourly.prompt_tokens + excluded.prompt_tokens,"
    "  completion_tokens = usage_hourly.completion_tokens + excluded.completion_tokens,"
    "  cached_tokens = usage_hourly.cached_tokens + excluded.cached_tokens)"
    " SELECT COUNT(*) FROM new_rows";

// More than a pool ever holds: enough to get past every stale connection after a restart.
constexpr int kStaleConnectionRetries = 16;

/// Builds the text form of one array parameter ({"a","b"} / {1,2} / {t,f}) element by element.
class ArrayParam {
 public:
  void text(const std::string& v) {
    separator();
    out_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  void number(std::int64_t v) {
    separator();
    out_ += std::to_string(v);
  }
  void boolean(bool v) {
    separator();
    out_ += v ? 't' : 'f';
  }
  std::string finish() { return std::move(out_ += '}'); }

 private:
  void separator() {
    if (out_.size() > 1) out_ += ',';
  }
  std::string out_ = "{";
};

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

void PostgresStore::prepare_usage_statements(pqxx::connection& c) {
  c.prepare("usage_merge", kMerge);
  c.prepare("list_usage_hourly",
            "SELECT org_id, environment_id, model, region, hour_start, requests, prompt_tokens,"
            " completion_tokens, cached_tokens FROM usage_hourly"
            " WHERE ($1 = '' OR org_id = $1) AND ($2 = '' OR environment_id = $2)"
            " AND ($3 = '' OR model = $3) AND ($4 = '' OR region = $4)"
            " AND ($5::BIGINT = 0 OR hour_start >= $5::BIGINT)"
            " AND ($6::BIGINT = 0 OR hour_start < $6::BIGINT)"
            " ORDER BY hour_start, org_id, environment_id, model, region");
}

std::size_t PostgresStore::insert_usage(const std::vector<UsageRecord>& records) {
  if (records.empty()) return 0;
  // Sorted by request_id (the lock order, see kMerge); duplicates inside the batch are dropped
  // here, first one wins.
  std::vector<const UsageRecord*> rows;
  rows.reserve(records.size());
  for (const auto& r : records) rows.push_back(&r);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto* a, const auto* b) { return a->request_id < b->request_id; });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const auto* a, const auto* b) { return a->request_id == b->request_id; }),
             rows.end());

  const std::int64_t now = now_unix_ms();
  std::array<ArrayParam, 17> columns;
  for (const UsageRecord* r : rows) {
    columns[0].text(r->request_id);
    columns[1].text(r->org_id);
    columns[2].text(r->environment_id);
    columns[3].text(r->api_key_id);
    columns[4].text(r->model);
    columns[5].text(r->region);
    columns[6].text(r->node_id);
    columns[7].text(r->endpoint);
    columns[8].number(r->prompt_tokens);
    columns[9].number(r->completion_tokens);
    columns[10].number(r->cached_tokens);
    columns[11].number(r->latency_ms);
    columns[12].number(r->ttft_ms);
    columns[13].number(r->status);
    columns[14].boolean(r->streamed);
    columns[15].boolean(r->cancelled);
    columns[16].number(r->created_at != 0 ? r->created_at : now);
  }
  std::vector<std::string> params;
  params.reserve(columns.size());
  for (auto& column : columns) params.push_back(column.finish());
  // After a server restart every idle pooled connection is dead, and each is found out only when
  // used. A batch is idempotent, so it simply goes again on the next connection (the pool drops
  // the dead one) instead of failing once per stale connection while a backlog waits.
  for (int attempt = 0;; ++attempt) {
    bool lost = false;
    try {
      return pool_.run([&](pqxx::connection& c) {
        try {
          pqxx::work tx(c);
          const auto inserted =
              tx.exec_prepared("usage_merge", pqxx::prepare::make_dynamic_params(params))[0][0].as<std::size_t>();
          tx.commit();
          return inserted;
        } catch (const pqxx::broken_connection&) {
          lost = true;
          throw;
        }
      });
    } catch (const StoreError&) {
      if (!lost || attempt >= kStaleConnectionRetries) throw;
    }
  }
}

std::vector<UsageHourly> PostgresStore::list_usage_hourly(const UsageHourlyFilter& filter) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<UsageHourly> out;
    for (const auto& r : tx.exec_prepared("list_usage_hourly", filter.org_id, filter.environment_id,
                                          filter.model, filter.region, filter.from_ms, filter.to_ms)) {
      out.push_back(UsageHourly{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                                r[3].as<std::string>(), r[4].as<std::int64_t>(), r[5].as<std::int64_t>(),
                                r[6].as<std::int64_t>(), r[7].as<std::int64_t>(), r[8].as<std::int64_t>()});
    }
    return out;
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
