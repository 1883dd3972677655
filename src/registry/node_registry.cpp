#include "cic/registry/node_registry.hpp"

namespace cic::registry {

NodeSnapshot::NodeSnapshot(std::vector<std::shared_ptr<const Node>> nodes) : nodes_(std::move(nodes)) {
  by_id_.reserve(nodes_.size());
  for (const auto& node : nodes_) {
    by_id_.emplace(node->id, node.get());  // keeps the first of repeated ids
    if (!node->routable()) continue;
    auto& region = pools_[node->region];
    for (const auto& model : node->models) {
      Pool& pool = region[model];
      // A node listing a model twice is still one candidate.
      if (pool.empty() || pool.back() != node.get()) pool.push_back(node.get());
    }
  }
}

std::span<const Node* const> NodeSnapshot::pool(std::string_view region, std::string_view model) const {
  auto r = pools_.find(region);
  if (r == pools_.end()) return {};
  auto m = r->second.find(model);
  if (m == r->second.end()) return {};
  return m->second;
}

const Node* NodeSnapshot::find(std::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

namespace {

std::uint64_t next_registry_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

NodeRegistry::NodeRegistry()
    : id_(next_registry_id()),
      current_(std::make_shared<const NodeSnapshot>(std::vector<std::shared_ptr<const Node>>{})) {}

std::shared_ptr<const NodeSnapshot> NodeRegistry::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::shared_ptr<const NodeSnapshot> NodeRegistry::snapshot() const {
  // One registry per thread is cached (the gateway has one); another one simply reloads.
  struct Cached {
    std::uint64_t registry = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const NodeSnapshot> snapshot;
  };
  thread_local Cached cached;
  // Acquire: a version seen here was bumped after its snapshot was stored, so current() returns
  // that snapshot or a newer one (tagged with an older version, it is merely reloaded next time).
  const std::uint64_t version = version_.load(std::memory_order_acquire);
  if (cached.registry == id_ && cached.version == version) return cached.snapshot;
  // This thread's own handle: it keeps the snapshot alive, and copies of it share a control block
  // that only this thread normally touches.
  auto holder = std::make_shared<const std::shared_ptr<const NodeSnapshot>>(current());
  cached.snapshot = std::shared_ptr<const NodeSnapshot>(holder, holder->get());
  cached.registry = id_;
  cached.version = version;
  return cached.snapshot;
}

void NodeRegistry::publish(std::vector<Node> nodes) {
  auto previous = current();
  std::vector<std::shared_ptr<const Node>> published;
  published.reserve(nodes.size());
  for (auto& node : nodes) {
    if (const Node* old = previous->find(node.id)) node.load = old->load;
    published.push_back(std::make_shared<const Node>(std::move(node)));
  }
  auto next = std::make_shared<const NodeSnapshot>(std::move(published));
  {
    std::lock_guard lock(mutex_);
    current_.swap(next);
  }
  version_.fetch_add(1, std::memory_order_release);
  // `next` now holds the replaced snapshot, released here outside the lock.
}

}  // namespace cic::registry
