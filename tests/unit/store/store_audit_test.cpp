// Contract: the audit log (one entry per change, in the change's transaction; filters; newest-first
// pages) and the 0001 -> 0002 migration of existing data.
#include <set>

#include "migrations.hpp"
#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreAudit = StoreContract;

ApiKey make_key(const Environment& env, const std::string& hash) {
  return ApiKey{.org_id = env.org_id, .environment_id = env.id, .prefix = "sk_" + hash,
                .hash = hash};
}

TEST_P(StoreAudit, OneEntryPerSuccessfulMutationAndNoneForNotFound) {
  std::size_t expected = 0;
  auto check = [&](const char* step) {
    EXPECT_EQ(all_audit(*store_).size(), expected) << "after " << step;
  };
  auto a = make_audit("any");
  Org org = store_->create_org(Org{.name = "acme"}, &a);
  ++expected, check("create_org");
  Org change = org;
  change.plan = "pro";
  ASSERT_TRUE(store_->update_org(change, &a));
  ++expected, check("update_org");
  change.id = "org_missing";
  EXPECT_FALSE(store_->update_org(change, &a));
  check("update_org missing");
  Environment env = store_->create_environment(Environment{.org_id = org.id, .name = "dev"}, &a);
  ++expected, check("create_environment");
  ASSERT_TRUE(store_->update_environment(env, &a));
  ++expected, check("update_environment");
  Environment missing_env = env;
  missing_env.id = "env_missing";
  EXPECT_FALSE(store_->update_environment(missing_env, &a));
  check("update_environment missing");
  ApiKey key = store_->create_api_key(make_key(env, "k1"), &a);
  ++expected, check("create_api_key");
  ASSERT_TRUE(store_->rotate_api_key(key.id, make_key(env, "k2"), 5000, &a));
  ++expected, check("rotate_api_key");
  ASSERT_TRUE(store_->revoke_api_key(key.id, 10, &a));
  ++expected, check("revoke_api_key");
  AdminKey admin = store_->create_admin_key(AdminKey{.org_id = org.id, .prefix = "p", .hash = "a"},
                                            &a);
  ++expected, check("create_admin_key");
  ASSERT_TRUE(store_->revoke_admin_key(admin.id, 10, &a));
  ++expected, check("revoke_admin_key");
  EXPECT_FALSE(store_->revoke_admin_key("adk_missing", 10, &a));
  check("revoke_admin_key missing");
  ASSERT_TRUE(store_->delete_environment(env.id, 20, &a));
  ++expected, check("delete_environment");
  EXPECT_FALSE(store_->delete_environment(env.id, 20, &a));
  check("delete_environment again");
  ASSERT_TRUE(store_->delete_org(org.id, 30, &a));
  ++expected, check("delete_org");
  EXPECT_FALSE(store_->delete_org(org.id, 30, &a));
  EXPECT_FALSE(store_->rotate_api_key("key_missing", make_key(env, "k3"), 1, &a));
  check("not found");
  // nullptr: internal changes are not audited.
  store_->create_org(Org{.name = "internal"});
  check("create_org without audit");
}

TEST_P(StoreAudit, EntryContentRoundTrips) {
  AuditEntry given{.actor = "admin_key:adk_1", .action = "org.update", .target_type = "org",
                   .target_id = "org_1", .org_id = "org_1", .request_id = "req_abc",
                   .before_json = R"({"plan":"free","n":[1,2]})",
                   .after_json = R"({"plan":"pro","n":[1,2]})"};
  store_->create_org(Org{.name = "acme"}, &given);
  auto entries = all_audit(*store_);
  ASSERT_EQ(entries.size(), 1u);
  const AuditEntry& e = entries[0];
  EXPECT_TRUE(e.id.starts_with("aud_")) << e.id;
  EXPECT_EQ(e.id.size(), 4u + 12 + 8);
  EXPECT_GT(e.at, 0);
  EXPECT_EQ(e.actor, given.actor);
  EXPECT_EQ(e.action, given.action);
  EXPECT_EQ(e.target_type, given.target_type);
  EXPECT_EQ(e.target_id, given.target_id);
  EXPECT_EQ(e.org_id, given.org_id);
  EXPECT_EQ(e.request_id, given.request_id);
  EXPECT_EQ(e.before_json, given.before_json);
  EXPECT_EQ(e.after_json, given.after_json);

  AuditEntry fixed = given;
  fixed.id = "aud_000000000001deadbeef";
  fixed.at = 1234;
  store_->create_org(Org{.name = "beta"}, &fixed);
  auto filtered = store_->list_audit(AuditFilter{.to_ms = 2000}, Page{});
  ASSERT_EQ(filtered.items.size(), 1u);
  EXPECT_EQ(filtered.items[0].id, fixed.id);
  EXPECT_EQ(filtered.items[0].at, 1234);
}

