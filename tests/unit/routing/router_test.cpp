// Router: eligibility (state, ejection, exclusion), region fallback and residency.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cic/router/router.hpp"
#include "fakes/fake_clock.hpp"
#include "routing_support.hpp"

namespace cic::router {
namespace {

using namespace std::chrono_literals;
using cic::testing::make_node;
using registry::NodeState;

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : router_(registry_, strategy_, clock_,
                {{"eu-west", {"eu-central", "us-east"}}, {"us-east", {"us-west"}}}) {}

  RouteDecision route(const std::string& model, const std::string& region, bool strict = false,
                      std::vector<std::string> exclude = {}) {
    RouteRequest r;
    r.model = model;
    r.region = region;
    r.strict_residency = strict;
    r.exclude = std::move(exclude);
    return router_.route(r);
  }

  /// Every node id the router can return for this request (round robin visits them all).
  std::set<std::string> reachable(const std::string& model, const std::string& region, bool strict = false,
                                  std::vector<std::string> exclude = {}) {
    std::set<std::string> out;
    for (int i = 0; i < 12; ++i) {
      auto d = route(model, region, strict, exclude);
      if (d.node) out.insert(d.node->id);
    }
    return out;
  }

  const registry::Node& node(const std::string& id) { return *registry_.snapshot()->find(id); }

  cic::testing::FakeClock clock_;
  registry::NodeRegistry registry_;
  scheduler::RoundRobinStrategy strategy_;
  Router router_;
};

TEST_F(RouterTest, EmptyRegistryGivesAnEmptyDecision) {
  auto d = route("llama", "eu-west");
  EXPECT_EQ(d.node, nullptr);
  EXPECT_EQ(d.region, "");
  EXPECT_NE(d.snapshot, nullptr);
}

TEST_F(RouterTest, PicksOnlyReadyNodesOfTheModelInTheRegion) {
  registry_.publish({
      make_node("eu-1", "eu-west", {"llama"}),
      make_node("eu-2", "eu-west", {"llama", "qwen"}),
      make_node("eu-qwen", "eu-west", {"qwen"}),
      make_node("eu-launching", "eu-west", {"llama"}, NodeState::kLaunching),
      make_node("eu-draining", "eu-west", {"llama"}, NodeState::kDraining),
      make_node("eu-drained", "eu-west", {"llama"}, NodeState::kDrained),
      make_node("eu-dead", "eu-west", {"llama"}, NodeState::kDead),
      make_node("us-1", "us-east", {"llama"}),
  });
  EXPECT_EQ(reachable("llama", "eu-west"), (std::set<std::string>{"eu-1", "eu-2"}));
  EXPECT_EQ(reachable("qwen", "eu-west"), (std::set<std::string>{"eu-2", "eu-qwen"}));
  auto d = route("llama", "eu-west");
  EXPECT_EQ(d.region, "eu-west");
  EXPECT_EQ(d.snapshot, registry_.snapshot());
}

TEST_F(RouterTest, SpreadsEvenlyWithRoundRobin) {
  registry_.publish({make_node("a", "eu-west", {"m"}), make_node("b", "eu-west", {"m"}),
                     make_node("c", "eu-west", {"m"})});
  std::map<std::string, int> counts;
  for (int i = 0; i < 300; ++i) ++counts[route("m", "eu-west").node->id];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"a", 100}, {"b", 100}, {"c", 100}}));
}

TEST_F(RouterTest, EjectedNodesAreSkippedUntilTheEjectionEnds) {
  registry_.publish({make_node("a", "eu-west", {"m"}), make_node("b", "eu-west", {"m"})});
  node("a").load->ejected_until_ns = clock_.now_ns() + std::chrono::nanoseconds(10s).count();
  EXPECT_EQ(reachable("m", "eu-west"), (std::set<std::string>{"b"}));
  clock_.advance(10s - 1ns);
  EXPECT_EQ(reachable("m", "eu-west"), (std::set<std::string>{"b"}));
  clock_.advance(1ns);  // ejected_until == now: eligible again
  EXPECT_EQ(reachable("m", "eu-west"), (std::set<std::string>{"a", "b"}));
}

