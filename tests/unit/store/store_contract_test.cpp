// Contract: migrations, orgs, environments and API keys behave the same on every backend.
#include <thread>

#include "migrations.hpp"
#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreMigration = StoreFixture;

int latest_version() { return sqlite_migrations().back().version; }

TEST_P(StoreMigration, VersionIsZeroBeforeAndLatestAfterMigrate) {
  EXPECT_EQ(store_->schema_version(), 0);
  store_->migrate();
  EXPECT_EQ(store_->schema_version(), latest_version());
}

TEST_P(StoreMigration, MigrateTwiceIsANoOp) {
  store_->migrate();
  Org org = store_->create_org(Org{.name = "acme"});
  store_->migrate();
  EXPECT_EQ(store_->schema_version(), latest_version());
  ASSERT_TRUE(store_->find_org(org.id).has_value());
}

TEST_P(StoreMigration, TwoStoresMigratingAtOnceBothSucceed) {
  // Stands in for two processes starting together against the same database.
  auto other = open_store();
  std::exception_ptr failure;
  std::thread t([&] {
    try {
      other->migrate();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  store_->migrate();
  t.join();
  if (failure) std::rethrow_exception(failure);
  EXPECT_EQ(store_->schema_version(), latest_version());
  EXPECT_EQ(other->schema_version(), latest_version());
}

TEST_P(StoreContract, Ping) { EXPECT_TRUE(store_->ping()); }

TEST_P(StoreContract, CreateOrgFillsIdAndCreatedAt) {
  Org org = store_->create_org(Org{.name = "acme", .email = "ops@acme.test", .plan = "pro"});
  EXPECT_TRUE(org.id.starts_with("org_")) << org.id;
  EXPECT_GT(org.created_at, 0);

  Org given = store_->create_org(Org{.id = "org_given", .name = "given", .created_at = 1234});
  EXPECT_EQ(given.id, "org_given");
  EXPECT_EQ(given.created_at, 1234);
}

TEST_P(StoreContract, FindOrgByIdAndByName) {
  Org org = store_->create_org(Org{.name = "acme", .email = "ops@acme.test", .plan = "pro"});
  for (const std::string& key : {org.id, std::string("acme")}) {
    auto found = store_->find_org(key);
    ASSERT_TRUE(found.has_value()) << key;
    EXPECT_EQ(found->id, org.id);
    EXPECT_EQ(found->name, "acme");
    EXPECT_EQ(found->email, "ops@acme.test");
    EXPECT_EQ(found->plan, "pro");
    EXPECT_EQ(found->created_at, org.created_at);
  }
  EXPECT_FALSE(store_->find_org("nobody").has_value());
  EXPECT_FALSE(store_->find_org("").has_value());
}

TEST_P(StoreContract, DuplicateOrgNameIsAConflict) {
  store_->create_org(Org{.name = "acme"});
  EXPECT_THROW(store_->create_org(Org{.name = "acme"}), StoreConflict);
  // The store stays usable after the failed insert.
  EXPECT_NO_THROW(store_->create_org(Org{.name = "acme-2"}));
}

TEST_P(StoreContract, EnvironmentNamesAreUniquePerOrg) {
  auto [a, dev_a] = make_org_env(*store_, "org-a");
  Org b = store_->create_org(Org{.name = "org-b"});

  EXPECT_THROW(store_->create_environment(Environment{.org_id = a.id, .name = "dev"}),
               StoreConflict);
  Environment dev_b = store_->create_environment(Environment{.org_id = b.id, .name = "dev"});
  EXPECT_TRUE(dev_b.id.starts_with("env_")) << dev_b.id;
  EXPECT_NE(dev_b.id, dev_a.id);

  auto by_name = store_->find_environment(b.id, "dev");
  ASSERT_TRUE(by_name.has_value());
  EXPECT_EQ(by_name->id, dev_b.id);
  auto by_id = store_->find_environment(a.id, dev_a.id);
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(by_id->name, "dev");
  EXPECT_EQ(by_id->region, "eu-west-1");
  EXPECT_EQ(by_id->models, std::vector<std::string>{"llama-3-8b"});
  EXPECT_EQ(by_id->created_at, dev_a.created_at);
  // Another org's environment is not found through this org.
  EXPECT_FALSE(store_->find_environment(a.id, dev_b.id).has_value());
  EXPECT_FALSE(store_->find_environment(a.id, "prod").has_value());
}

TEST_P(StoreContract, GetEnvironmentById) {
  Org org = store_->create_org(Org{.name = "acme"});
  Environment env = store_->create_environment(Environment{
      .org_id = org.id, .name = "prod", .region = "us-east-1", .models = {"a", "b \"quoted\""}});
  auto got = store_->get_environment(env.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->org_id, org.id);
  EXPECT_EQ(got->models, (std::vector<std::string>{"a", "b \"quoted\""}));
  EXPECT_FALSE(store_->get_environment("env_missing").has_value());
}

TEST_P(StoreContract, EnvironmentNeedsAnExistingOrg) {
  EXPECT_THROW(store_->create_environment(Environment{.org_id = "org_missing", .name = "dev"}),
               StoreError);
}

TEST_P(StoreContract, ApiKeyRoundTripsByHash) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey key = store_->create_api_key(ApiKey{.org_id = org.id, .environment_id = env.id,
                                             .name = "ci", .prefix = "sk_dev_AbC1",
                                             .hash = "ab12", .expires_at = 5000,
                                             .revoked_at = 4000});
  EXPECT_TRUE(key.id.starts_with("key_")) << key.id;
  auto found = store_->find_api_key_by_hash("ab12");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, key.id);
  EXPECT_EQ(found->org_id, org.id);
  EXPECT_EQ(found->environment_id, env.id);
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->prefix, "sk_dev_AbC1");
  EXPECT_EQ(found->created_at, key.created_at);
  EXPECT_EQ(found->expires_at, std::optional<std::int64_t>(5000));
  EXPECT_EQ(found->revoked_at, std::optional<std::int64_t>(4000));
  EXPECT_FALSE(found->last_used_at.has_value());

  store_->create_api_key(ApiKey{.org_id = org.id, .environment_id = env.id, .prefix = "sk_dev_x",
                                .hash = "cd34"});
  auto open = store_->find_api_key_by_hash("cd34");
  ASSERT_TRUE(open.has_value());
  EXPECT_FALSE(open->expires_at.has_value());
  EXPECT_FALSE(open->revoked_at.has_value());
  EXPECT_FALSE(store_->find_api_key_by_hash("ffff").has_value());
}