TEST_P(StoreAudit, FailedMutationLeavesNoEntry) {
  auto a = make_audit("any");
  Org org = store_->create_org(Org{.name = "acme"});
  Environment env = store_->create_environment(Environment{.org_id = org.id, .name = "dev"});
  store_->create_api_key(make_key(env, "k"));
  store_->create_org(Org{.name = "taken"});
  EXPECT_THROW(store_->create_org(Org{.name = "acme"}, &a), StoreConflict);
  EXPECT_THROW(store_->create_environment(Environment{.org_id = org.id, .name = "dev"}, &a),
               StoreConflict);
  EXPECT_THROW(store_->create_api_key(make_key(env, "k"), &a), StoreConflict);
  EXPECT_THROW(store_->create_admin_key(AdminKey{.org_id = "org_missing", .hash = "x"}, &a),
               StoreError);
  Org rename = org;
  rename.name = "taken";
  EXPECT_THROW(store_->update_org(rename, &a), StoreConflict);
  EXPECT_TRUE(all_audit(*store_).empty());
}

TEST_P(StoreAudit, AChangeWhoseAuditEntryFailsIsRolledBack) {
  // The reverse direction of the same transaction: an audit insert that fails (a duplicate id)
  // takes the change down with it.
  AuditEntry a = make_audit("org.create");
  a.id = "aud_00000000000100000001";
  Org org = store_->create_org(Org{.name = "acme"}, &a);
  Environment env = store_->create_environment(Environment{.org_id = org.id, .name = "dev"});
  ApiKey key = store_->create_api_key(make_key(env, "k"));
  EXPECT_THROW(store_->create_org(Org{.name = "beta"}, &a), StoreConflict);
  EXPECT_FALSE(store_->find_org("beta").has_value());
  EXPECT_THROW(store_->rotate_api_key(key.id, make_key(env, "k2"), 5000, &a), StoreConflict);
  EXPECT_FALSE(store_->find_api_key_by_hash("k2").has_value());
  EXPECT_EQ(store_->get_api_key(key.id)->replaced_by, "");
  EXPECT_THROW(store_->delete_org(org.id, 10, &a), StoreConflict);
  EXPECT_TRUE(store_->find_org(org.id).has_value());
  EXPECT_FALSE(store_->get_api_key(key.id)->revoked_at.has_value());
  EXPECT_EQ(all_audit(*store_).size(), 1u);
}

TEST_P(StoreAudit, FiltersAndNewestFirstPages) {
  std::vector<std::string> ids;  // in insertion order
  for (int i = 0; i < 30; ++i) {
    AuditEntry e = make_audit(i % 3 == 0 ? "org.update" : "key.create", "t",
                              i % 2 == 0 ? "org_even" : "org_odd");
    e.actor = i < 10 ? "operator" : "admin_key:adk_1";
    e.at = 1000 + i;
    std::string name = "org-";  // appended: `"o" + std::to_string(i)` trips GCC 12 -Wrestrict
    name += std::to_string(i);
    store_->create_org(Org{.name = name}, &e);
    ids.push_back(all_audit(*store_).front().id);
  }
  std::vector<std::string> paged;
  Page page{.limit = 7};
  for (int p = 0; p < 10; ++p) {
    auto result = store_->list_audit(AuditFilter{}, page);
    for (const auto& e : result.items) paged.push_back(e.id);
    if (!result.has_more) break;
    page.after = result.items.back().id;
  }
  EXPECT_EQ(paged, std::vector<std::string>(ids.rbegin(), ids.rend())) << "newest first, no gaps";

  auto count = [&](const AuditFilter& f) { return store_->list_audit(f, Page{.limit = 1000}).items.size(); };
  EXPECT_EQ(count(AuditFilter{.org_id = "org_even"}), 15u);
  EXPECT_EQ(count(AuditFilter{.actor = "operator"}), 10u);
  EXPECT_EQ(count(AuditFilter{.action = "org.update"}), 10u);
  EXPECT_EQ(count(AuditFilter{.from_ms = 1010, .to_ms = 1020}), 10u);
  EXPECT_EQ(count(AuditFilter{.from_ms = 1025}), 5u);
  EXPECT_EQ(count(AuditFilter{.to_ms = 1005}), 5u);
  EXPECT_EQ(count(AuditFilter{.org_id = "org_odd", .actor = "admin_key:adk_1",
                              .action = "org.update", .from_ms = 1000, .to_ms = 1030}),
            3u);  // i = 15, 21, 27
  auto newest_even = store_->list_audit(AuditFilter{.org_id = "org_even"}, Page{.limit = 1});
  ASSERT_EQ(newest_even.items.size(), 1u);
  EXPECT_EQ(newest_even.items[0].at, 1028);
  EXPECT_TRUE(newest_even.has_more);
}

