// The new strategies behind Router::route, against a published registry snapshot.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "cic/router/router.hpp"
#include "fakes/fake_clock.hpp"
#include "scheduler_support.hpp"

namespace cic::scheduler {
namespace {

using cic::testing::scheduler_node;

class RouterStrategiesTest : public ::testing::Test {
 protected:
  RouterStrategiesTest() {
    registry_.publish({scheduler_node("eu-1", "eu-west", {"llama"}), scheduler_node("eu-2", "eu-west", {"llama"}),
                       scheduler_node("eu-3", "eu-west", {"llama"}), scheduler_node("us-1", "us-east", {"llama"})});
  }
  router::RouteDecision route(Strategy& strategy, std::string_view key = {}, std::vector<std::string> exclude = {}) {
    router::Router router(registry_, strategy, clock_, {{"eu-west", {"us-east"}}});
    router::RouteRequest r;
    r.model = "llama";
    r.region = "eu-west";
    r.exclude = std::move(exclude);
    r.hints.affinity_key = key;
    return router.route(r);
  }
  registry::NodeLoad& load(const std::string& id) { return *registry_.snapshot()->find(id)->load; }

  cic::testing::FakeClock clock_;
  registry::NodeRegistry registry_;
};

TEST_F(RouterStrategiesTest, LoadAwareRoutesAroundTheQueuedNode) {
  auto strategy = make_strategy("load_aware");
  load("eu-1").requests_waiting = 8;
  load("eu-2").kv_cache_usage_milli = 900;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(route(*strategy).node->id, "eu-3");
}

TEST_F(RouterStrategiesTest, PrefixAffinityKeepsTheKeyAcrossRepublishAndMovesOnExclusion) {
  auto strategy = make_strategy("prefix_affinity");
  const std::string home = route(*strategy, "session-7").node->id;
  // A republish (new snapshot, new Node objects, same ids and NodeLoads): the same home.
  std::vector<registry::Node> same;
  for (const auto& n : registry_.snapshot()->nodes()) same.push_back(*n);
  registry_.publish(std::move(same));
  EXPECT_EQ(route(*strategy, "session-7").node->id, home);
  // A retry excluding the home node lands elsewhere in the region, deterministically.
  auto retry = route(*strategy, "session-7", {home});
  ASSERT_NE(retry.node, nullptr);
  EXPECT_NE(retry.node->id, home);
  EXPECT_EQ(retry.region, "eu-west");
  EXPECT_EQ(route(*strategy, "session-7", {home}).node->id, retry.node->id);
}

TEST_F(RouterStrategiesTest, EveryStrategyFallsBackAcrossRegions) {
  for (auto name : strategy_names()) {
    auto strategy = make_strategy(name);
    auto d = route(*strategy, "k", {"eu-1", "eu-2", "eu-3"});
    ASSERT_NE(d.node, nullptr) << name;
    EXPECT_EQ(d.node->id, "us-1") << name;
    EXPECT_EQ(d.region, "us-east") << name;
  }
}

}  // namespace
}  // namespace cic::scheduler
