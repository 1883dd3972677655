// NodeRegistry snapshots and NodeSnapshot pools.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <string_view>

#include "cic/registry/node_registry.hpp"
#include "routing_support.hpp"

namespace cic::registry {
namespace {

using cic::testing::make_node;

std::vector<std::string> ids(std::span<const Node* const> nodes) {
  std::vector<std::string> out;
  for (const auto* n : nodes) out.push_back(n->id);
  return out;
}

TEST(NodeRegistry, StartsEmpty) {
  NodeRegistry registry;
  auto snap = registry.snapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_TRUE(snap->nodes().empty());
  EXPECT_TRUE(snap->pool("eu", "m").empty());
  EXPECT_EQ(snap->find("n1"), nullptr);
}

TEST(NodeRegistry, PublishReplacesTheTableAndOldSnapshotsStayValid) {
  NodeRegistry registry;
  registry.publish({make_node("n1", "eu", {"m"}), make_node("n2", "eu", {"m"})});
  auto first = registry.snapshot();
  registry.publish({make_node("n3", "us", {"m"})});
  auto second = registry.snapshot();
  EXPECT_EQ(first->nodes().size(), 2u);  // readers holding the old snapshot are unaffected
  ASSERT_NE(first->find("n1"), nullptr);
  EXPECT_EQ(first->find("n1")->region, "eu");
  ASSERT_EQ(second->nodes().size(), 1u);
  EXPECT_EQ(second->find("n1"), nullptr);
  EXPECT_EQ(second->find("n3")->region, "us");
}

TEST(NodeRegistry, SurvivingIdsKeepTheirLoadCounters) {
  NodeRegistry registry;
  registry.publish({make_node("n1", "eu", {"m"}), make_node("n2", "eu", {"m"})});
  auto before = registry.snapshot();
  before->find("n1")->load->in_flight = 3;
  before->find("n1")->load->requests = 100;
  before->find("n1")->load->ejected_until_ns = 12345;
  before->find("n2")->load->in_flight = 7;
  auto n1_load = before->find("n1")->load;

  Node changed = make_node("n1", "eu", {"m", "other"}, NodeState::kDraining);  // same id, new fields
  registry.publish({changed, make_node("n4", "eu", {"m"})});
  auto after = registry.snapshot();
  const Node* n1 = after->find("n1");
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->load, n1_load);  // the very same counters object
  EXPECT_EQ(n1->load->in_flight.load(), 3);
  EXPECT_EQ(n1->load->requests.load(), 100u);
  EXPECT_EQ(n1->load->ejected_until_ns.load(), 12345);
  EXPECT_EQ(n1->state, NodeState::kDraining);  // everything else is the new definition
  EXPECT_EQ(n1->models.size(), 2u);
  EXPECT_EQ(after->find("n4")->load->in_flight.load(), 0);  // new ids start fresh

