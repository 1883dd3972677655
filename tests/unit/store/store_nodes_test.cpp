// Contract: model nodes (upsert, find by id and by token hash, state changes, delete, audit) and the
// 0002 -> 0003 migration of existing node rows, on every backend.
#include <string>
#include <vector>

#include "migrations.hpp"
#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

using StoreNodes = StoreContract;

// A node with every field set to something other than its default.
Node full_node(const std::string& id, const std::string& token_hash = "") {
  Node n;
  n.id = id;
  n.provider = "aws";
  n.region = "eu-west-1";
  n.instance_type = "g5.xlarge";
  n.models = {"llama-3-8b", "qwen-2-7b"};
  n.endpoint = "http://10.0.0.1:8000";
  n.spot = true;
  n.price_per_hour_micros = 1'006'000;
  n.capacity_tokens_per_sec = 2500;
  n.state = "ready";
  n.updated_at = 2000;
  n.source = "agent";
  n.token_hash = token_hash;
  n.created_at = 1000;
  n.eviction_deadline = 9000;
  return n;
}

void expect_same(const Node& got, const Node& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.provider, want.provider);
  EXPECT_EQ(got.region, want.region);
  EXPECT_EQ(got.instance_type, want.instance_type);
  EXPECT_EQ(got.models, want.models);
  EXPECT_EQ(got.endpoint, want.endpoint);
  EXPECT_EQ(got.spot, want.spot);
  EXPECT_EQ(got.price_per_hour_micros, want.price_per_hour_micros);
  EXPECT_EQ(got.capacity_tokens_per_sec, want.capacity_tokens_per_sec);
  EXPECT_EQ(got.state, want.state);
  EXPECT_EQ(got.updated_at, want.updated_at);
  EXPECT_EQ(got.source, want.source);
  EXPECT_EQ(got.token_hash, want.token_hash);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.eviction_deadline, want.eviction_deadline);
}

std::vector<std::string> ids(const std::vector<Node>& nodes) {
  std::vector<std::string> out;
  for (const Node& n : nodes) out.push_back(n.id);
  return out;
}

TEST_P(StoreNodes, InsertThenListAndFind) {
  EXPECT_TRUE(store_->list_nodes().empty());
  EXPECT_FALSE(store_->find_node("node_b").has_value());

  store_->upsert_node(full_node("node_b", "hash_b"));
  store_->upsert_node(full_node("node_c"));
  store_->upsert_node(full_node("node_a", "hash_a"));

  auto nodes = store_->list_nodes();
  EXPECT_EQ(ids(nodes), (std::vector<std::string>{"node_a", "node_b", "node_c"}))
      << "ordered by id";
  auto b = store_->find_node("node_b");
  ASSERT_TRUE(b.has_value());
  expect_same(*b, full_node("node_b", "hash_b"));
  expect_same(nodes[1], full_node("node_b", "hash_b"));
  EXPECT_FALSE(store_->find_node("node_missing").has_value());
  EXPECT_FALSE(store_->find_node("").has_value());
}

TEST_P(StoreNodes, EveryFieldAndTheModelListRoundTrip) {
  Node odd = full_node("node_odd", "4f2a9c");
  odd.models = {"a\"quoted\"", "back\\slash", "ünïcode", "with space", ""};
  odd.spot = false;
  odd.source = "admin";
  odd.state = "draining";
  odd.price_per_hour_micros = 9'223'372'036'854;  // far beyond 32 bits
  odd.eviction_deadline = 1'900'000'000'123;
  odd.created_at = 1'700'000'000'001;
  odd.updated_at = 1'700'000'000'002;
  store_->upsert_node(odd);

  Node empty = full_node("node_empty");
  empty.models = {};
  empty.eviction_deadline = 0;
  store_->upsert_node(empty);

  expect_same(*store_->find_node("node_odd"), odd);
  expect_same(*store_->find_node_by_token_hash("4f2a9c"), odd);
  expect_same(*store_->find_node("node_empty"), empty);
  auto nodes = store_->list_nodes();
  ASSERT_EQ(nodes.size(), 2u);
  expect_same(nodes[0], empty);
  expect_same(nodes[1], odd);

  // And after the store is closed and opened again.
  reopen();
  expect_same(*store_->find_node("node_odd"), odd);
}

