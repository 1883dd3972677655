#pragma once
#include <mutex>
#include <string>

#include "cic/store/store.hpp"
#include "sqlite_db.hpp"

namespace cic::store {

/// The embedded default: one SQLite file, one connection, one mutex.
///
/// Why a single connection: SQLite allows one writer per file at a time no matter how many
/// connections exist, and nearly all of cic-control's store traffic is writes (usage batches, key
/// touches, node heartbeats) or tiny point reads. Several connections would only turn our own
/// contention into SQLITE_BUSY retries and multiply the prepared-statement caches; the mutex makes
/// the queueing explicit and cheap. Other processes are still handled by WAL + busy_timeout.
class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path);

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
  // One environment by a WHERE clause with one or two text parameters (?1, ?2).
  std::optional<Environment> environment_where(const std::string& where, std::string_view a,
                                               std::optional<std::string_view> b);

  std::mutex mu_;  // guards db_: a sqlite3 connection must not be used by two threads at once
  SqliteDb db_;
};

}  // namespace cic::store
