#pragma once
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cic/store/records.hpp"

namespace cic::store {

/// Any failure of the backing database (connection lost, constraint, SQL error).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A unique constraint was violated (e.g. an org name that exists).
class StoreConflict : public StoreError {
 public:
  using StoreError::StoreError;
};

/// The persistent state of cic-control. Every method BLOCKS on the database: call it only from the
/// blocking thread pool, never from an event-loop thread. Implementations are thread-safe (each
/// call takes its own connection or serializes on one).
class Store {
 public:
  virtual ~Store() = default;

  /// Applies pending versioned migrations (idempotent). Called once at start.
  virtual void migrate() = 0;
  /// The highest applied migration version.
  virtual int schema_version() = 0;
  /// Cheap round trip, for readiness.
  virtual bool ping() = 0;

  virtual Org create_org(Org org) = 0;  // fills id/created_at when empty; StoreConflict on name
  virtual std::optional<Org> find_org(std::string_view id_or_name) = 0;

  virtual Environment create_environment(Environment env) = 0;  // StoreConflict on (org, name)
  virtual std::optional<Environment> find_environment(std::string_view org_id,
                                                      std::string_view id_or_name) = 0;
  virtual std::optional<Environment> get_environment(std::string_view id) = 0;

  virtual ApiKey create_api_key(ApiKey key) = 0;
  virtual std::optional<ApiKey> find_api_key_by_hash(std::string_view hash) = 0;
  /// Batched `last_used_at` updates: (key id, unix ms). Never called per request.
  virtual void touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) = 0;

  virtual void upsert_model(const Model& model) = 0;
  virtual std::vector<Model> list_models() = 0;

  virtual void upsert_node(const Node& node) = 0;
  virtual std::vector<Node> list_nodes() = 0;

  /// Inserts usage records in one transaction; a request_id already present is skipped.
  /// Returns how many rows were new.
  virtual std::size_t insert_usage(const std::vector<UsageRecord>& records) = 0;
  /// Records with created_at >= since_ms, oldest first, at most `limit`.
  virtual std::vector<UsageRecord> list_usage(std::int64_t since_ms, std::size_t limit) = 0;
  virtual std::size_t count_usage() = 0;
};

/// SQLite file at `path` (created with its directory if missing; WAL journal).
std::unique_ptr<Store> make_sqlite_store(const std::string& path);
/// PostgreSQL through libpqxx with up to `pool_size` connections.
std::unique_ptr<Store> make_postgres_store(const std::string& dsn, unsigned pool_size);

}  // namespace cic::store
