// What routing adds to a request: Router::route end to end (snapshot load, pool lookup by region
// and model, the pool's own strategy picking straight from the snapshot's pool, the ejection and
// exclusion check of the pick, fallback) against a registry of 1,000 nodes, for every strategy.
// The router is built as the gateway builds it: from a routing config (default_strategy = the
// strategy under test), one strategy instance per (region, model) pool.
//
// Layouts: (a) 4 regions x 5 models, each node serving one model: 20 pools of 50 nodes; (b) one
// pool of all 1,000 nodes (the worst case for strategies that scan every candidate); (c) layout
// (b) with 10 nodes passively ejected (idle, so load-based strategies often pick one first and the
// router takes its slow path: filter the pool, pick again). "router only" is a strategy that
// takes the first candidate: the cost of Router::route itself.
//
// Calls are timed one by one with steady_clock (the timer's own cost, "timer floor", is printed
// and included in every figure); a warm-up of a tenth of the calls is discarded. Between calls
// (untimed) the chosen node's in-flight is raised and the oldest of the thread's last 256
// decisions released, and every 16 calls one node's engine gauges and latency EWMA drift, so
// load-dependent strategies see moving counters. With 2 threads both share one Router and one
// registry, as the gateway's event-loop threads do; their samples are pooled.
//
// Usage: cic-bench-routing [decisions per row = 200000] [max threads = 2] [strategy: only that one]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/config/config.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/router/router.hpp"
#include "cic/scheduler/strategy.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double percentile(const std::vector<double>& sorted, double p) {
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
constexpr int kModels = 5;
constexpr int kNodes = 1'000;

std::string model_name(int m) { return std::string("model-").append(std::to_string(m)); }

struct Layout {
  const char* title;
  bool single_pool;
  int ejected;  // nodes passively ejected for the whole run
};

/// 1,000 nodes: spread over 4 regions x 5 models (one model each), or all in one pool.
std::vector<cic::registry::Node> make_nodes(bool single_pool, std::mt19937_64& rng) {
  std::vector<cic::registry::Node> nodes;
  for (int i = 0; i < kNodes; ++i) {
    cic::registry::Node n;
    n.id = std::string("node-").append(std::to_string(i));
    n.provider = i % 3 ? "aws" : "gcp";
    n.region = single_pool ? kRegions[0] : kRegions[i % 4];
    n.endpoint = "http://10.0.0.1:8000";
    n.address = {"http", "10.0.0.1", 8000};
    n.models = {single_pool ? model_name(0) : model_name((i / 4) % kModels)};
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

struct Req {
  std::string region, model, key;
};

struct ThreadResult {
  std::vector<double> ns;
  std::size_t routed = 0;
  std::size_t bad = 0;  // an ejected node chosen
};

/// One thread's share: `warmup` untimed-for-the-record calls, then `iterations` timed ones.
void drive(const cic::router::Router& router, const cic::registry::NodeSnapshot& snapshot, const std::vector<Req>& requests,
           int warmup, int iterations, std::uint64_t seed, std::int64_t now_ns, ThreadResult& out) {
  std::mt19937_64 rng(seed);
  std::deque<const cic::registry::Node*> held;
  cic::router::RouteRequest request;
  out.ns.reserve(static_cast<std::size_t>(iterations));
  const std::size_t offset = static_cast<std::size_t>(seed % requests.size());
  for (int i = 0; i < warmup + iterations; ++i) {
    const Req& r = requests[(offset + static_cast<std::size_t>(i)) % requests.size()];
    request.region = r.region;
    request.model = r.model;
    request.hints.affinity_key = r.key;
    const auto start = Clock::now();
    auto decision = router.route(request);
    const auto end = Clock::now();
    if (i >= warmup) {
      out.ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
      if (decision.node) ++out.routed;
    }
    if (!decision.node) continue;
    if (decision.node->load->ejected_until_ns.load(std::memory_order_relaxed) > now_ns) ++out.bad;
    decision.node->load->in_flight.fetch_add(1, std::memory_order_relaxed);
    held.push_back(decision.node);
    if (held.size() > 256) {
      held.front()->load->in_flight.fetch_sub(1, std::memory_order_relaxed);
      held.pop_front();
    }
    if (i % 16 == 0) drift(*snapshot.nodes()[rng() % snapshot.nodes().size()], rng);
  }
  for (const auto* node : held) node->load->in_flight.fetch_sub(1, std::memory_order_relaxed);
}

double timer_floor_ns() {
  std::vector<double> ns;
  for (int i = 0; i < 100'000; ++i) {
    const auto a = Clock::now();
    const auto b = Clock::now();
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count()));
  }
  std::sort(ns.begin(), ns.end());
  return percentile(ns, 0.5);
}

struct Summary {
  int failures = 0;
  double load_aware_p99_a = -1, load_aware_p99_b = -1;  // < 0: not measured
};

