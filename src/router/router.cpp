#include "cic/router/router.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "cic/config/config.hpp"

namespace cic::router {

namespace {

registry::StringMap<std::vector<std::string>> to_string_map(Router::Fallbacks fallbacks) {
  registry::StringMap<std::vector<std::string>> out;
  for (auto& [region, others] : fallbacks) out.emplace(region, std::move(others));
  return out;
}

}  // namespace

Router::Router(const registry::NodeRegistry& registry, const Clock& clock, const config::RoutingConfig& routing,
               Fallbacks fallbacks, const std::vector<std::string>& regions, const std::vector<std::string>& models)
    : registry_(registry), clock_(clock) {
  // Every region and model the config names; "" is not a name (rules use it as "any").
  std::set<std::string> region_set(regions.begin(), regions.end());
  std::set<std::string> model_set(models.begin(), models.end());
  for (const auto& [region, others] : fallbacks) {
    region_set.insert(region);
    region_set.insert(others.begin(), others.end());
  }
  for (const auto& rule : routing.rules) {
    region_set.insert(rule.region);
    model_set.insert(rule.model);
  }
  region_set.erase("");
  model_set.erase("");

  auto make = [&](const std::string& region, const std::string& model) {
    const std::string& name = routing.strategy_for(region, model);
    auto strategy = scheduler::make_strategy(name);
    if (!strategy) throw std::invalid_argument("routing: unknown strategy \"" + name + "\"");
    owned_.push_back(std::move(strategy));
    return owned_.back().get();
  };
  // strategy_for(region, "") applies exactly the rules whose model is empty (any model): the
  // strategy of a model no rule names. Likewise for regions.
  for (const auto& region : region_set) {
    RegionStrategies& entry = table_[region];
    for (const auto& model : model_set) entry.models.emplace(model, make(region, model));
    entry.other = make(region, "");
  }
  for (const auto& model : model_set) other_region_.models.emplace(model, make("", model));
  other_region_.other = make("", "");
  fallbacks_ = to_string_map(std::move(fallbacks));
}

Router::Router(const registry::NodeRegistry& registry, scheduler::Strategy& strategy, const Clock& clock,
               Fallbacks fallbacks)
    : registry_(registry), clock_(clock), fallbacks_(to_string_map(std::move(fallbacks))) {
  other_region_.other = &strategy;
}

scheduler::Strategy& Router::strategy(std::string_view region, std::string_view model) const {
  auto r = table_.find(region);
  const RegionStrategies& entry = r == table_.end() ? other_region_ : r->second;
  if (entry.models.empty()) return *entry.other;
  auto m = entry.models.find(model);
  return m == entry.models.end() ? *entry.other : *m->second;
}

bool Router::try_region(const registry::NodeSnapshot& snapshot, const std::string& region,
                        const RouteRequest& request, const scheduler::PickHints& hints, RouteDecision& decision) const {
  const auto pool = snapshot.pool(region, request.model);
  if (pool.empty()) return false;

  auto eligible = [&](const registry::Node& node) {
    if (node.load->ejected_until_ns.load(std::memory_order_relaxed) > hints.now_ns) return false;
    return request.exclude.empty() ||
           std::find(request.exclude.begin(), request.exclude.end(), node.id) == request.exclude.end();
  };

  scheduler::Strategy& strategy = this->strategy(region, request.model);
  // Fast path: pick from the pool itself (scanning strategies already pass over ejected nodes,
  // see PickHints::now_ns) and check the pick alone.
  const registry::Node* node = strategy.pick(pool, hints);
  if (!node || !eligible(*node)) {
    // Slow path: the pick is ejected or excluded (or every node is ejected); pick again among the
    // eligible nodes only. One buffer per thread, reused: a pool can hold hundreds of nodes.
    thread_local std::vector<const registry::Node*> candidates;
    candidates.clear();
    candidates.reserve(pool.size());
    for (const auto* candidate : pool) {
      if (eligible(*candidate)) candidates.push_back(candidate);
    }
    if (candidates.empty()) return false;
    node = strategy.pick(candidates, hints);
    if (!node) return false;
  }
  decision.node = node;
  decision.region = region;
  return true;
}

RouteDecision Router::route(const RouteRequest& request) const {
  RouteDecision decision;
  decision.snapshot = registry_.snapshot();
  const registry::NodeSnapshot& snapshot = *decision.snapshot;
  scheduler::PickHints hints = request.hints;
  hints.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch()).count();
  if (try_region(snapshot, request.region, request, hints, decision) || request.strict_residency) return decision;
  if (auto it = fallbacks_.find(request.region); it != fallbacks_.end()) {
    for (const auto& region : it->second) {
      if (try_region(snapshot, region, request, hints, decision)) return decision;
    }
  }
  return decision;
}

}  // namespace cic::router
