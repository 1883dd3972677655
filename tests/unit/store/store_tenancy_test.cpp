// Contract: org and environment lifecycle (pagination, update, soft delete) on every backend.
#include <set>

#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreTenancy = StoreContract;

ApiKey make_key(const Environment& env, const std::string& hash) {
  return ApiKey{.org_id = env.org_id, .environment_id = env.id, .prefix = "sk_" + hash,
                .hash = hash};
}

TEST_P(StoreTenancy, ListOrgsPagesByIdWithoutDuplicates) {
  for (int i = 0; i < 25; ++i) store_->create_org(Org{.name = "org-" + std::to_string(i)});
  std::set<std::string> seen;
  std::string last;
  Page page{.limit = 10};
  const std::size_t sizes[] = {10, 10, 5};
  const bool more[] = {true, true, false};
  for (int p = 0; p < 3; ++p) {
    auto result = store_->list_orgs(page);
    ASSERT_EQ(result.items.size(), sizes[p]) << "page " << p;
    EXPECT_EQ(result.has_more, more[p]) << "page " << p;
    for (const Org& org : result.items) {
      EXPECT_GT(org.id, last) << "ascending by id";
      EXPECT_TRUE(seen.insert(org.id).second) << "duplicate " << org.id;
      last = org.id;
    }
    page.after = last;
  }
  EXPECT_EQ(seen.size(), 25u);
  auto tail = store_->list_orgs(page);
  EXPECT_TRUE(tail.items.empty());
  EXPECT_FALSE(tail.has_more);

  // The limit is clamped to 1..1000.
  auto one = store_->list_orgs(Page{.limit = 0});
  EXPECT_EQ(one.items.size(), 1u);
  EXPECT_TRUE(one.has_more);
  auto all = store_->list_orgs(Page{.limit = 100000});
  EXPECT_EQ(all.items.size(), 25u);
  EXPECT_FALSE(all.has_more);
}

TEST_P(StoreTenancy, CreateOrgRoundTripsTheNewFields) {
  Org org = store_->create_org(
      Org{.name = "acme", .monthly_spend_cap_micros = 5'000'000, .created_at = 1000});
  EXPECT_EQ(org.updated_at, 1000) << "updated_at defaults to created_at";
  auto found = store_->find_org("acme");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->monthly_spend_cap_micros, 5'000'000);
  EXPECT_EQ(found->updated_at, 1000);
  EXPECT_FALSE(found->deleted_at.has_value());
}

TEST_P(StoreTenancy, UpdateOrgChangesFieldsAndUpdatedAt) {
  Org org = store_->create_org(Org{.name = "acme", .email = "a@x", .created_at = 1000});
  Org change = org;
  change.name = "acme-2";
  change.email = "b@x";
  change.plan = "pro";
  change.monthly_spend_cap_micros = 42;
  auto updated = store_->update_org(change, nullptr);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->id, org.id);
  EXPECT_EQ(updated->name, "acme-2");
  EXPECT_EQ(updated->email, "b@x");
  EXPECT_EQ(updated->plan, "pro");
  EXPECT_EQ(updated->monthly_spend_cap_micros, 42);
  EXPECT_EQ(updated->created_at, 1000);
  EXPECT_GT(updated->updated_at, 1000);

  auto found = store_->find_org("acme-2");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->updated_at, updated->updated_at);
  EXPECT_FALSE(store_->find_org("acme").has_value());

  Org missing = change;
  missing.id = "org_missing";
  EXPECT_FALSE(store_->update_org(missing, nullptr).has_value());
}

TEST_P(StoreTenancy, UpdateOrgToATakenNameIsAConflict) {
  store_->create_org(Org{.name = "taken"});
  Org org = store_->create_org(Org{.name = "mine"});
  org.name = "taken";
  EXPECT_THROW(store_->update_org(org, nullptr), StoreConflict);
  EXPECT_EQ(store_->find_org(org.id)->name, "mine");
}

TEST_P(StoreTenancy, DeleteOrgHidesItRevokesItsKeysAndFreesTheName) {
  auto [org, env] = make_org_env(*store_, "acme");
  auto [other, other_env] = make_org_env(*store_, "other");
  store_->create_api_key(make_key(env, "k1"));
  ApiKey old = make_key(env, "k2");
  old.revoked_at = 5;
  store_->create_api_key(old);
  store_->create_api_key(make_key(other_env, "k3"));
  store_->create_admin_key(AdminKey{.org_id = org.id, .prefix = "sk_admin_a", .hash = "a1"},
                           nullptr);

  ASSERT_TRUE(store_->delete_org(org.id, 7777, nullptr));
  EXPECT_FALSE(store_->find_org(org.id).has_value());
  EXPECT_FALSE(store_->find_org("acme").has_value());
  for (const Org& o : store_->list_orgs(Page{}).items) EXPECT_NE(o.id, org.id);
  EXPECT_FALSE(store_->get_environment(env.id).has_value());
  EXPECT_FALSE(store_->find_environment(org.id, "dev").has_value());
  EXPECT_TRUE(store_->list_environments(org.id, Page{}).items.empty());
  EXPECT_EQ(store_->find_api_key_by_hash("k1")->revoked_at, std::optional<std::int64_t>(7777));
  EXPECT_EQ(store_->find_api_key_by_hash("k2")->revoked_at, std::optional<std::int64_t>(5));
  EXPECT_FALSE(store_->find_api_key_by_hash("k3")->revoked_at.has_value()) << "other org untouched";
  EXPECT_EQ(store_->find_admin_key_by_hash("a1")->revoked_at, std::optional<std::int64_t>(7777));
  EXPECT_TRUE(store_->get_environment(other_env.id).has_value());

  Org again = store_->create_org(Org{.name = "acme"});
  EXPECT_NE(again.id, org.id);
  EXPECT_EQ(store_->find_org("acme")->id, again.id);
  EXPECT_FALSE(store_->delete_org(org.id, 8888, nullptr)) << "already deleted";
  EXPECT_FALSE(store_->delete_org("org_missing", 8888, nullptr));
}

