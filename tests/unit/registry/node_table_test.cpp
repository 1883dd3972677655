// The node lifecycle: launching -> ready -> draining -> drained, dead on missed heartbeats,
// health taking nodes out of the pools and readiness bringing them back, eviction deadlines.
#include "cic/registry/node_table.hpp"

#include <gtest/gtest.h>

#include "../../fakes/fake_clock.hpp"

namespace cic::registry {
namespace {

using namespace std::chrono_literals;

NodeSpec spec(const std::string& id, const std::string& endpoint = "http://10.0.0.1:8000") {
  NodeSpec s;
  s.id = id;
  s.region = "india";
  s.endpoint = endpoint;
  s.models = {"llama"};
  return s;
}

class NodeTableTest : public ::testing::Test {
 protected:
  NodeTableTest() : table(registry, clock, options()) {
    table.set_listeners([this](const NodeInfo& n) { changes.push_back(n.spec.id + ":" + to_string(n.state)); },
                        [this](const std::string& id) { changes.push_back(id + ":removed"); });
  }
  static NodeTableOptions options() {
    NodeTableOptions o;
    o.heartbeat_timeout = 10s;
    o.readiness_interval = 60s;
    o.metrics_interval = 5s;
    return o;
  }
  std::size_t pool_size() { return registry.snapshot()->pool("india", "llama").size(); }

