// make_strategy / strategy_names.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "cic/config/config.hpp"
#include "cic/scheduler/strategy.hpp"

namespace cic::scheduler {
namespace {

TEST(StrategyFactory, EveryListedNameBuildsTheStrategyOfThatName) {
  auto names = strategy_names();
  ASSERT_EQ(names.size(), 6u);
  std::set<std::string_view> expected{"round_robin",    "least_connections", "latency_weighted",
                                      "cost_optimized", "load_aware",        "prefix_affinity"};
  EXPECT_EQ(std::set<std::string_view>(names.begin(), names.end()), expected);
  for (auto name : names) {
    auto strategy = make_strategy(name);
    ASSERT_NE(strategy, nullptr) << name;
    EXPECT_EQ(std::string_view(strategy->name()), name);
    EXPECT_EQ(strategy->pick({}, PickHints{}), nullptr) << name << " with no candidates";
  }
}

TEST(StrategyFactory, TheConfigAcceptsExactlyTheStrategyNames) {
  const auto& config_names = config::routing_strategy_names();
  auto names = strategy_names();
  EXPECT_EQ(std::set<std::string>(config_names.begin(), config_names.end()),
            std::set<std::string>(names.begin(), names.end()));
  EXPECT_EQ(config_names.size(), names.size());  // no repeats either
  for (const auto& name : config_names) EXPECT_NE(make_strategy(name), nullptr) << name;
  EXPECT_EQ(config::RoutingConfig{}.default_strategy, kDefaultStrategy);
}

TEST(StrategyFactory, UnknownNamesGiveNull) {
  EXPECT_EQ(make_strategy(""), nullptr);
  EXPECT_EQ(make_strategy("random"), nullptr);
  EXPECT_EQ(make_strategy("Round_Robin"), nullptr);
  EXPECT_EQ(make_strategy("load_aware "), nullptr);
}

TEST(StrategyFactory, DefaultIsLoadAwareAndListed) {
  EXPECT_EQ(kDefaultStrategy, "load_aware");
  auto names = strategy_names();
  EXPECT_NE(std::find(names.begin(), names.end(), kDefaultStrategy), names.end());
}

TEST(StrategyFactory, EveryStrategyReturnsTheOnlyCandidate) {
  registry::Node only;
  only.id = "only";
  const registry::Node* one[] = {&only};
  PickHints keyed{"some prefix"};
  for (auto name : strategy_names()) {
    auto strategy = make_strategy(name);
    EXPECT_EQ(strategy->pick(one, PickHints{}), &only) << name;
    EXPECT_EQ(strategy->pick(one, keyed), &only) << name;
  }
}

TEST(Hash64, IsStableAndSpreadsNearbyKeys) {
  EXPECT_EQ(hash64("user-1"), hash64("user-1"));
  EXPECT_NE(hash64("user-1"), hash64("user-2"));
  EXPECT_NE(hash64("user-1", 1), hash64("user-1", 2));
  // Every length through the tail switch hashes differently from its one-shorter prefix.
  std::string s;
  for (int i = 0; i < 20; ++i) {
    std::uint64_t before = hash64(s);
    s.push_back('a');
    EXPECT_NE(hash64(s), before) << i;
  }
}

}  // namespace
}  // namespace cic::scheduler