void run_layout(const Layout& layout, int iterations, int max_threads, const std::string& only, Summary& summary) {
  std::mt19937_64 rng(42);
  cic::SystemClock clock;
  cic::registry::NodeRegistry registry;
  registry.publish(make_nodes(layout.single_pool, rng));
  auto snapshot = registry.snapshot();
  for (const auto& n : snapshot->nodes()) drift(*n, rng);
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  for (int e = 0; e < layout.ejected; ++e) {
    snapshot->nodes()[static_cast<std::size_t>(e) * (kNodes / layout.ejected)]->load->ejected_until_ns.store(
        now_ns + std::chrono::nanoseconds(std::chrono::hours(1)).count());
  }

  cic::router::Router::Fallbacks fallbacks;
  std::vector<std::string> regions, models;
  for (const char* r : kRegions) {
    regions.emplace_back(r);
    for (const char* other : kRegions) {
      if (std::string(r) != other) fallbacks[r].push_back(other);
    }
  }
  for (int m = 0; m < kModels; ++m) models.push_back(model_name(m));

  // The same request stream for every strategy: region, model, and one of 10,000 affinity keys.
  std::vector<Req> requests;
  for (int i = 0; i < 4'096; ++i) {
    Req r;
    r.region = layout.single_pool ? kRegions[0] : kRegions[rng() % 4];
    r.model = layout.single_pool ? model_name(0) : model_name(static_cast<int>(rng() % kModels));
    r.key = std::string("user-").append(std::to_string(rng() % 10'000));
    requests.push_back(std::move(r));
  }

  std::vector<std::string> names{"router only"};
  for (auto name : cic::scheduler::strategy_names()) names.emplace_back(name);

  for (const auto& name : names) {
    if (!only.empty() && name != only) continue;
    for (int threads = 1; threads <= max_threads; ++threads) {
      for (const auto& n : snapshot->nodes()) n->load->in_flight.store(0, std::memory_order_relaxed);
      FirstCandidate first;
      cic::config::RoutingConfig routing;
      routing.default_strategy = name == "router only" ? std::string(cic::scheduler::kDefaultStrategy) : name;
      std::unique_ptr<cic::router::Router> router =
          name == "router only" ? std::make_unique<cic::router::Router>(registry, first, clock, fallbacks)
                                : std::make_unique<cic::router::Router>(registry, clock, routing, fallbacks, regions, models);
      const int each = iterations / threads;
      std::vector<ThreadResult> results(static_cast<std::size_t>(threads));
      std::atomic<int> ready{0};
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          ready.fetch_add(1);
          while (ready.load() < threads) {
          }
          drive(*router, *snapshot, requests, each / 10, each, 1'000 + static_cast<std::uint64_t>(t) * 7'919, now_ns,
                results[static_cast<std::size_t>(t)]);
        });
      }
      for (auto& th : pool) th.join();
      std::vector<double> ns;
      std::size_t routed = 0, bad = 0;
      for (auto& r : results) {
        ns.insert(ns.end(), r.ns.begin(), r.ns.end());
        routed += r.routed;
        bad += r.bad;
      }
      std::sort(ns.begin(), ns.end());
      const double p99 = percentile(ns, 0.99);
      std::printf("  %-34s %-18s %7d %8.0f %8.0f %8.0f %9.0f %9zu%s\n", layout.title, name.c_str(), threads,
                  percentile(ns, 0.50), p99, percentile(ns, 0.999), ns.back(), routed,
                  bad ? "  EJECTED NODE CHOSEN" : "");
      if (routed != ns.size() || bad) ++summary.failures;
      if (name == cic::scheduler::kDefaultStrategy && threads == 1 && layout.ejected == 0) {
        (layout.single_pool ? summary.load_aware_p99_b : summary.load_aware_p99_a) = p99;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200'000;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const std::string only = argc > 3 ? argv[3] : "";
  std::printf("cic-bench-routing: Router::route end to end, 1,000 nodes, ns per decision (%d timed decisions per row "
              "after %d warm-up; timer floor %.0f ns, included)\n",
              iterations, iterations / 10, timer_floor_ns());
  std::printf("  %-34s %-18s %7s %8s %8s %8s %9s %9s\n", "layout", "strategy", "threads", "p50", "p99", "p99.9", "max",
              "routed");
  const Layout layouts[] = {
      {"(a) 4 regions x 5 models, 50/pool", false, 0},
      {"(b) one pool of 1,000", true, 0},
      {"(c) = (b) with 10 nodes ejected", true, 10},
  };
  Summary summary;
  for (const auto& layout : layouts) run_layout(layout, iterations, max_threads, only, summary);
  if (summary.load_aware_p99_a >= 0 && summary.load_aware_p99_b >= 0) {
    std::printf("  target p99 < 5,000 ns for %s, 1 thread: layout (a) %.0f ns %s, layout (b) %.0f ns %s\n",
                std::string(cic::scheduler::kDefaultStrategy).c_str(), summary.load_aware_p99_a,
                summary.load_aware_p99_a < 5'000 ? "met" : "MISSED", summary.load_aware_p99_b,
                summary.load_aware_p99_b < 5'000 ? "met" : "MISSED");
  }
  return summary.failures == 0 ? 0 : 1;
}
