// Schema migrations, health and construction of the SQLite store.
#include "migrations.hpp"
#include "sqlite_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {
constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " applied_at INTEGER NOT NULL)";

// Foreign keys are off while migrations run: rebuilding a parent table (create new, copy, drop
// old, rename) would otherwise cascade the DROP into its children. The pragma is a no-op inside a
// transaction, so it is switched around the loop, and back on however migrate() leaves.
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(SqliteDb& db) : db_(db) { db_.exec("PRAGMA foreign_keys=OFF"); }
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;
  ~ForeignKeysOff() {
    try {
      db_.exec("PRAGMA foreign_keys=ON");
    } catch (const StoreError&) {
      // Only fails inside an open transaction, which every path has closed by now.
    }
  }

 private:
  SqliteDb& db_;
};
}  // namespace

SqliteStore::SqliteStore(const std::string& path) : db_(path) {}

void SqliteStore::migrate() {
  std::lock_guard lock(mu_);
  {
    SqliteTransaction txn(db_);
    db_.exec(kCreateMigrationsTable);
    txn.commit();
  }
  ForeignKeysOff foreign_keys_off(db_);
  for (const Migration& m : sqlite_migrations()) {
    // BEGIN IMMEDIATE holds the file's write lock, so a second process running migrate() at the
    // same moment waits here and then sees the version already recorded.
    SqliteTransaction txn(db_);
    bool applied = false;
    {
      auto q = db_.query("SELECT 1 FROM schema_migrations WHERE version = ?");
      q.bind(1, std::int64_t{m.version});
      applied = q.step();
    }
    if (applied) continue;  // the transaction rolls back: nothing was written
    try {
      db_.exec(std::string(m.sql));
    } catch (const StoreError& e) {
      throw StoreError("migration " + std::to_string(m.version) + "_" + std::string(m.name) +
                       " failed: " + e.what());
    }
    // With enforcement off, make sure the migration left every reference intact before it sticks.
    if (db_.query("PRAGMA foreign_key_check").step()) {
      throw StoreError("migration " + std::to_string(m.version) + "_" + std::string(m.name) +
                       " left rows violating foreign keys");
    }
    db_.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
        .bind(1, std::int64_t{m.version})
        .bind(2, now_unix_ms())
        .run();
    txn.commit();
  }
}

int SqliteStore::schema_version() {
  std::lock_guard lock(mu_);
  // Before the first migrate() the table does not exist: that is version 0, not an error.
  {
    auto exists = db_.query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    if (!exists.step()) return 0;
  }
  auto q = db_.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  q.step();
  return static_cast<int>(q.int64(0));
}

bool SqliteStore::ping() {
  std::lock_guard lock(mu_);
  try {
    auto q = db_.query("SELECT 1");
    return q.step() && q.int64(0) == 1;
  } catch (const StoreError&) {
    return false;
  }
}

std::unique_ptr<Store> make_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace cic::store
