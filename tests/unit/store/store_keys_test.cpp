// Contract: API key lookup, listing, revocation and rotation, and org admin keys.
#include <set>

#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreKeys = StoreContract;

ApiKey make_key(const Environment& env, const std::string& hash) {
  return ApiKey{.org_id = env.org_id, .environment_id = env.id, .prefix = "sk_" + hash,
                .hash = hash};
}

TEST_P(StoreKeys, GetAndListApiKeysPerEnvironment) {
  auto [org, dev] = make_org_env(*store_, "acme");
  Environment prod = store_->create_environment(Environment{.org_id = org.id, .name = "prod"});
  ApiKey first = make_key(dev, "h0");
  first.limits_json = R"({"rpm": 5})";
  first = store_->create_api_key(first);
  for (int i = 1; i < 5; ++i) store_->create_api_key(make_key(dev, "h" + std::to_string(i)));
  store_->create_api_key(make_key(prod, "prod"));
  store_->revoke_api_key(first.id, 10, nullptr);

  auto got = store_->get_api_key(first.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->hash, "h0");
  EXPECT_EQ(got->limits_json, R"({"rpm": 5})");
  EXPECT_EQ(got->revoked_at, std::optional<std::int64_t>(10)) << "revoked keys are still returned";
  EXPECT_EQ(got->replaced_by, "");
  EXPECT_FALSE(store_->get_api_key("key_missing").has_value());

  std::set<std::string> seen;
  Page page{.limit = 2};
  bool more = true;
  int pages = 0;
  while (more) {
    auto result = store_->list_api_keys(dev.id, page);
    ++pages;
    for (const ApiKey& k : result.items) {
      EXPECT_EQ(k.environment_id, dev.id);
      EXPECT_TRUE(seen.insert(k.id).second);
      page.after = k.id;
    }
    more = result.has_more;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 5u) << "revoked keys are listed too";
  EXPECT_TRUE(seen.contains(first.id));
  EXPECT_EQ(store_->list_api_keys(prod.id, Page{}).items.size(), 1u);
}

TEST_P(StoreKeys, RevokeTwiceKeepsTheFirstTimeAndAnswersTrue) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey key = store_->create_api_key(make_key(env, "h"));
  auto audit = make_audit("key.revoke", key.id, org.id);
  EXPECT_TRUE(store_->revoke_api_key(key.id, 100, &audit));
  // Documented: a second revoke finds the key and answers true, but changes nothing (revoked_at
  // keeps the first time) and writes no audit entry.
  EXPECT_TRUE(store_->revoke_api_key(key.id, 200, &audit));
  EXPECT_EQ(store_->get_api_key(key.id)->revoked_at, std::optional<std::int64_t>(100));
  EXPECT_EQ(all_audit(*store_).size(), 1u);
  EXPECT_FALSE(store_->revoke_api_key("key_missing", 300, &audit));
  EXPECT_EQ(all_audit(*store_).size(), 1u);
}

TEST_P(StoreKeys, RotateInsertsTheReplacementAndShortensTheOldKey) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey open = store_->create_api_key(make_key(env, "open"));
  ApiKey soon = make_key(env, "soon");
  soon.expires_at = 3000;
  soon = store_->create_api_key(soon);

  // org and environment of the replacement default to the old key's.
  auto fresh = store_->rotate_api_key(open.id, ApiKey{.prefix = "sk_new", .hash = "new"}, 5000,
                                      nullptr);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(fresh->id.starts_with("key_")) << fresh->id;
  EXPECT_EQ(fresh->org_id, org.id);
  EXPECT_EQ(fresh->environment_id, env.id);
  auto by_hash = store_->find_api_key_by_hash("new");
  ASSERT_TRUE(by_hash.has_value());
  EXPECT_EQ(by_hash->id, fresh->id);
  EXPECT_FALSE(by_hash->revoked_at.has_value());
  auto old = store_->get_api_key(open.id);
  EXPECT_EQ(old->expires_at, std::optional<std::int64_t>(5000));
  EXPECT_EQ(old->replaced_by, fresh->id);
  EXPECT_FALSE(old->revoked_at.has_value());

  // An old key that already expires earlier keeps its expiry.
  auto fresh2 = store_->rotate_api_key(soon.id, make_key(env, "new2"), 5000, nullptr);
  ASSERT_TRUE(fresh2.has_value());
  EXPECT_EQ(store_->get_api_key(soon.id)->expires_at, std::optional<std::int64_t>(3000));
  EXPECT_EQ(store_->get_api_key(soon.id)->replaced_by, fresh2->id);
}