  // A node that left and comes back starts from zero.
  registry.publish({make_node("n2", "eu", {"m"})});
  EXPECT_EQ(registry.snapshot()->find("n2")->load->in_flight.load(), 0);
}

TEST(NodeSnapshot, PoolsHoldOnlyRoutableNodesByRegionAndModelInOrder) {
  Node unhealthy = make_node("e", "eu", {"llama"});
  unhealthy.healthy = false;
  NodeSnapshot snap({
      std::make_shared<const Node>(make_node("a", "eu", {"llama", "qwen"})),
      std::make_shared<const Node>(make_node("b", "us", {"llama"})),
      std::make_shared<const Node>(make_node("c", "eu", {"llama"}, NodeState::kDead)),
      std::make_shared<const Node>(make_node("d", "eu", {"qwen"})),
      std::make_shared<const Node>(std::move(unhealthy)),
      std::make_shared<const Node>(make_node("f", "eu", {"llama"}, NodeState::kDraining)),
      std::make_shared<const Node>(make_node("g", "eu", {"llama"}, NodeState::kLaunching)),
      std::make_shared<const Node>(make_node("h", "eu", {"llama"})),
  });
  EXPECT_EQ(ids(snap.pool("eu", "llama")), (std::vector<std::string>{"a", "h"}));  // ready and healthy only
  EXPECT_EQ(ids(snap.pool("eu", "qwen")), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(ids(snap.pool("us", "llama")), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(snap.pool("us", "qwen").empty());
  EXPECT_TRUE(snap.pool("ap", "llama").empty());
  EXPECT_TRUE(snap.pool("eu", "").empty());
  EXPECT_EQ(snap.nodes().size(), 8u);  // the table itself keeps every node
  EXPECT_EQ(snap.find("d")->id, "d");
  EXPECT_EQ(snap.find("c")->state, NodeState::kDead);  // find sees unroutable nodes too
  EXPECT_FALSE(snap.find("e")->healthy);
  EXPECT_EQ(snap.find("zz"), nullptr);
  EXPECT_EQ(snap.find(""), nullptr);
  // Every non-empty pool is listed.
  std::size_t pools = 0;
  for (const auto& [region, models] : snap.pools()) pools += models.size();
  EXPECT_EQ(pools, 3u);
}

TEST(NodeSnapshot, LookupsTakeStringViews) {
  NodeSnapshot snap({std::make_shared<const Node>(make_node("node-1", "eu-west", {"llama"}))});
  const char buffer[] = "eu-west/llama/node-1";
  std::string_view all(buffer);
  auto pool = snap.pool(all.substr(0, 7), all.substr(8, 5));
  ASSERT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool[0]->id, "node-1");
  EXPECT_EQ(snap.find(all.substr(14)), pool[0]);
  EXPECT_TRUE(snap.pool(all.substr(0, 6), "llama").empty());  // "eu-wes"
}

TEST(NodeSnapshot, ANodeListingAModelTwiceIsOneCandidate) {
  NodeSnapshot snap({std::make_shared<const Node>(make_node("a", "eu", {"m", "m"})),
                     std::make_shared<const Node>(make_node("b", "eu", {"m"}))});
  EXPECT_EQ(ids(snap.pool("eu", "m")), (std::vector<std::string>{"a", "b"}));
}

TEST(NodeSnapshot, RepeatedIdsFindTheFirst) {
  NodeSnapshot snap({std::make_shared<const Node>(make_node("a", "eu", {"m"})),
                     std::make_shared<const Node>(make_node("a", "us", {"m"}))});
  EXPECT_EQ(snap.find("a")->region, "eu");
}

TEST(NodeRegistry, UnhealthyNodesLeaveThePoolsAndKeepTheirCounters) {
  NodeRegistry registry;
  registry.publish({make_node("n1", "eu", {"m"}), make_node("n2", "eu", {"m"})});
  registry.snapshot()->find("n1")->load->in_flight = 4;
  Node sick = make_node("n1", "eu", {"m"});
  sick.healthy = false;
  registry.publish({sick, make_node("n2", "eu", {"m"})});
  auto snap = registry.snapshot();
  EXPECT_EQ(ids(snap->pool("eu", "m")), (std::vector<std::string>{"n2"}));
  EXPECT_EQ(snap->find("n1")->load->in_flight.load(), 4);
  registry.publish({make_node("n1", "eu", {"m"}), make_node("n2", "eu", {"m"})});
  EXPECT_EQ(ids(registry.snapshot()->pool("eu", "m")), (std::vector<std::string>{"n1", "n2"}));
}

TEST(NodeRegistry, EachRegistryHasItsOwnSnapshotEvenAtAReusedAddress) {
  NodeRegistry a;
  NodeRegistry b;
  a.publish({make_node("in-a", "eu", {"m"})});
  b.publish({make_node("in-b", "eu", {"m"})});
  for (int i = 0; i < 3; ++i) {  // alternating readers on one thread
    EXPECT_NE(a.snapshot()->find("in-a"), nullptr);
    EXPECT_EQ(a.snapshot()->find("in-b"), nullptr);
    EXPECT_NE(b.snapshot()->find("in-b"), nullptr);
  }
  std::optional<NodeRegistry> slot;
  for (int i = 0; i < 5; ++i) {  // same storage, same version count: still a fresh registry
    slot.emplace();
    EXPECT_TRUE(slot->snapshot()->nodes().empty()) << i;
    slot->publish({make_node(std::string("gen-").append(std::to_string(i)), "eu", {"m"})});
    ASSERT_EQ(slot->snapshot()->nodes().size(), 1u);
    EXPECT_EQ(slot->snapshot()->nodes()[0]->id, std::string("gen-").append(std::to_string(i)));
  }
}

TEST(NodeRegistry, ReadersOnOtherThreadsSeeEveryPublish) {
  NodeRegistry registry;
  std::atomic<int> published{0};
  std::atomic<bool> stale{false};
  std::thread reader([&] {
    for (int seen = 0; seen < 200;) {
      const int at_least = published.load(std::memory_order_acquire);
      auto snap = registry.snapshot();
      const int got = snap->nodes().empty() ? 0 : std::stoi(snap->nodes()[0]->id);
      if (got < at_least) stale = true;
      seen = got;
    }
  });
  for (int i = 1; i <= 200; ++i) {
    registry.publish({make_node(std::to_string(i), "eu", {"m"})});
    published.store(i, std::memory_order_release);
  }
  reader.join();
  EXPECT_FALSE(stale.load());
  EXPECT_EQ(registry.version(), 200u);
}

TEST(NodeRegistry, ASnapshotOutlivesTheRegistryAndLaterPublishes) {
  std::shared_ptr<const NodeSnapshot> kept;
  {
    NodeRegistry registry;
    registry.publish({make_node("n1", "eu", {"m"})});
    kept = registry.snapshot();
    registry.publish({});
    EXPECT_TRUE(registry.snapshot()->nodes().empty());
  }
  ASSERT_EQ(kept->nodes().size(), 1u);
  EXPECT_EQ(kept->pool("eu", "m")[0]->id, "n1");
}

}  // namespace
}  // namespace cic::registry
