// Router with one strategy per (region, model) pool from the routing config; the fast path (pick
// from the snapshot's pool, check the pick) against the filtered slow path; residency and fallback.
#include <gtest/gtest.h>

#include <array>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cic/config/config.hpp"
#include "cic/router/router.hpp"
#include "fakes/fake_clock.hpp"
#include "routing_support.hpp"

namespace cic::router {
namespace {

using namespace std::chrono_literals;
using cic::testing::make_node;

config::RoutingConfig routing_with_rules() {
  config::RoutingConfig routing;
  routing.default_strategy = "load_aware";
  routing.rules = {
      {"eu-west", "llama", "prefix_affinity"},
      {"", "qwen", "round_robin"},
      {"us-east", "", "least_connections"},
      {"ap-south", "mistral", "cost_optimized"},  // a region only a rule names
  };
  return routing;
}

RouteRequest request(std::string model, std::string region, bool strict = false, std::vector<std::string> exclude = {}) {
  RouteRequest r;
  r.model = std::move(model);
  r.region = std::move(region);
  r.strict_residency = strict;
  r.exclude = std::move(exclude);
  return r;
}

TEST(RouterPools, EachPoolGetsTheStrategyTheConfigNames) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  const auto routing = routing_with_rules();
  Router router(registry, clock, routing, {{"eu-west", {"us-east"}}}, {"eu-west", "us-east"},
                {"llama", "qwen", "mistral"});
  auto name = [&](std::string_view region, std::string_view model) {
    return std::string(router.strategy(region, model).name());
  };
  EXPECT_EQ(name("eu-west", "llama"), "prefix_affinity");
  EXPECT_EQ(name("eu-west", "qwen"), "round_robin");
  EXPECT_EQ(name("us-east", "qwen"), "round_robin");  // first matching rule wins
  EXPECT_EQ(name("us-east", "llama"), "least_connections");
  EXPECT_EQ(name("eu-west", "mistral"), "load_aware");  // no rule: the default
  EXPECT_EQ(name("ap-south", "mistral"), "cost_optimized");
  EXPECT_EQ(name("ap-south", "llama"), "load_aware");
  // Pools outside the table (a model or region the config does not list) still follow the rules.
  EXPECT_EQ(name("eu-west", "phi"), "load_aware");
  EXPECT_EQ(name("us-east", "phi"), "least_connections");
  EXPECT_EQ(name("sa-east", "qwen"), "round_robin");
  EXPECT_EQ(name("sa-east", "llama"), "load_aware");
  EXPECT_EQ(name("sa-east", "phi"), "load_aware");
  for (std::string region : {"eu-west", "us-east", "ap-south", "sa-east", ""}) {
    for (std::string model : {"llama", "qwen", "mistral", "phi", ""}) {
      EXPECT_EQ(name(region, model), routing.strategy_for(region, model)) << region << " / " << model;
    }
  }
  // One instance per pool: round robin counters of two pools are independent.
  EXPECT_NE(&router.strategy("eu-west", "qwen"), &router.strategy("us-east", "qwen"));
  EXPECT_NE(&router.strategy("eu-west", "mistral"), &router.strategy("us-east", "mistral"));
  EXPECT_EQ(&router.strategy("eu-west", "qwen"), &router.strategy("eu-west", "qwen"));
}

TEST(RouterPools, UnknownStrategyNamesAreRejected) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  config::RoutingConfig routing;
  routing.default_strategy = "random";
  EXPECT_THROW(Router(registry, clock, routing, {}, {"eu"}, {"m"}), std::invalid_argument);
  routing.default_strategy = "load_aware";
  routing.rules = {{"eu", "m", "fastest"}};
  EXPECT_THROW(Router(registry, clock, routing, {}, {"eu"}, {"m"}), std::invalid_argument);
}

