#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/scheduler/strategy.hpp"

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

/// Region choice then strategy choice, against the registry's current snapshot. Lock-free;
/// callable from any thread.
class Router {
 public:
  /// `fallbacks`: region -> other regions in order of proximity.
  Router(const registry::NodeRegistry& registry, scheduler::Strategy& strategy, const Clock& clock,
         std::map<std::string, std::vector<std::string>> fallbacks);

  /// The node to use, or an empty decision (node == nullptr) when no eligible node exists.
  RouteDecision route(const RouteRequest& request) const;

 private:
  bool eligible(const registry::Node& node, const RouteRequest& request, std::int64_t now_ns) const;

  const registry::NodeRegistry& registry_;
  scheduler::Strategy& strategy_;
  const Clock& clock_;
  std::map<std::string, std::vector<std::string>> fallbacks_;
};

}  // namespace cic::router
