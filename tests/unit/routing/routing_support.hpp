#pragma once
#include <string>
#include <vector>

#include "cic/registry/node.hpp"

namespace cic::testing {

/// A ready node serving `models` in `region`.
inline registry::Node make_node(std::string id, std::string region, std::vector<std::string> models,
                                registry::NodeState state = registry::NodeState::kReady) {
  registry::Node n;
  n.id = std::move(id);
  n.provider = "aws";
  n.region = std::move(region);
  n.endpoint = "http://10.0.0.1:8000";
  n.address = {"http", "10.0.0.1", 8000};
  n.models = std::move(models);
  n.state = state;
  return n;
}

}  // namespace cic::testing
