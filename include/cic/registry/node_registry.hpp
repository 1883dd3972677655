#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cic/registry/node.hpp"

namespace cic::registry {

/// An immutable view of the node table. Readers hold a shared_ptr and never lock.
class NodeSnapshot {
 public:
  explicit NodeSnapshot(std::vector<std::shared_ptr<const Node>> nodes);

  const std::vector<std::shared_ptr<const Node>>& nodes() const { return nodes_; }
  /// Nodes in `region` that serve `model`, whatever their state (callers filter).
  const std::vector<const Node*>& pool(const std::string& region, const std::string& model) const;
  const Node* find(const std::string& id) const;

 private:
  std::vector<std::shared_ptr<const Node>> nodes_;
  std::map<std::pair<std::string, std::string>, std::vector<const Node*>> pools_;
  std::vector<const Node*> empty_;
};

/// Owns the node table and publishes snapshots atomically. Writers (config load, admin API,
/// health monitor) replace the table; readers on the hot path only load the current snapshot.
class NodeRegistry {
 public:
  NodeRegistry();
  std::shared_ptr<const NodeSnapshot> snapshot() const { return snapshot_.load(std::memory_order_acquire); }
  /// Replaces the table. Nodes whose id already exists keep their live load counters.
  void publish(std::vector<Node> nodes);

 private:
  std::atomic<std::shared_ptr<const NodeSnapshot>> snapshot_;
};

}  // namespace cic::registry
