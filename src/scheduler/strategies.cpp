#include "cic/scheduler/strategy.hpp"

namespace cic::scheduler {

const registry::Node* RoundRobinStrategy::pick(std::span<const registry::Node* const> candidates,
                                               const PickHints&) {
  if (candidates.empty()) return nullptr;
  return candidates[next_.fetch_add(1, std::memory_order_relaxed) % candidates.size()];
}

const registry::Node* LeastConnectionsStrategy::pick(std::span<const registry::Node* const> candidates,
                                                     const PickHints&) {
  const registry::Node* best = nullptr;
  std::int64_t best_load = 0;
  for (const auto* node : candidates) {
    std::int64_t load = node->load->in_flight.load(std::memory_order_relaxed);
    if (!best || load < best_load) {
      best = node;
      best_load = load;
    }
  }
  return best;
}

}  // namespace cic::scheduler
