#include "cic/router/router.hpp"

#include <algorithm>

namespace cic::router {

Router::Router(const registry::NodeRegistry& registry, scheduler::Strategy& strategy, const Clock& clock,
               std::map<std::string, std::vector<std::string>> fallbacks)
    : registry_(registry), strategy_(strategy), clock_(clock), fallbacks_(std::move(fallbacks)) {}

bool Router::eligible(const registry::Node& node, const RouteRequest& request, std::int64_t now_ns) const {
  if (node.state != registry::NodeState::kReady) return false;
  if (node.load->ejected_until_ns.load(std::memory_order_relaxed) > now_ns) return false;
  return std::find(request.exclude.begin(), request.exclude.end(), node.id) == request.exclude.end();
}

RouteDecision Router::route(const RouteRequest& request) const {
  RouteDecision decision;
  decision.snapshot = registry_.snapshot();
  std::int64_t now_ns = clock_.now().time_since_epoch().count();

  // One buffer per thread, reused: this runs on every request, and a pool can hold hundreds of
  // nodes.
  thread_local std::vector<const registry::Node*> candidates;
  auto try_region = [&](const std::string& region) {
    const auto& pool = decision.snapshot->pool(region, request.model);
    candidates.clear();
    candidates.reserve(pool.size());
    for (const auto* node : pool) {
      if (eligible(*node, request, now_ns)) candidates.push_back(node);
    }
    if (candidates.empty()) return false;
    decision.node = strategy_.pick(candidates, request.hints);
    decision.region = region;
    return decision.node != nullptr;
  };

  if (try_region(request.region) || request.strict_residency) return decision;
  if (auto it = fallbacks_.find(request.region); it != fallbacks_.end()) {
    for (const auto& region : it->second) {
      if (try_region(region)) return decision;
    }
  }
  return decision;
}

}  // namespace cic::router
