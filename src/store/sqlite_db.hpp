#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace cic::store {

/// One bound, cached prepared statement. Resets itself (and clears its bindings) when it goes out
/// of scope, so the cache can hand the same statement out again. Parameters are 1-based, columns
/// 0-based, as in the sqlite3 C API.
class SqliteQuery {
 public:
  SqliteQuery(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteQuery(const SqliteQuery&) = delete;
  SqliteQuery& operator=(const SqliteQuery&) = delete;
  ~SqliteQuery();

  SqliteQuery& bind(int index, std::string_view text);
  SqliteQuery& bind(int index, std::int64_t value);
  SqliteQuery& bind(int index, std::optional<std::int64_t> value);

  /// Advances to the next row; false when done. Throws StoreError / StoreConflict.
  bool step();
  /// Runs a statement that returns no rows.
  void run();

  std::int64_t int64(int column) const;
  std::string text(int column) const;
  std::optional<std::int64_t> optional_int64(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

/// Owns one sqlite3 connection and its prepared-statement cache. Not thread-safe: SqliteStore
/// serializes every use behind its mutex.
class SqliteDb {
 public:
  /// Opens (creating the file and its parent directory), then sets WAL, busy_timeout and
  /// foreign_keys.
  explicit SqliteDb(const std::string& path);
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  /// Runs one or more statements without parameters (migrations, BEGIN/COMMIT, pragmas).
  void exec(const std::string& sql);
  /// A statement from the cache, prepared on first use.
  SqliteQuery query(const std::string& sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE (0 for an ignored INSERT OR IGNORE).
  std::int64_t changes() const;

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back on scope exit unless committed. IMMEDIATE takes the
/// write lock up front, so two writers queue on busy_timeout instead of failing with SQLITE_BUSY
/// when a read transaction tries to upgrade.
class SqliteTransaction {
 public:
  explicit SqliteTransaction(SqliteDb& db);
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  ~SqliteTransaction();
  void commit();

 private:
  SqliteDb& db_;
  bool done_ = false;
};

/// Throws StoreConflict for unique/primary-key violations, StoreError otherwise.
[[noreturn]] void throw_sqlite_error(sqlite3* db, int rc, std::string_view what);

}  // namespace cic::store