TEST_P(StoreNodes, DefaultsOfAnOldCallerAreStored) {
  // What bootstrap does: no source, token, times or deadline.
  Node n;
  n.id = "node_cfg";
  n.endpoint = "http://10.0.0.9:8000";
  n.state = "ready";
  store_->upsert_node(n);
  auto got = store_->find_node("node_cfg");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->source, "config");
  EXPECT_EQ(got->token_hash, "");
  EXPECT_EQ(got->eviction_deadline, 0);
  EXPECT_GT(got->created_at, 1'600'000'000'000) << "created_at 0 means now";
  EXPECT_GT(got->updated_at, 1'600'000'000'000) << "updated_at 0 means now";
  EXPECT_TRUE(got->models.empty());
}

TEST_P(StoreNodes, UpsertUpdatesEveryColumnButKeepsCreatedAt) {
  store_->upsert_node(full_node("node_1", "hash_1"));

  Node changed;
  changed.id = "node_1";
  changed.provider = "gcp";
  changed.region = "us-central1";
  changed.instance_type = "a2-highgpu-1g";
  changed.models = {"mistral-7b"};
  changed.endpoint = "http://10.0.0.2:9000";
  changed.spot = false;
  changed.price_per_hour_micros = 3'670'000;
  changed.capacity_tokens_per_sec = 4000;
  changed.state = "draining";
  changed.updated_at = 5000;
  changed.source = "admin";
  changed.token_hash = "hash_2";
  changed.created_at = 4000;  // ignored: the row exists
  changed.eviction_deadline = 0;
  store_->upsert_node(changed);

  Node want = changed;
  want.created_at = 1000;
  auto got = store_->find_node("node_1");
  ASSERT_TRUE(got.has_value());
  expect_same(*got, want);
  EXPECT_EQ(store_->list_nodes().size(), 1u);

  // An upsert that leaves created_at 0 keeps it too.
  changed.created_at = 0;
  store_->upsert_node(changed);
  EXPECT_EQ(store_->find_node("node_1")->created_at, 1000);

  // The token moved with the update: the old hash no longer finds the node.
  EXPECT_FALSE(store_->find_node_by_token_hash("hash_1").has_value());
  EXPECT_EQ(store_->find_node_by_token_hash("hash_2")->id, "node_1");
}

TEST_P(StoreNodes, TokenHashLookupNeverMatchesEmpty) {
  store_->upsert_node(full_node("node_a"));  // no token
  store_->upsert_node(full_node("node_b"));  // no token either: '' is not unique
  store_->upsert_node(full_node("node_c", "hash_c"));
  EXPECT_EQ(store_->list_nodes().size(), 3u);

  EXPECT_FALSE(store_->find_node_by_token_hash("").has_value());
  EXPECT_FALSE(store_->find_node_by_token_hash("hash_missing").has_value());
  EXPECT_FALSE(store_->find_node_by_token_hash("HASH_C").has_value()) << "exact match only";
  auto c = store_->find_node_by_token_hash("hash_c");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->id, "node_c");
  EXPECT_EQ(c->token_hash, "hash_c");
}

TEST_P(StoreNodes, TokenHashIsUniqueAndAConflictWritesNothing) {
  store_->upsert_node(full_node("node_a", "hash_x"));
  Node other = full_node("node_b", "hash_x");
  const AuditEntry audit = make_audit("node.create", "node_b");
  EXPECT_THROW(store_->upsert_node(other, &audit), StoreConflict);
  EXPECT_FALSE(store_->find_node("node_b").has_value());
  EXPECT_TRUE(all_audit(*store_).empty()) << "the audit entry rolled back with the insert";

  // Updating an existing node onto a taken hash conflicts as well and leaves the row alone.
  store_->upsert_node(full_node("node_b", "hash_y"));
  EXPECT_THROW(store_->upsert_node(full_node("node_b", "hash_x")), StoreConflict);
  EXPECT_EQ(store_->find_node("node_b")->token_hash, "hash_y");
  EXPECT_EQ(store_->find_node_by_token_hash("hash_x")->id, "node_a");

  // A node may upsert itself with its own hash again.
  EXPECT_NO_THROW(store_->upsert_node(full_node("node_a", "hash_x")));
}

TEST_P(StoreNodes, UpsertWritesItsAuditEntryOnlyWhenGiven) {
  store_->upsert_node(full_node("node_1"));
  EXPECT_TRUE(all_audit(*store_).empty());
  const AuditEntry audit = make_audit("node.update", "node_1");
  store_->upsert_node(full_node("node_1"), &audit);
  auto entries = all_audit(*store_);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "node.update");
  EXPECT_EQ(entries[0].target_type, "node");
  EXPECT_EQ(entries[0].target_id, "node_1");
}

