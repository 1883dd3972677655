// What routing adds to a request: Router::route (snapshot load, region pool lookup, eligibility
// filter, Strategy::pick) against a registry of 1,000 nodes in 4 regions serving 10 models (two
// models per node, so ~50 nodes per region x model pool), once per strategy. Calls are timed one
// by one; between calls (untimed) the chosen node's in-flight is raised and the oldest of the last
// 256 decisions released, and engine gauges / latency EWMAs drift, so load-dependent strategies
// see moving counters. A second scenario routes over one pool of all 1,000 nodes (the worst case
// for strategies that scan every candidate). "router only" is a strategy that takes the first
// candidate: the cost of Router::route itself.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/router/router.hpp"
#include "cic/scheduler/strategy.hpp"

namespace {

double percentile(std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

class FirstCandidate final : public cic::scheduler::Strategy {
 public:
  const cic::registry::Node* pick(std::span<const cic::registry::Node* const> candidates,
                                  const cic::scheduler::PickHints&) override {
    return candidates.empty() ? nullptr : candidates[0];
  }
  const char* name() const override { return "router only"; }
};

const char* kRegions[] = {"us-east", "us-west", "eu-west", "ap-south"};
constexpr int kModels = 10;
constexpr int kNodes = 1'000;

std::string model_name(int m) { return std::string("model-").append(std::to_string(m)); }

/// 1,000 nodes; `single_pool`: all in us-east serving model-0.
std::vector<cic::registry::Node> make_nodes(bool single_pool, std::mt19937_64& rng) {
  std::vector<cic::registry::Node> nodes;
  for (int i = 0; i < kNodes; ++i) {
    cic::registry::Node n;
    n.id = std::string("node-").append(std::to_string(i));
    n.provider = i % 3 ? "aws" : "gcp";
    n.region = single_pool ? kRegions[0] : kRegions[i % 4];
    n.endpoint = "http://10.0.0.1:8000";
    n.address = {"http", "10.0.0.1", 8000};
    if (single_pool) {
      n.models = {model_name(0)};
    } else {
      n.models = {model_name((i / 4) % kModels), model_name((i / 4 + 3) % kModels)};
    }
    n.spot = i % 5 == 0;
    n.price_per_hour_micros = 1'000'000 + static_cast<std::int64_t>(rng() % 9'000'000);
    n.capacity_tokens_per_sec = i % 17 == 0 ? 0 : 500 + static_cast<std::int64_t>(rng() % 4'000);
    nodes.push_back(std::move(n));
  }
  return nodes;
}

void drift(const cic::registry::Node& node, std::mt19937_64& rng) {
  auto& load = *node.load;
  load.requests_running.store(static_cast<std::int64_t>(rng() % 64), std::memory_order_relaxed);
  load.requests_waiting.store(rng() % 4 == 0 ? static_cast<std::int64_t>(rng() % 8) : 0, std::memory_order_relaxed);
  load.kv_cache_usage_milli.store(static_cast<std::int64_t>(rng() % 1001), std::memory_order_relaxed);
  cic::registry::record_latency(load, std::chrono::microseconds(20'000 + rng() % 400'000));
}

int run(const char* scenario, bool single_pool, int iterations) {
  std::mt19937_64 rng(42);
  cic::SystemClock clock;
  cic::registry::NodeRegistry registry;
  registry.publish(make_nodes(single_pool, rng));
  auto snapshot = registry.snapshot();
  for (const auto& n : snapshot->nodes()) drift(*n, rng);
  std::map<std::string, std::vector<std::string>> fallbacks;
  for (const char* r : kRegions) {
    for (const char* other : kRegions) {
      if (std::string(r) != other) fallbacks[r].push_back(other);
    }
  }

  // The same request stream for every strategy: region, model, and one of 10,000 affinity keys.
  struct Req {
    std::string region, model, key;
  };
  std::vector<Req> requests;
  for (int i = 0; i < 4'096; ++i) {
    Req r;
    r.region = single_pool ? kRegions[0] : kRegions[rng() % 4];
    r.model = single_pool ? model_name(0) : model_name(static_cast<int>(rng() % kModels));
    r.key = std::string("user-").append(std::to_string(rng() % 10'000));
    requests.push_back(std::move(r));
  }

  std::printf("%s: %d Router::route calls per strategy, %zu nodes\n", scenario, iterations, snapshot->nodes().size());
  std::vector<std::unique_ptr<cic::scheduler::Strategy>> strategies;
  strategies.push_back(std::make_unique<FirstCandidate>());
  for (auto name : cic::scheduler::strategy_names()) strategies.push_back(cic::scheduler::make_strategy(name));

  int failures = 0;
  for (auto& strategy : strategies) {
    for (const auto& n : snapshot->nodes()) n->load->in_flight.store(0, std::memory_order_relaxed);
    cic::router::Router router(registry, *strategy, clock, fallbacks);
    std::deque<const cic::registry::Node*> held;
    std::vector<double> ns;
    ns.reserve(static_cast<std::size_t>(iterations));
    std::size_t routed = 0;
    cic::router::RouteRequest request;
    for (int i = 0; i < iterations; ++i) {
      const Req& r = requests[static_cast<std::size_t>(i) % requests.size()];
      request.region = r.region;
      request.model = r.model;
      request.hints.affinity_key = r.key;
      auto start = std::chrono::steady_clock::now();
      auto decision = router.route(request);
      auto end = std::chrono::steady_clock::now();
      ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
      if (!decision.node) continue;
      ++routed;
      decision.node->load->in_flight.fetch_add(1, std::memory_order_relaxed);
      held.push_back(decision.node);
      if (held.size() > 256) {
        held.front()->load->in_flight.fetch_sub(1, std::memory_order_relaxed);
        held.pop_front();
      }
      if (i % 16 == 0) drift(*snapshot->nodes()[rng() % snapshot->nodes().size()], rng);
    }
    std::sort(ns.begin(), ns.end());
    std::printf("  %-18s p50 %6.2f us  p90 %6.2f us  p99 %6.2f us  p99.9 %6.2f us  max %8.2f us  (%zu routed)\n",
                strategy->name(), percentile(ns, 0.50) / 1000, percentile(ns, 0.90) / 1000, percentile(ns, 0.99) / 1000,
                percentile(ns, 0.999) / 1000, ns.back() / 1000, routed);
    if (routed != static_cast<std::size_t>(iterations)) ++failures;
  }
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200'000;
  int failures = run("4 regions x 10 models (~50 nodes per pool)", false, iterations);
  failures += run("one pool of 1,000 nodes", true, iterations);
  return failures == 0 ? 0 : 1;
}