TEST_P(StoreTenancy, EnvironmentRoundTripsListAndUpdate) {
  Org org = store_->create_org(Org{.name = "acme"});
  Environment prod = store_->create_environment(Environment{
      .org_id = org.id, .name = "prod", .region = "eu", .models = {"m1"},
      .limits_json = R"({"rpm": 60})", .monthly_token_quota = 1000,
      .monthly_spend_cap_micros = 2000, .data_residency = "strict", .created_at = 1000});
  store_->create_environment(Environment{.org_id = org.id, .name = "dev"});
  store_->create_environment(Environment{.org_id = org.id, .name = "staging"});
  auto got = store_->get_environment(prod.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->limits_json, R"({"rpm": 60})");
  EXPECT_EQ(got->monthly_token_quota, 1000);
  EXPECT_EQ(got->monthly_spend_cap_micros, 2000);
  EXPECT_EQ(got->data_residency, "strict");
  EXPECT_EQ(got->updated_at, 1000);
  EXPECT_EQ(store_->find_environment(org.id, "dev")->data_residency, "flexible");

  auto first = store_->list_environments(org.id, Page{.limit = 2});
  ASSERT_EQ(first.items.size(), 2u);
  EXPECT_TRUE(first.has_more);
  auto second = store_->list_environments(org.id, Page{.after = first.items[1].id, .limit = 2});
  ASSERT_EQ(second.items.size(), 1u);
  EXPECT_FALSE(second.has_more);
  EXPECT_GT(second.items[0].id, first.items[1].id);

  Environment change = *got;
  change.region = "us";
  change.models = {"m2", "m3"};
  change.limits_json = R"({"tpm": 1})";
  change.monthly_token_quota = 5;
  change.monthly_spend_cap_micros = 6;
  change.data_residency = "flexible";
  auto updated = store_->update_environment(change, nullptr);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->region, "us");
  EXPECT_EQ(updated->models, (std::vector<std::string>{"m2", "m3"}));
  EXPECT_EQ(updated->limits_json, R"({"tpm": 1})");
  EXPECT_EQ(updated->monthly_token_quota, 5);
  EXPECT_EQ(updated->monthly_spend_cap_micros, 6);
  EXPECT_EQ(updated->data_residency, "flexible");
  EXPECT_GT(updated->updated_at, 1000);
  EXPECT_EQ(store_->get_environment(prod.id)->region, "us");

  Environment wrong_org = change;
  wrong_org.org_id = "org_other";
  EXPECT_FALSE(store_->update_environment(wrong_org, nullptr).has_value());
  Environment missing = change;
  missing.id = "env_missing";
  EXPECT_FALSE(store_->update_environment(missing, nullptr).has_value());
}

TEST_P(StoreTenancy, DeleteEnvironmentRevokesItsKeysAndFreesTheName) {
  auto [org, dev] = make_org_env(*store_, "acme");
  Environment prod = store_->create_environment(Environment{.org_id = org.id, .name = "prod"});
  store_->create_api_key(make_key(dev, "dev-key"));
  store_->create_api_key(make_key(prod, "prod-key"));

  ASSERT_TRUE(store_->delete_environment(dev.id, 4242, nullptr));
  EXPECT_FALSE(store_->find_environment(org.id, "dev").has_value());
  EXPECT_FALSE(store_->find_environment(org.id, dev.id).has_value());
  EXPECT_FALSE(store_->get_environment(dev.id).has_value());
  auto listed = store_->list_environments(org.id, Page{});
  ASSERT_EQ(listed.items.size(), 1u);
  EXPECT_EQ(listed.items[0].id, prod.id);
  EXPECT_EQ(store_->find_api_key_by_hash("dev-key")->revoked_at, std::optional<std::int64_t>(4242));
  EXPECT_FALSE(store_->find_api_key_by_hash("prod-key")->revoked_at.has_value());
  EXPECT_TRUE(store_->find_org(org.id).has_value());

  Environment again = store_->create_environment(Environment{.org_id = org.id, .name = "dev"});
  EXPECT_EQ(store_->find_environment(org.id, "dev")->id, again.id);
  EXPECT_FALSE(store_->delete_environment(dev.id, 5000, nullptr));
  EXPECT_FALSE(store_->delete_environment("env_missing", 5000, nullptr));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTenancy, ::testing::Values(kSqlite, kPostgres),
                         backend_name);

}  // namespace
}  // namespace cic::store::testing