TEST_F(RouterTest, ExcludedNodesAreSkipped) {
  registry_.publish({make_node("a", "eu-west", {"m"}), make_node("b", "eu-west", {"m"}),
                     make_node("c", "eu-west", {"m"})});
  EXPECT_EQ(reachable("m", "eu-west", false, {"a"}), (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(reachable("m", "eu-west", false, {"a", "c"}), (std::set<std::string>{"b"}));
}

TEST_F(RouterTest, FallsBackInConfiguredOrderWhenTheRegionIsEmpty) {
  registry_.publish({
      make_node("central", "eu-central", {"m"}),
      make_node("us", "us-east", {"m"}),
  });
  auto d = route("m", "eu-west");
  ASSERT_NE(d.node, nullptr);
  EXPECT_EQ(d.node->id, "central");
  EXPECT_EQ(d.region, "eu-central");
  EXPECT_EQ(reachable("m", "eu-west"), (std::set<std::string>{"central"}));  // the nearer one only
}

TEST_F(RouterTest, FallsBackPastRegionsWithNoEligibleNode) {
  registry_.publish({
      make_node("home-dead", "eu-west", {"m"}, NodeState::kDead),
      make_node("central-excluded", "eu-central", {"m"}),
      make_node("central-ejected", "eu-central", {"m"}),
      make_node("us", "us-east", {"m"}),
  });
  node("central-ejected").load->ejected_until_ns = clock_.now_ns() + 1'000'000;
  auto d = route("m", "eu-west", false, {"central-excluded"});
  ASSERT_NE(d.node, nullptr);
  EXPECT_EQ(d.node->id, "us");
  EXPECT_EQ(d.region, "us-east");
}

TEST_F(RouterTest, PrefersTheHomeRegionWhenItHasCapacity) {
  registry_.publish({make_node("central", "eu-central", {"m"}), make_node("home", "eu-west", {"m"})});
  EXPECT_EQ(reachable("m", "eu-west"), (std::set<std::string>{"home"}));
  EXPECT_EQ(route("m", "eu-west").region, "eu-west");
}

TEST_F(RouterTest, FallbackIsNotTransitive) {
  // eu-west falls back to eu-central and us-east, not to us-east's own fallback us-west.
  registry_.publish({make_node("west", "us-west", {"m"})});
  EXPECT_EQ(route("m", "eu-west").node, nullptr);
  EXPECT_EQ(route("m", "us-east").node->id, "west");
}

TEST_F(RouterTest, RegionWithoutFallbacksGivesAnEmptyDecision) {
  registry_.publish({make_node("eu", "eu-west", {"m"})});
  auto d = route("m", "ap-south");
  EXPECT_EQ(d.node, nullptr);
  EXPECT_EQ(d.region, "");
}

TEST_F(RouterTest, StrictResidencyNeverFallsBack) {
  registry_.publish({
      make_node("home-draining", "eu-west", {"m"}, NodeState::kDraining),
      make_node("central", "eu-central", {"m"}),
  });
  auto d = route("m", "eu-west", /*strict=*/true);
  EXPECT_EQ(d.node, nullptr);
  EXPECT_EQ(d.region, "");
  EXPECT_EQ(route("m", "eu-west", false).node->id, "central");
}

TEST_F(RouterTest, StrictResidencyStillRoutesAtHome) {
  registry_.publish({make_node("home", "eu-west", {"m"}), make_node("central", "eu-central", {"m"})});
  auto d = route("m", "eu-west", true);
  ASSERT_NE(d.node, nullptr);
  EXPECT_EQ(d.node->id, "home");
}

TEST_F(RouterTest, NothingEligibleAnywhereGivesAnEmptyDecision) {
  registry_.publish({
      make_node("a", "eu-west", {"m"}, NodeState::kDead),
      make_node("b", "eu-central", {"other"}),
      make_node("c", "us-east", {"m"}),
  });
  node("c").load->ejected_until_ns = clock_.now_ns() + 5;
  EXPECT_EQ(route("m", "eu-west").node, nullptr);
  EXPECT_EQ(route("nope", "eu-west").node, nullptr);
}

TEST_F(RouterTest, SeesNewSnapshotsImmediately) {
  registry_.publish({make_node("a", "eu-west", {"m"})});
  EXPECT_EQ(route("m", "eu-west").node->id, "a");
  registry_.publish({make_node("b", "eu-west", {"m"})});
  EXPECT_EQ(route("m", "eu-west").node->id, "b");
}

TEST(RouterLeastConnections, UsesTheStrategyAmongEligibleNodes) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  scheduler::LeastConnectionsStrategy strategy;
  Router router(registry, strategy, clock, {});
  registry.publish({make_node("busy", "eu", {"m"}), make_node("idle-but-ejected", "eu", {"m"}),
                    make_node("calm", "eu", {"m"})});
  auto snap = registry.snapshot();
  snap->find("busy")->load->in_flight = 9;
  snap->find("idle-but-ejected")->load->ejected_until_ns = clock.now_ns() + 1;
  snap->find("calm")->load->in_flight = 2;
  RouteRequest r;
  r.model = "m";
  r.region = "eu";
  EXPECT_EQ(router.route(r).node->id, "calm");
}

}  // namespace
}  // namespace cic::router