TEST(RouterPools, RoutesWithThePoolsOwnStrategyIncludingOnFallback) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  Router router(registry, clock, routing_with_rules(), {{"eu-west", {"us-east"}}}, {"eu-west", "us-east"},
                {"llama", "mistral"});
  registry.publish({make_node("eu-1", "eu-west", {"mistral"}), make_node("eu-2", "eu-west", {"mistral"}),
                    make_node("us-1", "us-east", {"mistral", "llama"}), make_node("us-2", "us-east", {"mistral", "llama"}),
                    make_node("us-3", "us-east", {"mistral", "llama"})});
  auto snap = registry.snapshot();
  // eu-west / mistral is load_aware: around the node with a queue.
  snap->find("eu-1")->load->requests_waiting = 3;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(router.route(request("mistral", "eu-west")).node->id, "eu-2");
  // eu-west has no llama node: us-east / llama is least_connections, whatever eu-west's rule says.
  snap->find("us-1")->load->in_flight = 5;
  snap->find("us-2")->load->in_flight = 1;
  snap->find("us-3")->load->in_flight = 3;
  for (int i = 0; i < 4; ++i) {
    auto d = router.route(request("llama", "eu-west"));
    ASSERT_NE(d.node, nullptr);
    EXPECT_EQ(d.node->id, "us-2");
    EXPECT_EQ(d.region, "us-east");
  }
}

TEST(RouterPools, StrictResidencyWithAnEmptyHomeRegionGivesNoNode) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  Router router(registry, clock, config::RoutingConfig{}, {{"eu-west", {"eu-central"}}}, {"eu-west", "eu-central"},
                {"m"});
  registry.publish({make_node("central", "eu-central", {"m"})});
  auto strict = router.route(request("m", "eu-west", true));
  EXPECT_EQ(strict.node, nullptr);
  EXPECT_EQ(strict.region, "");
  EXPECT_EQ(router.route(request("m", "eu-west")).node->id, "central");

  // Home nodes exist but none is routable (unhealthy, draining), ejected or excluded: still none.
  registry::Node sick = make_node("home-sick", "eu-west", {"m"});
  sick.healthy = false;
  registry.publish({sick, make_node("home-draining", "eu-west", {"m"}, registry::NodeState::kDraining),
                    make_node("home-ejected", "eu-west", {"m"}), make_node("home-tried", "eu-west", {"m"}),
                    make_node("central", "eu-central", {"m"})});
  registry.snapshot()->find("home-ejected")->load->ejected_until_ns = clock.now_ns() + 1;
  EXPECT_EQ(router.route(request("m", "eu-west", true, {"home-tried"})).node, nullptr);
  EXPECT_EQ(router.route(request("m", "eu-west", false, {"home-tried"})).node->id, "central");
  EXPECT_EQ(router.route(request("m", "eu-west", true)).node->id, "home-tried");
}

TEST(RouterPools, FallsBackInTheConfiguredOrder) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  Router router(registry, clock, config::RoutingConfig{}, {{"eu-west", {"ap-south", "us-east", "eu-central"}}},
                {"eu-west", "ap-south", "us-east", "eu-central"}, {"m"});
  registry.publish({make_node("us-1", "us-east", {"m"}), make_node("us-2", "us-east", {"m"}),
                    make_node("central", "eu-central", {"m"}), make_node("ap-other", "ap-south", {"other"})});
  auto snap = registry.snapshot();
  // ap-south serves no "m": us-east is next.
  EXPECT_EQ(router.route(request("m", "eu-west")).region, "us-east");
  // us-east all ejected: eu-central.
  snap->find("us-1")->load->ejected_until_ns = clock.now_ns() + std::chrono::nanoseconds(1s).count();
  snap->find("us-2")->load->ejected_until_ns = clock.now_ns() + std::chrono::nanoseconds(1s).count();
  auto d = router.route(request("m", "eu-west"));
  ASSERT_NE(d.node, nullptr);
  EXPECT_EQ(d.node->id, "central");
  EXPECT_EQ(d.region, "eu-central");
  // The ejection ends: back to us-east.
  clock.advance(1s);
  EXPECT_EQ(router.route(request("m", "eu-west")).region, "us-east");
  // us-east's nodes excluded by the request: eu-central again; everything excluded: nothing.
  EXPECT_EQ(router.route(request("m", "eu-west", false, {"us-1", "us-2"})).node->id, "central");
  EXPECT_EQ(router.route(request("m", "eu-west", false, {"us-1", "us-2", "central"})).node, nullptr);
}

