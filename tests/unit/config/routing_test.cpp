// routing:, health: and registry: sections.
#include "config_test_support.hpp"

namespace cic::config::test {
namespace {

class RoutingConfigTest : public ConfigTest {};

TEST_F(RoutingConfigTest, DefaultsAreLoadAwareWithATwentyPercentRetryBudget) {
  Config config = parse(minimal_yaml());
  EXPECT_EQ(config.routing.default_strategy, "load_aware");
  EXPECT_DOUBLE_EQ(config.routing.retry_budget_ratio, 0.2);
  EXPECT_EQ(config.health.interval.count(), 5000);
  EXPECT_FALSE(config.registry.allow_loopback_endpoints);
  EXPECT_EQ(config.routing.strategy_for("india", "llama"), "load_aware");
}

TEST_F(RoutingConfigTest, FirstMatchingRuleChoosesTheStrategy) {
  Config config = parse(catalog_yaml() + R"(
routing:
  default_strategy: round_robin
  rules:
    - {region: india, model: llama, strategy: prefix_affinity}
    - {model: llama, strategy: cost_optimized}
    - {region: apac, strategy: least_connections}
)");
  EXPECT_EQ(config.routing.strategy_for("india", "llama"), "prefix_affinity");
  EXPECT_EQ(config.routing.strategy_for("apac", "llama"), "cost_optimized");
  EXPECT_EQ(config.routing.strategy_for("apac", "embed"), "least_connections");
  EXPECT_EQ(config.routing.strategy_for("india", "embed"), "round_robin");
}

TEST_F(RoutingConfigTest, UnknownStrategiesRegionsAndModelsAreNamed) {
  const auto issues = issues_of(catalog_yaml() + R"(
routing:
  default_strategy: fastest
  rules:
    - {region: mars, strategy: load_aware}
    - {model: gpt-9, strategy: round_robin}
    - {region: india, strategy: random}
    - {region: india}
  retry_budget_ratio: 1.5
)");
  EXPECT_TRUE(has_issue(issues, "routing.default_strategy", "unknown strategy \"fastest\""));
  EXPECT_TRUE(has_issue(issues, "routing.rules[0].region", "unknown region \"mars\""));
  EXPECT_TRUE(has_issue(issues, "routing.rules[1].model", "unknown model \"gpt-9\""));
  EXPECT_TRUE(has_issue(issues, "routing.rules[2].strategy", "unknown strategy \"random\""));
  EXPECT_TRUE(has_issue(issues, "routing.rules[3].strategy", "is required"));
  EXPECT_TRUE(has_issue(issues, "routing.retry_budget_ratio", "between"));
}

TEST_F(RoutingConfigTest, HealthAndRegistryRanges) {
  const auto issues = issues_of(minimal_yaml() + R"(
health: {interval_ms: 5, metrics_interval_ms: 50, eject_base_ms: 10000, eject_max_ms: 5000, max_ejected_share: 2}
registry: {heartbeat_timeout_ms: 10, allow_loopback: true}
)");
  EXPECT_TRUE(has_issue(issues, "health.interval_ms", "between"));
  EXPECT_TRUE(has_issue(issues, "health.metrics_interval_ms", "0 (off) or at least 100"));
  EXPECT_TRUE(has_issue(issues, "health.eject_max_ms", "must not be below eject_base_ms"));
  EXPECT_TRUE(has_issue(issues, "health.max_ejected_share", "between"));
  EXPECT_TRUE(has_issue(issues, "registry.heartbeat_timeout_ms", "between"));
  EXPECT_TRUE(has_issue(issues, "registry.allow_loopback", "unknown key"));
  Config config = parse(minimal_yaml() + "registry: {allow_loopback_endpoints: true, heartbeat_timeout_ms: 2000}\n"
                                          "health: {interval_ms: 500, metrics_interval_ms: 0}\n");
  EXPECT_TRUE(config.registry.allow_loopback_endpoints);
  EXPECT_EQ(config.registry.heartbeat_timeout.count(), 2000);
  EXPECT_EQ(config.health.metrics_interval.count(), 0);
}

}  // namespace
}  // namespace cic::config::test