TEST_P(StoreNodes, DeleteRemovesTheRowAndAuditsOnlyWhenItExisted) {
  store_->upsert_node(full_node("node_1", "hash_1"));
  store_->upsert_node(full_node("node_2", "hash_2"));

  const AuditEntry missing = make_audit("node.delete", "node_missing");
  EXPECT_FALSE(store_->delete_node("node_missing", &missing));
  EXPECT_TRUE(all_audit(*store_).empty()) << "nothing was deleted, nothing is audited";

  const AuditEntry audit = make_audit("node.delete", "node_1");
  EXPECT_TRUE(store_->delete_node("node_1", &audit));
  EXPECT_FALSE(store_->find_node("node_1").has_value());
  EXPECT_FALSE(store_->find_node_by_token_hash("hash_1").has_value());
  EXPECT_EQ(ids(store_->list_nodes()), std::vector<std::string>{"node_2"});
  auto entries = all_audit(*store_);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "node.delete");
  EXPECT_EQ(entries[0].target_id, "node_1");
  EXPECT_EQ(entries[0].request_id, "req_test");

  // A second delete of the same node is a no-op, and its audit entry is not written.
  EXPECT_FALSE(store_->delete_node("node_1", &audit));
  EXPECT_EQ(all_audit(*store_).size(), 1u);
  EXPECT_TRUE(store_->delete_node("node_2", nullptr));
  EXPECT_TRUE(store_->list_nodes().empty());
  EXPECT_EQ(all_audit(*store_).size(), 1u);

  // The token of a deleted node may be taken by a new one; a new row gets a new created_at.
  Node again = full_node("node_1", "hash_1");
  again.created_at = 7000;
  store_->upsert_node(again);
  EXPECT_EQ(store_->find_node_by_token_hash("hash_1")->created_at, 7000);
}

TEST_P(StoreNodes, UpdateNodeStateChangesOnlyStateDeadlineAndUpdatedAt) {
  const Node original = full_node("node_1", "hash_1");
  store_->upsert_node(original);
  store_->upsert_node(full_node("node_2"));

  const AuditEntry missing = make_audit("node.drain", "node_missing");
  EXPECT_FALSE(store_->update_node_state("node_missing", "draining", 1, 2, &missing));
  EXPECT_TRUE(all_audit(*store_).empty());
  EXPECT_EQ(store_->list_nodes().size(), 2u) << "an update of a missing node inserts nothing";

  const AuditEntry audit = make_audit("node.drain", "node_1");
  EXPECT_TRUE(store_->update_node_state("node_1", "draining", 60'000, 50'000, &audit));
  Node want = original;
  want.state = "draining";
  want.eviction_deadline = 60'000;
  want.updated_at = 50'000;
  expect_same(*store_->find_node("node_1"), want);
  expect_same(*store_->find_node("node_2"), full_node("node_2"));
  auto entries = all_audit(*store_);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "node.drain");
  EXPECT_EQ(entries[0].target_id, "node_1");

  // Back to ready, deadline cleared, no audit.
  EXPECT_TRUE(store_->update_node_state("node_1", "ready", 0, 70'000, nullptr));
  want.state = "ready";
  want.eviction_deadline = 0;
  want.updated_at = 70'000;
  expect_same(*store_->find_node_by_token_hash("hash_1"), want);
  EXPECT_EQ(all_audit(*store_).size(), 1u);
}

TEST(NodeMigration, Version3IsNodesInBothDialects) {
  auto find = [](std::span<const Migration> all) -> const Migration* {
    for (const Migration& m : all) {
      if (m.version == 3) return &m;
    }
    return nullptr;
  };
  for (const Migration* m : {find(sqlite_migrations()), find(postgres_migrations())}) {
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->name, "nodes");
    EXPECT_NE(m->sql.find("token_hash"), std::string_view::npos);
    EXPECT_NE(m->sql.find("eviction_deadline"), std::string_view::npos);
  }
}

using StoreNodeUpgrade = StoreFixture;

