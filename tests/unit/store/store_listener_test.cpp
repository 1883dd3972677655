// PostgreSQL change notifications (NOTIFY/LISTEN cic_invalidate). NOTIFY is database-wide, so this
// executable's cases are registered RUN_SERIAL: a parallel test's mutation would otherwise wake a
// listener that is expected to stay quiet.
#include <algorithm>
#include <chrono>
#include <pqxx/pqxx>
#include <string>
#include <vector>

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

// LISTEN cic_nodes on its own connection, as a replica reloading its node table would.
class NodeChannel {
 public:
  explicit NodeChannel(const std::string& dsn) : conn_(dsn), receiver_(conn_, payloads_) {}

  /// The payloads of the notifications that arrive within `timeout` (stops at the first batch).
  std::vector<std::string> wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    payloads_.clear();
    while (payloads_.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
          std::max(deadline - Clock::now(), Clock::duration::zero()));
      if (left.count() == 0) break;
      conn_.await_notification(static_cast<long>(left.count() / 1000000),
                               static_cast<long>(left.count() % 1000000));
    }
    return payloads_;
  }
  void drain() {
    while (!wait(200ms).empty()) {
    }
  }

 private:
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, std::vector<std::string>& out)
        : pqxx::notification_receiver(c, "cic_nodes"), out(out) {}
    void operator()(const std::string& payload, int /*backend_pid*/) override {
      out.push_back(payload);
    }
    std::vector<std::string>& out;
  };

  pqxx::connection conn_;
  std::vector<std::string> payloads_;
  Receiver receiver_;
};

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

TEST_P(ChangeListenerTest, NodeMutationsNotifyCicNodesButNotCicInvalidate) {
  auto auth = make_change_listener(store_dsn());
  NodeChannel nodes(store_dsn());
  drain(*auth);
  nodes.drain();
  using Payloads = std::vector<std::string>;

  Node node;
  node.id = "node_1";
  node.token_hash = "hash_1";
  store_->upsert_node(node);
  EXPECT_EQ(nodes.wait(1s), Payloads{"node_1"}) << "upsert_node";
  const AuditEntry audit = make_audit("node.drain", "node_1");
  EXPECT_TRUE(store_->update_node_state("node_1", "draining", 10, 20, &audit));
  EXPECT_EQ(nodes.wait(1s), Payloads{"node_1"}) << "update_node_state";
  EXPECT_FALSE(auth->wait(300ms)) << "nodes never invalidate authentication";

  // No change, no notification: missing nodes and a rolled back conflict.
  EXPECT_FALSE(store_->update_node_state("node_missing", "ready", 0, 1, nullptr));
  EXPECT_FALSE(store_->delete_node("node_missing", nullptr));
  Node thief;
  thief.id = "node_2";
  thief.token_hash = "hash_1";
  EXPECT_THROW(store_->upsert_node(thief), StoreConflict);
  EXPECT_TRUE(nodes.wait(300ms).empty()) << "no-op node calls";

  // Another store (replica) deleting the node is seen here.
  auto other = open_store();
  EXPECT_TRUE(other->delete_node("node_1", nullptr));
  EXPECT_EQ(nodes.wait(1s), Payloads{"node_1"}) << "delete_node";
  EXPECT_FALSE(auth->wait(300ms));
}

INSTANTIATE_TEST_SUITE_P(Backends, ChangeListenerTest, ::testing::Values(kPostgres), backend_name);

}  // namespace
}  // namespace cic::store::testing