  testing::FakeClock clock;
  NodeRegistry registry;
  NodeTable table;
  std::vector<std::string> changes;
};

TEST_F(NodeTableTest, ANewNodeTakesTrafficOnlyAfterItsReadinessProbePasses) {
  ASSERT_TRUE(table.add(spec("n1"), NodeSource::kAdmin, ""));
  EXPECT_EQ(table.get("n1")->state, NodeState::kLaunching);
  EXPECT_EQ(pool_size(), 0u);
  auto plan = table.probe_plan();
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_TRUE(plan[0].check_readiness);
  EXPECT_EQ(plan[0].model, "llama");
  EXPECT_EQ(plan[0].address.port, 8000);
  table.report_liveness("n1", true, "");
  EXPECT_EQ(pool_size(), 0u) << "liveness alone is not readiness";
  table.report_readiness("n1", false, "HTTP 503");
  EXPECT_EQ(table.get("n1")->state, NodeState::kLaunching);
  EXPECT_EQ(table.get("n1")->last_error, "HTTP 503");
  table.report_readiness("n1", true, "");
  EXPECT_EQ(table.get("n1")->state, NodeState::kReady);
  EXPECT_EQ(pool_size(), 1u);
  EXPECT_EQ(changes, (std::vector<std::string>{"n1:launching", "n1:ready"}));
}

TEST_F(NodeTableTest, AFailedLivenessProbeEjectsAndReadinessReadmits) {
  table.add(spec("n1"), NodeSource::kAdmin, "");
  table.report_readiness("n1", true, "");
  ASSERT_EQ(pool_size(), 1u);
  table.report_liveness("n1", false, "connection refused");
  EXPECT_EQ(pool_size(), 0u);
  EXPECT_EQ(table.get("n1")->state, NodeState::kReady) << "down is health, not lifecycle";
  table.report_liveness("n1", true, "");
  EXPECT_EQ(pool_size(), 0u) << "must pass readiness again";
  EXPECT_TRUE(table.probe_plan()[0].check_readiness);
  table.report_readiness("n1", true, "");
  EXPECT_EQ(pool_size(), 1u);
  EXPECT_FALSE(table.probe_plan()[0].check_readiness) << "readiness again only after the interval";
  clock.advance(61s);
  EXPECT_TRUE(table.probe_plan()[0].check_readiness);
}

TEST_F(NodeTableTest, UnhealthyThresholdCountsFailuresInARow) {
  NodeTableOptions o = options();
  o.unhealthy_threshold = 3;
  NodeRegistry reg;
  NodeTable t(reg, clock, o);
  t.add(spec("n1"), NodeSource::kAdmin, "");
  t.report_readiness("n1", true, "");
  t.report_liveness("n1", false, "x");
  t.report_liveness("n1", false, "x");
  t.report_liveness("n1", true, "");
  t.report_liveness("n1", false, "x");
  t.report_liveness("n1", false, "x");
  EXPECT_EQ(reg.snapshot()->pool("india", "llama").size(), 1u);
  t.report_liveness("n1", false, "x");
  EXPECT_EQ(reg.snapshot()->pool("india", "llama").size(), 0u);
}

TEST_F(NodeTableTest, DrainingFinishesWhenNothingIsInFlight) {
  table.add(spec("n1"), NodeSource::kAdmin, "");
  table.report_readiness("n1", true, "");
  auto load = table.get("n1")->load;
  load->in_flight = 2;
  ASSERT_TRUE(table.drain("n1"));
  EXPECT_EQ(table.get("n1")->state, NodeState::kDraining);
  EXPECT_EQ(pool_size(), 0u);
  EXPECT_EQ(registry.snapshot()->find("n1")->state, NodeState::kDraining) << "still in the table";
  table.tick();
  EXPECT_EQ(table.get("n1")->state, NodeState::kDraining);
  load->in_flight = 0;
  table.tick();
  EXPECT_EQ(table.get("n1")->state, NodeState::kDrained);
  EXPECT_TRUE(table.drain("n1")) << "idempotent";
  EXPECT_EQ(table.get("n1")->state, NodeState::kDrained);
  EXPECT_EQ(table.drain("nope").error, NodeTable::Error::kNotFound);
}

TEST_F(NodeTableTest, EvictionAbortsWhatIsLeftAtTheDeadline) {
  table.add(spec("n1"), NodeSource::kAdmin, "");
  table.report_readiness("n1", true, "");
  table.get("n1")->load->in_flight = 1;
  const std::int64_t deadline = clock.unix_millis() + 30'000;
  ASSERT_TRUE(table.evict("n1", deadline));
  EXPECT_EQ(table.get("n1")->eviction_deadline_ms, deadline);
  table.evict("n1", deadline + 10'000);
  EXPECT_EQ(table.get("n1")->eviction_deadline_ms, deadline) << "a later notice does not extend it";
  clock.advance(29s);
  EXPECT_TRUE(table.tick().empty());
  clock.advance(1s);
  EXPECT_EQ(table.tick(), std::vector<std::string>{"n1"});
  EXPECT_EQ(table.get("n1")->state, NodeState::kDrained);
  EXPECT_TRUE(table.tick().empty()) << "aborted once";
}

TEST_F(NodeTableTest, AgentsRegisterWithTheirTokenAndDieWithoutHeartbeats) {
  NodeSpec s = spec("gpu-1", "");
  ASSERT_TRUE(table.add(s, NodeSource::kAdmin, "hash-1"));
  EXPECT_TRUE(table.probe_plan().empty()) << "no endpoint yet";
  EXPECT_EQ(table.register_agent("hash-2", "http://10.0.0.9:8000", {}, 0).error, NodeTable::Error::kNotFound);
  auto r = table.register_agent("hash-1", "http://10.0.0.9:8000", {"llama", "bge"}, 5000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.node->source, NodeSource::kAgent);
  EXPECT_EQ(r.node->spec.models, (std::vector<std::string>{"llama", "bge"}));
  EXPECT_EQ(r.node->spec.capacity_tokens_per_sec, 5000);
  table.report_readiness("gpu-1", true, "");
  EXPECT_EQ(pool_size(), 1u);
  clock.advance(8s);
  EXPECT_TRUE(table.heartbeat("gpu-1", "hash-1"));
  EXPECT_EQ(table.heartbeat("gpu-1", "hash-x").error, NodeTable::Error::kNotFound);
  EXPECT_EQ(table.heartbeat("gpu-1", "").error, NodeTable::Error::kNotFound);
  clock.advance(8s);
  table.tick();
  EXPECT_EQ(table.get("gpu-1")->state, NodeState::kReady);
  clock.advance(3s);
  table.tick();
  EXPECT_EQ(table.get("gpu-1")->state, NodeState::kDead);
  EXPECT_EQ(pool_size(), 0u);
  EXPECT_EQ(table.heartbeat("gpu-1", "hash-1").error, NodeTable::Error::kDead);
  ASSERT_TRUE(table.register_agent("hash-1", "http://10.0.0.9:8000", {}, 0));
  EXPECT_EQ(table.get("gpu-1")->state, NodeState::kLaunching) << "registering again starts over";
}

TEST_F(NodeTableTest, NodesWithoutAgentsNeverMissHeartbeats) {
  table.add(spec("n1"), NodeSource::kAdmin, "");
  table.report_readiness("n1", true, "");
  clock.advance(std::chrono::hours(1));
  table.tick();
  EXPECT_EQ(table.get("n1")->state, NodeState::kReady);
}

TEST_F(NodeTableTest, ConfigNodesCannotBeRemovedOthersCan) {
  table.load({}, {spec("static-1")});
  EXPECT_EQ(table.remove("static-1").error, NodeTable::Error::kConfigNode);
  table.add(spec("n2"), NodeSource::kAdmin, "");
  EXPECT_EQ(table.add(spec("n2"), NodeSource::kAdmin, "").error, NodeTable::Error::kConflict);
  ASSERT_TRUE(table.remove("n2"));
  EXPECT_FALSE(table.get("n2"));
  EXPECT_EQ(registry.snapshot()->find("n2"), nullptr);
  EXPECT_EQ(changes.back(), "n2:removed");
}

TEST_F(NodeTableTest, LoadKeepsLifecycleButNotHealth) {
  NodeInfo draining;
  draining.spec = spec("d1");
  draining.source = NodeSource::kAdmin;
  draining.state = NodeState::kDraining;
  draining.healthy = true;
  draining.needs_readiness = false;
  NodeInfo ready = draining;
  ready.spec.id = "r1";
  ready.state = NodeState::kReady;
  NodeInfo stale_config = draining;
  stale_config.spec.id = "c1";
  stale_config.source = NodeSource::kConfig;
  table.load({draining, ready, stale_config}, {spec("c2")});
  EXPECT_EQ(table.get("d1")->state, NodeState::kDraining);
  EXPECT_EQ(table.get("r1")->state, NodeState::kLaunching);
  EXPECT_FALSE(table.get("r1")->healthy);
  EXPECT_FALSE(table.get("c1")) << "config nodes come from the file only";
  EXPECT_EQ(table.get("c2")->state, NodeState::kLaunching);
  EXPECT_TRUE(changes.empty());
}

TEST_F(NodeTableTest, MetricsAreScrapedEveryInterval) {
  table.add(spec("n1"), NodeSource::kAdmin, "");
  EXPECT_TRUE(table.probe_plan()[0].scrape_metrics);
  EXPECT_FALSE(table.probe_plan()[0].scrape_metrics);
  clock.advance(5s);
  EXPECT_TRUE(table.probe_plan()[0].scrape_metrics);
}

TEST_F(NodeTableTest, ForgetAfterDropsDrainedNodes) {
  NodeTableOptions o = options();
  o.forget_after = 60s;
  NodeRegistry reg;
  NodeTable t(reg, clock, o);
  t.add(spec("n1"), NodeSource::kAdmin, "");
  t.drain("n1");
  t.tick();
  ASSERT_EQ(t.get("n1")->state, NodeState::kDrained);
  clock.advance(59s);
  t.tick();
  EXPECT_TRUE(t.get("n1"));
  clock.advance(1s);
  t.tick();
  EXPECT_FALSE(t.get("n1"));
}

TEST_F(NodeTableTest, HeartbeatsAreHandedOutOnceForPersistence) {
  table.add(spec("gpu-1", ""), NodeSource::kAdmin, "h1");
  table.register_agent("h1", "http://10.0.0.9:8000", {}, 0);
  EXPECT_TRUE(table.take_heartbeats().empty()) << "registering is persisted by the caller";
  table.heartbeat("gpu-1", "h1");
  auto beats = table.take_heartbeats();
  ASSERT_EQ(beats.size(), 1u);
  EXPECT_EQ(beats[0].first, "gpu-1");
  EXPECT_EQ(beats[0].second, clock.unix_millis());
  EXPECT_TRUE(table.take_heartbeats().empty());
}

TEST_F(NodeTableTest, ReconcileAppliesWhatOtherReplicasDecided) {
  table.load({}, {spec("static-1")});
  table.add(spec("a1"), NodeSource::kAdmin, "");
  table.report_readiness("a1", true, "");
  table.add(spec("gone"), NodeSource::kAdmin, "");
  NodeInfo mine = *table.get("a1");
  EXPECT_EQ(table.reconcile({mine, *table.get("gone")}), 0u) << "our own rows change nothing";

  clock.advance(1s);
  NodeInfo drained_elsewhere = mine;
  drained_elsewhere.state = NodeState::kDrained;
  drained_elsewhere.updated_at_ms = clock.unix_millis();
  NodeInfo added_elsewhere;
  added_elsewhere.spec = spec("b1");
  added_elsewhere.source = NodeSource::kAdmin;
  added_elsewhere.state = NodeState::kReady;
  added_elsewhere.updated_at_ms = clock.unix_millis();
  NodeInfo stale_config = added_elsewhere;
  stale_config.spec.id = "static-1";
  stale_config.source = NodeSource::kConfig;
  stale_config.state = NodeState::kDead;
  EXPECT_EQ(table.reconcile({drained_elsewhere, added_elsewhere, stale_config}), 3u);
  EXPECT_EQ(table.get("a1")->state, NodeState::kDraining) << "our in-flight requests finish first";
  EXPECT_EQ(table.get("b1")->state, NodeState::kLaunching) << "health is ours to establish";
  EXPECT_FALSE(table.get("gone")) << "deleted elsewhere";
  EXPECT_EQ(table.get("static-1")->state, NodeState::kLaunching) << "config nodes follow the file";
  EXPECT_EQ(pool_size(), 0u);
  EXPECT_TRUE(changes.empty() || changes.back() != "a1:draining") << "reconcile does not write back";
}

TEST_F(NodeTableTest, ReconcileSharesHeartbeatsAndReRegistrations) {
  table.add(spec("gpu-1", ""), NodeSource::kAdmin, "h1");
  table.register_agent("h1", "http://10.0.0.9:8000", {}, 0);
  table.report_readiness("gpu-1", true, "");
  NodeInfo row = *table.get("gpu-1");
  clock.advance(8s);
  row.last_heartbeat_ms = clock.unix_millis();  // beats that reached another replica
  table.reconcile({row});
  clock.advance(8s);
  table.tick();
  EXPECT_EQ(table.get("gpu-1")->state, NodeState::kReady) << "alive through the other replica's heartbeats";
  clock.advance(3s);
  table.tick();
  ASSERT_EQ(table.get("gpu-1")->state, NodeState::kDead);
  clock.advance(1s);
  NodeInfo again = *table.get("gpu-1");
  again.state = NodeState::kLaunching;
  again.spec.endpoint = "http://10.0.0.10:8000";
  again.updated_at_ms = clock.unix_millis();
  again.last_heartbeat_ms = clock.unix_millis();
  table.reconcile({again});
  EXPECT_EQ(table.get("gpu-1")->state, NodeState::kLaunching);
  EXPECT_EQ(table.get("gpu-1")->spec.endpoint, "http://10.0.0.10:8000");
  EXPECT_TRUE(table.probe_plan()[0].check_readiness);
}

}  // namespace
}  // namespace cic::registry