TEST_P(StoreKeys, RotatingARevokedOrMissingKeyInsertsNothing) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey key = store_->create_api_key(make_key(env, "old"));
  store_->revoke_api_key(key.id, 100, nullptr);
  auto audit = make_audit("key.rotate", key.id, org.id);
  EXPECT_FALSE(store_->rotate_api_key(key.id, make_key(env, "new"), 5000, &audit).has_value());
  EXPECT_FALSE(store_->rotate_api_key("key_missing", make_key(env, "new"), 5000, &audit));
  EXPECT_FALSE(store_->find_api_key_by_hash("new").has_value());
  EXPECT_EQ(store_->list_api_keys(env.id, Page{}).items.size(), 1u);
  auto old = store_->get_api_key(key.id);
  EXPECT_EQ(old->replaced_by, "");
  EXPECT_FALSE(old->expires_at.has_value());
  EXPECT_TRUE(all_audit(*store_).empty());
}

TEST_P(StoreKeys, RotationWithATakenHashIsAConflictAndChangesNothing) {
  auto [org, env] = make_org_env(*store_, "acme");
  ApiKey key = store_->create_api_key(make_key(env, "old"));
  store_->create_api_key(make_key(env, "taken"));
  auto audit = make_audit("key.rotate", key.id, org.id);
  EXPECT_THROW(store_->rotate_api_key(key.id, make_key(env, "taken"), 5000, &audit),
               StoreConflict);
  auto old = store_->get_api_key(key.id);
  EXPECT_EQ(old->replaced_by, "");
  EXPECT_FALSE(old->expires_at.has_value());
  EXPECT_EQ(store_->list_api_keys(env.id, Page{}).items.size(), 2u);
  EXPECT_TRUE(all_audit(*store_).empty());
}

TEST_P(StoreKeys, AdminKeysCreateFindListRevoke) {
  auto [org, env] = make_org_env(*store_, "acme");
  Org other = store_->create_org(Org{.name = "other"});
  AdminKey a = store_->create_admin_key(
      AdminKey{.org_id = org.id, .name = "ops", .prefix = "sk_admin_A", .hash = "ha"}, nullptr);
  EXPECT_TRUE(a.id.starts_with("adk_")) << a.id;
  EXPECT_GT(a.created_at, 0);
  store_->create_admin_key(AdminKey{.org_id = org.id, .prefix = "sk_admin_B", .hash = "hb"},
                           nullptr);
  store_->create_admin_key(AdminKey{.org_id = other.id, .prefix = "sk_admin_C", .hash = "hc"},
                           nullptr);
  EXPECT_THROW(store_->create_admin_key(AdminKey{.org_id = org.id, .prefix = "x", .hash = "ha"},
                                        nullptr),
               StoreConflict);

  auto found = store_->find_admin_key_by_hash("ha");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, a.id);
  EXPECT_EQ(found->org_id, org.id);
  EXPECT_EQ(found->name, "ops");
  EXPECT_EQ(found->prefix, "sk_admin_A");
  EXPECT_EQ(found->created_at, a.created_at);
  EXPECT_FALSE(found->revoked_at.has_value());
  EXPECT_FALSE(store_->find_admin_key_by_hash("nope").has_value());

  auto page1 = store_->list_admin_keys(org.id, Page{.limit = 1});
  ASSERT_EQ(page1.items.size(), 1u);
  EXPECT_TRUE(page1.has_more);
  auto page2 = store_->list_admin_keys(org.id, Page{.after = page1.items[0].id, .limit = 1});
  ASSERT_EQ(page2.items.size(), 1u);
  EXPECT_FALSE(page2.has_more);
  EXPECT_NE(page1.items[0].id, page2.items[0].id);

  EXPECT_TRUE(store_->revoke_admin_key(a.id, 900, nullptr));
  EXPECT_TRUE(store_->revoke_admin_key(a.id, 950, nullptr));
  EXPECT_EQ(store_->find_admin_key_by_hash("ha")->revoked_at, std::optional<std::int64_t>(900));
  EXPECT_FALSE(store_->revoke_admin_key("adk_missing", 900, nullptr));
  EXPECT_EQ(store_->list_admin_keys(org.id, Page{}).items.size(), 2u) << "revoked still listed";
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreKeys, ::testing::Values(kSqlite, kPostgres),
                         backend_name);

}  // namespace
}  // namespace cic::store::testing
