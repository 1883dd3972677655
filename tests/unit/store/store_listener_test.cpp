// PostgreSQL change notifications (NOTIFY/LISTEN cic_invalidate). NOTIFY is database-wide, so this
// executable's cases are registered RUN_SERIAL: a parallel test's mutation would otherwise wake a
// listener that is expected to stay quiet.
#include <chrono>

#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ChangeListenerTest = StoreContract;

// Swallows whatever notifications are already queued (the setup's own changes).
void drain(ChangeListener& listener) {
  while (listener.wait(200ms)) {
  }
}

struct KeySetup {
  Org org;
  Environment env;
  ApiKey key;
};

KeySetup make_key_setup(Store& store) {
  auto [org, env] = make_org_env(store, "acme");
  ApiKey key = store.create_api_key(
      ApiKey{.org_id = org.id, .environment_id = env.id, .prefix = "sk_x", .hash = "h"});
  return {org, env, key};
}

TEST(ChangeListenerFactory, EmptyDsnHasNoListener) {
  EXPECT_EQ(make_change_listener(""), nullptr);
}

TEST_P(ChangeListenerTest, SeesARevokeFromAnotherStoreWithinOneSecond) {
  auto listener = make_change_listener(store_dsn());
  ASSERT_NE(listener, nullptr);
  KeySetup s = make_key_setup(*store_);
  drain(*listener);

  auto other = open_store();
  ASSERT_TRUE(other->revoke_api_key(s.key.id, 100, nullptr));
  const auto start = Clock::now();
  EXPECT_TRUE(listener->wait(1s));
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_P(ChangeListenerTest, WaitReturnsFalseAfterItsTimeoutWhenNothingChanges) {
  auto listener = make_change_listener(store_dsn());
  drain(*listener);
  const auto start = Clock::now();
  EXPECT_FALSE(listener->wait(300ms));
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 290ms);
  EXPECT_LT(waited, 1500ms);
}

TEST_P(ChangeListenerTest, EveryAuthChangeNotifiesButTouchAndNoOpsDoNot) {
  auto listener = make_change_listener(store_dsn());
  KeySetup s = make_key_setup(*store_);
  drain(*listener);

  store_->touch_api_keys({{s.key.id, 5000}});
  EXPECT_FALSE(listener->wait(300ms)) << "touch_api_keys";
  EXPECT_FALSE(store_->revoke_api_key("key_missing", 1, nullptr));
  EXPECT_FALSE(listener->wait(300ms)) << "revoke of a missing key";
  EXPECT_THROW(store_->create_org(Org{.name = "acme"}), StoreConflict);
  EXPECT_FALSE(listener->wait(300ms)) << "a rolled back insert";

  auto expect_notified = [&](const char* what) {
    EXPECT_TRUE(listener->wait(1s)) << what;
    drain(*listener);
  };
  Environment env = s.env;
  env.region = "us";
  store_->update_environment(env, nullptr);
  expect_notified("update_environment");
  store_->rotate_api_key(s.key.id, ApiKey{.prefix = "p", .hash = "h2"}, 1, nullptr);
  expect_notified("rotate_api_key");
  AdminKey admin =
      store_->create_admin_key(AdminKey{.org_id = s.org.id, .prefix = "p", .hash = "a"}, nullptr);
  expect_notified("create_admin_key");
  store_->revoke_admin_key(admin.id, 1, nullptr);
  expect_notified("revoke_admin_key");
  Org org = s.org;
  org.plan = "pro";
  store_->update_org(org, nullptr);
  expect_notified("update_org");
  store_->delete_org(s.org.id, 1, nullptr);
  expect_notified("delete_org");
}

TEST_P(ChangeListenerTest, ReconnectsAfterItsConnectionBreaksAndReportsAChange) {
  auto listener = make_change_listener(store_dsn());
  KeySetup s = make_key_setup(*store_);
  drain(*listener);
  store_.reset();  // only the listener's backend carries this test's application_name now
  terminate_backends(admin_dsn_, schema_);
  // Changes may have been missed while disconnected: the listener must say so.
  EXPECT_TRUE(listener->wait(2s));
  drain(*listener);
  // And it listens again on the new connection.
  auto other = open_store();
  ASSERT_TRUE(other->revoke_api_key(s.key.id, 100, nullptr));
  EXPECT_TRUE(listener->wait(1s));
}

INSTANTIATE_TEST_SUITE_P(Backends, ChangeListenerTest, ::testing::Values(kPostgres), backend_name);

}  // namespace
}  // namespace cic::store::testing