TEST_P(StoreContract, DuplicateApiKeyHashIsAConflict) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey key{.org_id = org.id, .environment_id = env.id, .prefix = "sk_dev_1", .hash = "same"};
  store_->create_api_key(key);
  EXPECT_THROW(store_->create_api_key(key), StoreConflict);
}

TEST_P(StoreContract, TouchApiKeysUpdatesLastUsedInOneBatch) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey a = store_->create_api_key(
      ApiKey{.org_id = org.id, .environment_id = env.id, .prefix = "sk_a", .hash = "ha"});
  ApiKey b = store_->create_api_key(
      ApiKey{.org_id = org.id, .environment_id = env.id, .prefix = "sk_b", .hash = "hb"});

  store_->touch_api_keys({{a.id, 1000}, {b.id, 2000}, {"key_unknown", 3000}, {a.id, 1500}});
  EXPECT_EQ(store_->find_api_key_by_hash("ha")->last_used_at, std::optional<std::int64_t>(1500));
  EXPECT_EQ(store_->find_api_key_by_hash("hb")->last_used_at, std::optional<std::int64_t>(2000));

  // A late batch carrying an older time never moves last_used_at backwards.
  store_->touch_api_keys({{a.id, 900}, {b.id, 2500}});
  EXPECT_EQ(store_->find_api_key_by_hash("ha")->last_used_at, std::optional<std::int64_t>(1500));
  EXPECT_EQ(store_->find_api_key_by_hash("hb")->last_used_at, std::optional<std::int64_t>(2500));
  EXPECT_NO_THROW(store_->touch_api_keys({}));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreMigration, ::testing::Values(kSqlite, kPostgres),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values(kSqlite, kPostgres),
                         backend_name);

}  // namespace
}  // namespace cic::store::testing
