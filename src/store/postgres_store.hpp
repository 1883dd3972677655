#pragma once
#include <string>

#include "cic/store/store.hpp"
#include "pg_pool.hpp"

namespace cic::store {

/// The production store: PostgreSQL through libpqxx 6.4 with a small connection pool. Each call
/// leases one connection for its duration, so up to `pool_size` calls run in parallel and the
/// rest wait. Single-statement calls run in autocommit (`nontransaction`, one round trip);
/// multi-statement calls (usage batches, key touches, migrations) run in one `work`.
class PostgresStore final : public Store {
 public:
  PostgresStore(const std::string& dsn, unsigned pool_size);

  void migrate() override;
  int schema_version() override;
  bool ping() override;

  Org create_org(Org org) override;
  std::optional<Org> find_org(std::string_view id_or_name) override;

  Environment create_environment(Environment env) override;
  std::optional<Environment> find_environment(std::string_view org_id,
                                              std::string_view id_or_name) override;
  std::optional<Environment> get_environment(std::string_view id) override;

  ApiKey create_api_key(ApiKey key) override;
  std::optional<ApiKey> find_api_key_by_hash(std::string_view hash) override;
  void touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) override;

  void upsert_model(const Model& model) override;
  std::vector<Model> list_models() override;

  void upsert_node(const Node& node) override;
  std::vector<Node> list_nodes() override;

  std::size_t insert_usage(const std::vector<UsageRecord>& records) override;
  std::vector<UsageRecord> list_usage(std::int64_t since_ms, std::size_t limit) override;
  std::size_t count_usage() override;

 private:
  /// Registers every named statement on a fresh connection (libpqxx prepares lazily on first use).
  static void prepare_statements(pqxx::connection& conn);

  PgPool pool_;
};

}  // namespace cic::store