TEST_P(StoreNodes, HeartbeatsOnlyMoveForwardAndUpsertLeavesThemAlone) {
  store_->upsert_node(full_node("gpu-1"));
  store_->upsert_node(full_node("gpu-2"));
  EXPECT_EQ(store_->find_node("gpu-1")->last_heartbeat_at, 0);
  store_->touch_node_heartbeats({{"gpu-1", 5000}, {"gpu-2", 7000}, {"gone", 9000}, {"gpu-1", 6000}});
  EXPECT_EQ(store_->find_node("gpu-1")->last_heartbeat_at, 6000);
  EXPECT_EQ(store_->find_node("gpu-2")->last_heartbeat_at, 7000);
  store_->touch_node_heartbeats({{"gpu-2", 6500}});
  EXPECT_EQ(store_->find_node("gpu-2")->last_heartbeat_at, 7000) << "an older beat does not move it back";
  store_->upsert_node(full_node("gpu-2"));
  EXPECT_EQ(store_->find_node("gpu-2")->last_heartbeat_at, 7000) << "upsert does not reset it";
  EXPECT_EQ(store_->list_nodes().size(), 2u);
  store_->touch_node_heartbeats({});
}

TEST_P(StoreNodeUpgrade, Version2NodesSurviveTheMigrationTo3) {
  // A database as a version-2 build left it, with two nodes written by the old upsert.
  const char* applied_type = is_postgres() ? "BIGINT" : "INTEGER";
  std::string sql = std::string("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                                " applied_at ") + applied_type + " NOT NULL);\n";
  for (const Migration& m : is_postgres() ? postgres_migrations() : sqlite_migrations()) {
    if (m.version > 2) break;
    sql += std::string(m.sql) + "\nINSERT INTO schema_migrations (version, applied_at) VALUES (" +
           std::to_string(m.version) + ", 1);\n";
  }
  const char* spot = is_postgres() ? "TRUE" : "1";
  sql += std::string("INSERT INTO nodes (id, provider, region, instance_type, models, endpoint,"
                     " spot, price_per_hour_micros, capacity_tokens_per_sec, state, updated_at)"
                     " VALUES ('node_old', 'aws', 'eu', 'g5', '[\"m1\",\"m2\"]', 'http://old:1', ") +
         spot + ", 1006000, 2500, 'ready', 4444);"
                "INSERT INTO nodes (id, endpoint, updated_at) VALUES ('node_bare', 'http://b:1', 5555);";
  exec_raw(sql);
  ASSERT_EQ(store_->schema_version(), 2);

  store_->migrate();
  store_->migrate();
  EXPECT_GE(store_->schema_version(), 3);
  EXPECT_EQ(store_->schema_version(), sqlite_migrations().back().version);

  auto old = store_->find_node("node_old");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->provider, "aws");
  EXPECT_EQ(old->models, (std::vector<std::string>{"m1", "m2"}));
  EXPECT_TRUE(old->spot);
  EXPECT_EQ(old->price_per_hour_micros, 1'006'000);
  EXPECT_EQ(old->state, "ready");
  EXPECT_EQ(old->updated_at, 4444);
  EXPECT_EQ(old->source, "config");
  EXPECT_EQ(old->token_hash, "");
  EXPECT_EQ(old->created_at, 4444) << "existing nodes get created_at = updated_at";
  EXPECT_EQ(old->eviction_deadline, 0);
  auto bare = store_->find_node("node_bare");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->state, "launching");
  EXPECT_EQ(bare->created_at, 5555);
  EXPECT_EQ(ids(store_->list_nodes()), (std::vector<std::string>{"node_bare", "node_old"}));
  EXPECT_FALSE(store_->find_node_by_token_hash("").has_value());

  // The migrated table takes the new columns and enforces the token index.
  Node upgraded = *old;
  upgraded.token_hash = "hash_old";
  upgraded.source = "agent";
  upgraded.created_at = 9999;  // ignored: the row exists
  store_->upsert_node(upgraded);
  EXPECT_EQ(store_->find_node_by_token_hash("hash_old")->created_at, 4444);
  Node thief = *bare;
  thief.token_hash = "hash_old";
  EXPECT_THROW(store_->upsert_node(thief), StoreConflict);
  EXPECT_TRUE(store_->update_node_state("node_bare", "draining", 100, 200, nullptr));
  EXPECT_TRUE(store_->delete_node("node_bare", nullptr));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreNodes, ::testing::Values(kSqlite, kPostgres), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, StoreNodeUpgrade, ::testing::Values(kSqlite, kPostgres),
                         backend_name);

}  // namespace
}  // namespace cic::store::testing
