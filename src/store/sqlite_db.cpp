#include "sqlite_db.hpp"

#include <sqlite3.h>

#include <filesystem>

#include "cic/store/store.hpp"

namespace cic::store {

namespace {
// How long a writer waits for another process's write lock before giving up. Long enough for a
// migration or a large usage batch in a second process, short enough to surface a stuck lock.
constexpr int kBusyTimeoutMs = 10000;
}  // namespace

void throw_sqlite_error(sqlite3* db, int rc, std::string_view what) {
  int extended = db != nullptr ? sqlite3_extended_errcode(db) : rc;
  std::string message = "sqlite: " + std::string(what) + ": " +
                        (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY) {
    throw StoreConflict(message);
  }
  throw StoreError(message);
}

SqliteQuery::~SqliteQuery() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

SqliteQuery& SqliteQuery::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so callers may pass temporaries.
  int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
  return *this;
}

SqliteQuery& SqliteQuery::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
  return *this;
}

SqliteQuery& SqliteQuery::bind(int index, std::optional<std::int64_t> value) {
  int rc = value ? sqlite3_bind_int64(stmt_, index, *value) : sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
  return *this;
}

bool SqliteQuery::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite_error(db_, rc, sqlite3_sql(stmt_));
}

void SqliteQuery::run() {
  while (step()) {
  }
}

std::int64_t SqliteQuery::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string SqliteQuery::text(int column) const {
  const auto* bytes = sqlite3_column_text(stmt_, column);
  if (bytes == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(bytes),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::optional<std::int64_t> SqliteQuery::optional_int64(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt_, column);
}

SqliteDb::SqliteDb(const std::string& path) {
  if (path != ":memory:" && !path.starts_with("file:")) {
    auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) throw StoreError("sqlite: cannot create directory " + parent.string() + ": " + ec.message());
  }
  // NOMUTEX: SqliteStore already serializes every call, SQLite's own mutex would be redundant.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "sqlite: cannot open " + path + ": " +
                          (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    throw StoreError(message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  try {
    // WAL lets readers in other processes (backups, sqlite3 CLI) run while we write.
    exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

void SqliteDb::exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    sqlite3_free(error);  // sqlite3_errmsg(db_) carries the same text
    throw_sqlite_error(db_, rc, "exec");
  }
}

SqliteQuery SqliteDb::query(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "prepare");
    it = statements_.emplace(sql, stmt).first;
  }
  return SqliteQuery(db_, it->second);
}

std::int64_t SqliteDb::changes() const { return sqlite3_changes64(db_); }

SqliteTransaction::SqliteTransaction(SqliteDb& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

SqliteTransaction::~SqliteTransaction() {
  if (done_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (const StoreError&) {
    // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL); nothing to undo.
  }
}

void SqliteTransaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace cic::store

