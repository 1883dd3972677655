#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cic/registry/node.hpp"

namespace cic::registry {

/// Hash of std::string keys that also accepts std::string_view (heterogeneous lookup: finding a
/// key never builds a std::string).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
/// std::string -> V, looked up by std::string_view without allocating.
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

/// An immutable view of the node table. Readers hold a shared_ptr and never lock.
class NodeSnapshot {
 public:
  using Pool = std::vector<const Node*>;

  explicit NodeSnapshot(std::vector<std::shared_ptr<const Node>> nodes);

  /// Every node of the table, whatever its state, in publish order.
  const std::vector<std::shared_ptr<const Node>>& nodes() const { return nodes_; }
  /// The routable nodes (Node::routable(): ready and healthy) in `region` that serve `model`, in
  /// table order. Two hash lookups, no allocation; empty for an unknown region or model. Passive
  /// ejection (NodeLoad::ejected_until_ns) changes without a publish, so callers still check it.
  std::span<const Node* const> pool(std::string_view region, std::string_view model) const;
  /// The node with this id (the first one, were ids repeated), or nullptr. O(1).
  const Node* find(std::string_view id) const;
  /// Region -> model -> routable nodes: every non-empty pool.
  const StringMap<StringMap<Pool>>& pools() const { return pools_; }

 private:
  std::vector<std::shared_ptr<const Node>> nodes_;
  StringMap<StringMap<Pool>> pools_;
  /// Keys view the ids of the nodes held in nodes_, which live as long as this snapshot.
  std::unordered_map<std::string_view, const Node*> by_id_;
};

/// Owns the node table and publishes snapshots atomically. Writers (config load, admin API,
/// health monitor) replace the table; readers on the hot path only load the current snapshot.
class NodeRegistry {
 public:
  NodeRegistry();
  /// The current snapshot. Lock-free and contention-free while nothing is published: one acquire
  /// load of version(), then a copy of this thread's cached handle, whose reference count lives in
  /// a control block of this thread's own (the snapshot's shared count is touched once per thread
  /// per publish, not once per request). Only the first call on a thread after a publish takes a
  /// mutex, to copy the new snapshot's pointer. A thread keeps the last snapshot it saw alive
  /// until its next call after a publish.
  std::shared_ptr<const NodeSnapshot> snapshot() const;
  /// Replaces the table. Nodes whose id already exists keep their live load counters.
  void publish(std::vector<Node> nodes);
  /// Bumped by every publish, after the new snapshot is in place.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<const NodeSnapshot> current() const;

  const std::uint64_t id_;  // unique in the process (an address could be reused by a later registry)
  mutable std::mutex mutex_;
  std::shared_ptr<const NodeSnapshot> current_;  // guarded by mutex_
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace cic::registry
