// Behaviour specific to one backend, and the embedded migrations themselves.
#include <unistd.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "migrations.hpp"
#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

TEST(EmbeddedMigrations, BothDialectsHaveTheSameAscendingVersions) {
  auto lite = sqlite_migrations();
  auto pg = postgres_migrations();
  ASSERT_FALSE(lite.empty());
  ASSERT_EQ(lite.size(), pg.size());
  for (std::size_t i = 0; i < lite.size(); ++i) {
    EXPECT_EQ(lite[i].version, pg[i].version);
    EXPECT_EQ(lite[i].name, pg[i].name);
    if (i > 0) {
      EXPECT_GT(lite[i].version, lite[i - 1].version);
    }
  }
  EXPECT_NE(lite[0].sql.find("CREATE TABLE usage_records"), std::string_view::npos);
  EXPECT_NE(pg[0].sql.find("CREATE TABLE usage_records"), std::string_view::npos);
}

TEST(SqliteStoreOnly, CreatesMissingParentDirectories) {
  auto dir = std::filesystem::temp_directory_path() / ("cic-store-dirs-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    auto store = make_sqlite_store((dir / "a" / "b" / "cic.db").string());
    store->migrate();
    EXPECT_TRUE(store->ping());
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "b" / "cic.db"));
  std::filesystem::remove_all(dir);
}

TEST(SqliteStoreOnly, UnwritableLocationIsAStoreError) {
  EXPECT_THROW(make_sqlite_store("/proc/cic-store-test/cic.db"), StoreError);
}

TEST(PostgresStoreOnly, UnreachableServerIsAStoreErrorNotACrash) {
  auto store = make_postgres_store("postgresql://cic@127.0.0.1:1/none?connect_timeout=2", 1);
  EXPECT_FALSE(store->ping());
  EXPECT_THROW(store->count_usage(), StoreError);
}

using PostgresPool = StoreContract;

TEST_P(PostgresPool, BrokenConnectionIsReplacedOnTheNextCall) {
  auto store = open_store(1);
  store->migrate();
  ASSERT_TRUE(store->ping());
  terminate_backends(admin_dsn_, schema_);
  // The call that meets the dead socket may fail; it must not poison the pool.
  try {
    store->count_usage();
  } catch (const StoreError&) {
  }
  EXPECT_EQ(store->count_usage(), 0u);
  EXPECT_TRUE(store->ping());
}

TEST_P(PostgresPool, MoreThreadsThanConnectionsAllGetServed) {
  auto store = open_store(2);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Org org = store->create_org(Org{.name = "org-" + std::to_string(t) + "-" + std::to_string(i)});
        if (store->find_org(org.name).has_value()) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 160);
}

INSTANTIATE_TEST_SUITE_P(Backends, PostgresPool, ::testing::Values(kPostgres), backend_name);

}  // namespace
}  // namespace cic::store::testing
