#pragma once
#include <string>
#include <vector>

#include "cic/registry/node.hpp"

namespace cic::testing {

/// A ready node `id` in `region` serving `models`.
inline registry::Node scheduler_node(std::string id, std::string region = "eu",
                                     std::vector<std::string> models = {"m"}) {
  registry::Node n;
  n.id = std::move(id);
  n.provider = "aws";
  n.region = std::move(region);
  n.endpoint = "http://10.0.0.1:8000";
  n.address = {"http", "10.0.0.1", 8000};
  n.models = std::move(models);
  return n;
}

/// `count` nodes n0..n{count-1} and a parallel vector of pointers to them.
struct NodeSet {
  explicit NodeSet(int count) {
    nodes.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) nodes.push_back(scheduler_node(std::string("n").append(std::to_string(i))));
    for (const auto& n : nodes) ptrs.push_back(&n);
  }
  std::size_t index_of(const registry::Node* node) const {
    for (std::size_t i = 0; i < ptrs.size(); ++i) {
      if (ptrs[i] == node) return i;
    }
    return ptrs.size();
  }
  std::vector<registry::Node> nodes;
  std::vector<const registry::Node*> ptrs;
};

}  // namespace cic::testing
