// NodeRegistry snapshots and NodeSnapshot pools.
#include <gtest/gtest.h>

#include "cic/registry/node_registry.hpp"
#include "routing_support.hpp"

namespace cic::registry {
namespace {

using cic::testing::make_node;

std::vector<std::string> ids(const std::vector<const Node*>& nodes) {
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

TEST(NodeSnapshot, PoolGroupsByRegionAndModelInOrder) {
  NodeSnapshot snap({
      std::make_shared<const Node>(make_node("a", "eu", {"llama", "qwen"})),
      std::make_shared<const Node>(make_node("b", "us", {"llama"})),
      std::make_shared<const Node>(make_node("c", "eu", {"llama"}, NodeState::kDead)),
      std::make_shared<const Node>(make_node("d", "eu", {"qwen"})),
  });
  EXPECT_EQ(ids(snap.pool("eu", "llama")), (std::vector<std::string>{"a", "c"}));  // any state
  EXPECT_EQ(ids(snap.pool("eu", "qwen")), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(ids(snap.pool("us", "llama")), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(snap.pool("us", "qwen").empty());
  EXPECT_TRUE(snap.pool("ap", "llama").empty());
  EXPECT_TRUE(snap.pool("eu", "").empty());
  EXPECT_EQ(snap.find("d")->id, "d");
  EXPECT_EQ(snap.find("zz"), nullptr);
}

}  // namespace
}  // namespace cic::registry
