#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/scheduler/strategy.hpp"

namespace cic::config {
struct RoutingConfig;
}

namespace cic::router {

struct RouteRequest {
  std::string model;
  std::string region;                   // the environment's region
  bool strict_residency = false;        // never leave `region`
  std::vector<std::string> exclude;     // node ids already tried for this request
  scheduler::PickHints hints;
};

/// A chosen node. `snapshot` keeps `node` alive for as long as the decision is held.
struct RouteDecision {
  std::shared_ptr<const registry::NodeSnapshot> snapshot;
  const registry::Node* node = nullptr;
  std::string region;  // where it landed (differs from the request's on fallback)
};

/// Region choice then strategy choice, against the registry's current snapshot. Lock-free (the
/// strategy table is immutable after construction; strategies are lock-free); callable from any
/// thread.
///
/// Per region tried: the pool's strategy picks straight from the snapshot's pool (routable nodes
/// only, no copy; PickHints::now_ns is set so the scanning strategies pass over ejected nodes);
/// only when the pick is passively ejected or in the request's `exclude` list are the pool's
/// eligible nodes copied into a per-thread buffer and picked from again. So the result is never
/// an ejected or excluded node while an eligible one exists in the region.
class Router {
 public:
  /// region -> other regions in order of proximity (tried in that order, not transitively).
  using Fallbacks = std::map<std::string, std::vector<std::string>>;

  /// One strategy instance per (region, model) pool, made by scheduler::make_strategy from
  /// `routing.strategy_for(region, model)`, built up front for every region of `regions`, of
  /// `fallbacks` (keys and values) and of the routing rules, times every model of `models` and of
  /// the rules. A pool outside that table (a model or region no config names) gets the strategy
  /// strategy_for() gives it too, from instances shared by such pools. Throws
  /// std::invalid_argument for a strategy name make_strategy() does not know.
  Router(const registry::NodeRegistry& registry, const Clock& clock, const config::RoutingConfig& routing,
         Fallbacks fallbacks, const std::vector<std::string>& regions, const std::vector<std::string>& models);

  /// Every pool uses `strategy` (not owned; must outlive the router). For tests and benchmarks.
  Router(const registry::NodeRegistry& registry, scheduler::Strategy& strategy, const Clock& clock,
         Fallbacks fallbacks);

  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  /// The node to use, or an empty decision (node == nullptr) when no eligible node exists.
  RouteDecision route(const RouteRequest& request) const;

  /// The strategy that picks in the pool of `model` in `region`.
  scheduler::Strategy& strategy(std::string_view region, std::string_view model) const;

 private:
  /// The strategies of one region's pools; `other` for a model with no entry.
  struct RegionStrategies {
    registry::StringMap<scheduler::Strategy*> models;
    scheduler::Strategy* other = nullptr;
  };

  bool try_region(const registry::NodeSnapshot& snapshot, const std::string& region, const RouteRequest& request,
                  const scheduler::PickHints& hints, RouteDecision& decision) const;

  const registry::NodeRegistry& registry_;
  const Clock& clock_;
  registry::StringMap<std::vector<std::string>> fallbacks_;
  std::vector<std::unique_ptr<scheduler::Strategy>> owned_;
  registry::StringMap<RegionStrategies> table_;
  RegionStrategies other_region_;  // regions with no entry in table_
};

}  // namespace cic::router