using StoreSchemaUpgrade = StoreFixture;

TEST_P(StoreSchemaUpgrade, Version1DataSurvivesTheMigrationTo2) {
  const char* applied_type = is_postgres() ? "BIGINT" : "INTEGER";
  exec_raw(std::string("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at ") +
           applied_type + " NOT NULL);\n" +
           std::string(is_postgres() ? postgres_migrations()[0].sql : sqlite_migrations()[0].sql) +
           "\nINSERT INTO schema_migrations (version, applied_at) VALUES (1, 1);"
           "INSERT INTO orgs (id, name, email, plan, created_at)"
           " VALUES ('org_old', 'legacy', 'l@x', 'pro', 1111);"
           "INSERT INTO environments (id, org_id, name, region, models, monthly_token_quota,"
           " monthly_spend_cap_micros, limits, created_at, updated_at)"
           " VALUES ('env_old', 'org_old', 'dev', 'eu', '[\"m1\"]', 7, 8, '{\"rpm\": 3}', 1111, 2222);"
           "INSERT INTO api_keys (id, org_id, environment_id, name, prefix, hash, created_at,"
           " expires_at, last_used_at)"
           " VALUES ('key_old', 'org_old', 'env_old', 'ci', 'sk_dev_x', 'oldhash', 1111, 9999, 3333);");
  ASSERT_EQ(store_->schema_version(), 1);
  store_->migrate();
  store_->migrate();
  EXPECT_EQ(store_->schema_version(), sqlite_migrations().back().version);

  auto org = store_->find_org("legacy");
  ASSERT_TRUE(org.has_value());
  EXPECT_EQ(org->id, "org_old");
  EXPECT_EQ(org->plan, "pro");
  EXPECT_EQ(org->created_at, 1111);
  EXPECT_EQ(org->updated_at, 1111) << "existing orgs get updated_at = created_at";
  EXPECT_EQ(org->monthly_spend_cap_micros, 0);
  auto env = store_->find_environment("org_old", "dev");
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->models, std::vector<std::string>{"m1"});
  EXPECT_EQ(env->limits_json, R"({"rpm": 3})");
  EXPECT_EQ(env->monthly_token_quota, 7);
  EXPECT_EQ(env->monthly_spend_cap_micros, 8);
  EXPECT_EQ(env->data_residency, "flexible");
  EXPECT_EQ(env->updated_at, 2222);
  auto key = store_->find_api_key_by_hash("oldhash");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->environment_id, "env_old");
  EXPECT_EQ(key->expires_at, std::optional<std::int64_t>(9999));
  EXPECT_EQ(key->last_used_at, std::optional<std::int64_t>(3333));
  EXPECT_EQ(key->replaced_by, "");

  // Constraints still hold on the migrated tables: live names unique, foreign keys enforced.
  EXPECT_THROW(store_->create_org(Org{.name = "legacy"}), StoreConflict);
  EXPECT_THROW(store_->create_environment(Environment{.org_id = "org_old", .name = "dev"}),
               StoreConflict);
  EXPECT_THROW(store_->create_environment(Environment{.org_id = "org_missing", .name = "x"}),
               StoreError);
  ASSERT_TRUE(store_->delete_org("org_old", 5000, nullptr));
  EXPECT_EQ(store_->find_api_key_by_hash("oldhash")->revoked_at, std::optional<std::int64_t>(5000));
  EXPECT_NO_THROW(store_->create_org(Org{.name = "legacy"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreAudit, ::testing::Values(kSqlite, kPostgres),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, StoreSchemaUpgrade, ::testing::Values(kSqlite, kPostgres),
                         backend_name);

}  // namespace
}  // namespace cic::store::testing