/// Sets random loads on every node of the snapshot.
void shuffle_loads(const registry::NodeSnapshot& snap, std::mt19937_64& rng) {
  for (const auto& n : snap.nodes()) {
    auto& load = *n->load;
    load.in_flight = static_cast<std::int64_t>(rng() % 20);
    load.requests_running = static_cast<std::int64_t>(rng() % 20);
    load.requests_waiting = static_cast<std::int64_t>(rng() % 3);
    load.kv_cache_usage_milli = static_cast<std::int64_t>(rng() % 1001);
    load.ewma_latency_us = static_cast<std::int64_t>(1 + rng() % 50'000);
  }
}

// The fast path returns the strategy's pick over the whole pool when that pick is eligible; the
// slow path picks among eligible nodes. Either way, for every strategy: never an ejected or
// excluded node while an eligible one exists, and every eligible node stays reachable.
TEST(RouterPools, NoStrategyEverReturnsAnEjectedOrExcludedNode) {
  for (auto name : scheduler::strategy_names()) {
    cic::testing::FakeClock clock;
    registry::NodeRegistry registry;
    config::RoutingConfig routing;
    routing.default_strategy = std::string(name);
    Router router(registry, clock, routing, {}, {"eu"}, {"m"});
    std::vector<registry::Node> nodes;
    for (int i = 0; i < 12; ++i) nodes.push_back(make_node(std::string("n").append(std::to_string(i)), "eu", {"m"}));
    registry.publish(std::move(nodes));
    auto snap = registry.snapshot();
    const std::int64_t now = clock.now_ns();
    snap->find("n0")->load->ejected_until_ns = now + 1'000;
    snap->find("n5")->load->ejected_until_ns = now + 1'000;
    snap->find("n6")->load->ejected_until_ns = now;  // ends now: eligible
    snap->find("n7")->load->ejected_until_ns = now - 1;
    const std::set<std::string> banned{"n0", "n5", "n3", "n11"};
    std::mt19937_64 rng(7);
    std::set<std::string> seen;
    for (int i = 0; i < 3'000; ++i) {
      if (i % 10 == 0) shuffle_loads(*snap, rng);
      // Idle ejected/excluded nodes look like the best choice to load-based strategies.
      snap->find("n0")->load->in_flight = 0;
      snap->find("n3")->load->in_flight = 0;
      auto r = request("m", "eu", true, {"n3", "n11"});
      const std::string key = std::string("user-").append(std::to_string(i % 97));
      r.hints.affinity_key = key;
      auto d = router.route(r);
      ASSERT_NE(d.node, nullptr) << name;
      EXPECT_EQ(banned.count(d.node->id), 0u) << name << " chose " << d.node->id;
      seen.insert(d.node->id);
    }
    for (const auto& id : seen) EXPECT_EQ(banned.count(id), 0u) << name;
    if (name != "prefix_affinity" && name != "cost_optimized") {  // these may keep to a few nodes
      EXPECT_GE(seen.size(), 3u) << name;
    }
    EXPECT_TRUE(seen.count("n6") || seen.count("n7") || name == "prefix_affinity" || name == "cost_optimized") << name;
  }
}

// Deterministic strategies (argmin with first-position ties) give exactly the old answer: the pick
// among the eligible nodes, whichever path the router took (the fast path when the pick over the
// pool, passing over ejected nodes, is not excluded; the slow path otherwise).
TEST(RouterPools, FastAndSlowPathsAgreeWithPickingAmongEligibleNodes) {
  for (std::string name : {"least_connections", "cost_optimized", "load_aware"}) {
    cic::testing::FakeClock clock;
    registry::NodeRegistry registry;
    config::RoutingConfig routing;
    routing.default_strategy = name;
    Router router(registry, clock, routing, {}, {"eu"}, {"m"});
    auto reference = scheduler::make_strategy(name);
    std::vector<registry::Node> nodes;
    for (int i = 0; i < 16; ++i) {
      auto n = make_node(std::string("n").append(std::to_string(i)), "eu", {"m"});
      n.price_per_hour_micros = 1'000'000 + 10'000 * ((i * 7) % 16);
      n.capacity_tokens_per_sec = 600;
      nodes.push_back(std::move(n));
    }
    registry.publish(std::move(nodes));
    auto snap = registry.snapshot();
    std::mt19937_64 rng(11);
    int differs = 0;  // rounds where an ejected or excluded node is the pool's best
    for (int round = 0; round < 2'000; ++round) {
      shuffle_loads(*snap, rng);
      if (name == "load_aware") {  // distinct scores, so no round-robin among ties
        for (std::size_t i = 0; i < snap->nodes().size(); ++i) {
          snap->nodes()[i]->load->kv_cache_usage_milli =
              static_cast<std::int64_t>(i) * 7 + static_cast<std::int64_t>(rng() % 3) * 200;
        }
      }
      const std::int64_t now = clock.now_ns();
      std::vector<std::string> exclude;
      for (const auto& n : snap->nodes()) {
        n->load->ejected_until_ns = rng() % 4 == 0 ? now + 1 : 0;
        if (rng() % 5 == 0) exclude.push_back(n->id);
      }
      std::vector<const registry::Node*> eligible;
      for (const auto& n : snap->nodes()) {
        if (n->load->ejected_until_ns.load() > now) continue;
        if (std::find(exclude.begin(), exclude.end(), n->id) != exclude.end()) continue;
        eligible.push_back(n.get());
      }
      const registry::Node* expected = eligible.empty() ? nullptr : reference->pick(eligible, {});
      const registry::Node* first = snap->pool("eu", "m").empty() ? nullptr : reference->pick(snap->pool("eu", "m"), {});
      if (first && std::find(eligible.begin(), eligible.end(), first) == eligible.end()) ++differs;
      auto d = router.route(request("m", "eu", true, exclude));
      EXPECT_EQ(d.node, expected) << name << " round " << round;
    }
    EXPECT_GT(differs, 100) << name << ": ejection and exclusion changed the answer often";
  }
}

// Two threads route through one router while a third republishes the table and ejects nodes: every
// decision's node belongs to the snapshot it carries, serves the model, and is not ejected.
TEST(RouterPools, ConcurrentRoutingDuringPublishes) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  Router router(registry, clock, config::RoutingConfig{}, {{"eu", {"us"}}}, {"eu", "us"}, {"m"});
  auto table = [](int generation) {
    std::vector<registry::Node> nodes;
    for (int i = 0; i < 20; ++i) {
      nodes.push_back(make_node(std::string("n").append(std::to_string((generation + i) % 30)), i % 2 ? "eu" : "us", {"m"}));
    }
    return nodes;
  };
  registry.publish(table(0));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<int> bad_ejected{0};
  std::atomic<long> routed{0};
  // Ejections are permanent in this test. A node ejected before a decision began must not be
  // returned by it; one ejected while the decision ran may be (that race is inherent).
  // Held, so a freed NodeLoad's address cannot be reused by a new node and be mistaken for it.
  std::array<std::shared_ptr<registry::NodeLoad>, 16> ejected{};
  std::atomic<int> ejections{0};
  auto worker = [&](int seed) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
    while (!stop.load(std::memory_order_relaxed)) {
      const int ejected_before = ejections.load(std::memory_order_acquire);
      auto d = router.route(request("m", rng() % 2 ? "eu" : "us"));
      if (!d.node) continue;
      ++routed;
      bool found = false;
      for (const auto& n : d.snapshot->nodes()) found = found || n.get() == d.node;
      if (!found || d.node->region != d.region || !d.node->serves("m")) ++bad;
      for (int i = 0; i < ejected_before; ++i) {
        if (ejected[i] == d.node->load) ++bad_ejected;  // written before ejections was released
      }
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  // At least 300 publishes, and on until the workers made decisions among them.
  for (int generation = 1; generation <= 300 || (routed.load() < 2000 && generation < 3'000'000); ++generation) {
    registry.publish(table(generation));
    if (generation % 50 == 0 && ejections.load() < static_cast<int>(ejected.size())) {
      auto snap = registry.snapshot();
      snap->nodes()[0]->load->ejected_until_ns = clock.now_ns() + std::chrono::nanoseconds(1h).count();
      const int n = ejections.load(std::memory_order_relaxed);
      ejected[n] = snap->nodes()[0]->load;
      ejections.store(n + 1, std::memory_order_release);
    }
  }
  stop = true;
  a.join();
  b.join();
  EXPECT_EQ(bad.load(), 0) << "decisions outside their snapshot, region or model";
  EXPECT_EQ(bad_ejected.load(), 0) << "nodes ejected before the decision began";
  EXPECT_GT(routed.load(), 0);
}

TEST(RouterPools, UnhealthyNodesAreNeverChosen) {
  cic::testing::FakeClock clock;
  registry::NodeRegistry registry;
  Router router(registry, clock, config::RoutingConfig{}, {}, {"eu"}, {"m"});
  registry::Node sick = make_node("sick", "eu", {"m"});
  sick.healthy = false;
  registry.publish({sick, make_node("well", "eu", {"m"})});
  registry.snapshot()->find("well")->load->in_flight = 50;  // the sick one looks idle
  for (int i = 0; i < 10; ++i) EXPECT_EQ(router.route(request("m", "eu")).node->id, "well");
}

}  // namespace
}  // namespace cic::router
