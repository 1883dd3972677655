#include "cic/registry/node_registry.hpp"

namespace cic::registry {

NodeSnapshot::NodeSnapshot(std::vector<std::shared_ptr<const Node>> nodes) : nodes_(std::move(nodes)) {
  for (const auto& node : nodes_) {
    for (const auto& model : node->models) pools_[{node->region, model}].push_back(node.get());
  }
}

const std::vector<const Node*>& NodeSnapshot::pool(const std::string& region, const std::string& model) const {
  auto it = pools_.find({region, model});
  return it == pools_.end() ? empty_ : it->second;
}

const Node* NodeSnapshot::find(const std::string& id) const {
  for (const auto& node : nodes_) {
    if (node->id == id) return node.get();
  }
  return nullptr;
}

NodeRegistry::NodeRegistry() : snapshot_(std::make_shared<const NodeSnapshot>(std::vector<std::shared_ptr<const Node>>{})) {}

void NodeRegistry::publish(std::vector<Node> nodes) {
  auto previous = snapshot();
  std::vector<std::shared_ptr<const Node>> published;
  published.reserve(nodes.size());
  for (auto& node : nodes) {
    if (const Node* old = previous->find(node.id)) node.load = old->load;
    published.push_back(std::make_shared<const Node>(std::move(node)));
  }
  snapshot_.store(std::make_shared<const NodeSnapshot>(std::move(published)), std::memory_order_release);
}

}  // namespace cic::registry
