// Schema migrations, health and construction of the PostgreSQL store.
#include "migrations.hpp"
#include "postgres_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

// pg_advisory_xact_lock key shared by every cic-control process migrating the same database
// (the bytes spell "cic-migr").
constexpr std::int64_t kMigrationLockKey = 0x6369632d6d696772;

bool migrations_table_exists(pqxx::transaction_base& tx) {
  // to_regclass follows search_path and answers NULL instead of failing when the table is absent.
  return !tx.exec("SELECT to_regclass('schema_migrations')")[0][0].is_null();
}

}  // namespace

void PostgresStore::migrate() {
  pool_.run([&](pqxx::connection& c) {
    for (const Migration& m : postgres_migrations()) {
      pqxx::work tx(c);
      // Transaction-scoped advisory lock: a second process blocks here until our COMMIT and then
      // finds the version recorded. PostgreSQL releases it even if this process dies mid-way.
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      if (!migrations_table_exists(tx)) {
        tx.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                " applied_at BIGINT NOT NULL)");
      }
      if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version)
               .empty()) {
        continue;  // already applied; the transaction aborts as it goes out of scope
      }
      try {
        tx.exec(std::string(m.sql));
      } catch (const pqxx::sql_error& e) {
        throw StoreError("postgres: migration " + std::to_string(m.version) + "_" +
                         std::string(m.name) + " failed: " + e.what());
      }
      tx.exec_params("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                     m.version, now_unix_ms());
      tx.commit();
    }
  });
}

int PostgresStore::schema_version() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    if (!migrations_table_exists(tx)) return 0;
    return tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
}

bool PostgresStore::ping() {
  try {
    return pool_.run([&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return tx.exec("SELECT 1")[0][0].as<int>() == 1;
    });
  } catch (const StoreError&) {
    return false;
  }
}

std::unique_ptr<Store> make_postgres_store(const std::string& dsn, unsigned pool_size) {
  return std::make_unique<PostgresStore>(dsn, pool_size);
}

}  // namespace cic::store
