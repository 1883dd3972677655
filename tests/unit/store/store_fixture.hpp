#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "cic/store/store.hpp"

namespace cic::store::testing {

/// The backends every contract test runs against.
inline constexpr const char* kSqlite = "sqlite";
inline constexpr const char* kPostgres = "postgres";

/// Gives each test case its own empty database: a fresh SQLite file in a temp directory, or a
/// uniquely named PostgreSQL schema (selected through search_path) on the server named by
/// CIC_TEST_POSTGRES_DSN, dropped afterwards. Schemas rather than databases keep the setup cheap
/// and let parallel test executables share one server without seeing each other's rows.
class StoreFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;

  bool is_postgres() const { return GetParam() == kPostgres; }
  /// A new, independent Store on the same database (a second process, or a reopen).
  std::unique_ptr<Store> open_store(unsigned pool_size = 2) const;
  /// Closes store_ and opens it again on the same database.
  void reopen();
  /// PostgreSQL: the DSN the stores of this test use (search_path and application_name = schema_).
  std::string store_dsn() const;
  /// Runs `sql` on the test's database directly, bypassing the store (sqlite3 / libpqxx).
  void exec_raw(const std::string& sql) const;

  std::unique_ptr<Store> store_;
  std::string schema_;  // PostgreSQL: the test's schema; also its application_name
  std::filesystem::path sqlite_dir_;
  std::string admin_dsn_;  // PostgreSQL: CIC_TEST_POSTGRES_DSN as given
};

/// StoreFixture with the schema already migrated.
class StoreContract : public StoreFixture {
 protected:
  void SetUp() override;
};

/// An audit entry for `action` on `target_id` in `org_id`, actor "operator".
AuditEntry make_audit(const std::string& action, const std::string& target_id = "",
                      const std::string& org_id = "");
/// Every audit entry (newest first), at most 1000.
std::vector<AuditEntry> all_audit(Store& store);

/// A usage record with every field set from `n`, for round-trip and bulk tests.
UsageRecord make_usage(const std::string& request_id, std::int64_t created_at, int n = 0);
/// An org with one environment, which api keys need (foreign keys).
std::pair<Org, Environment> make_org_env(Store& store, const std::string& org_name);

/// Terminates the PostgreSQL backends whose application_name is `schema`.
void terminate_backends(const std::string& admin_dsn, const std::string& schema);

std::string backend_name(const ::testing::TestParamInfo<std::string>& info);

}  // namespace cic::store::testing
