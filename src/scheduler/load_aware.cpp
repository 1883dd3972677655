#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "internal.hpp"

namespace cic::scheduler {

std::int64_t load_aware_score(const registry::Node& node) {
  const registry::NodeLoad& load = *node.load;
  auto non_negative = [](std::int64_t v) { return v < 0 ? 0 : v; };
  const std::int64_t waiting = non_negative(load.requests_waiting.load(std::memory_order_relaxed));
  const std::int64_t running = non_negative(load.requests_running.load(std::memory_order_relaxed));
  std::int64_t kv = non_negative(load.kv_cache_usage_milli.load(std::memory_order_relaxed));
  if (kv > 1000) kv = 1000;
  return 1000 * (kLoadAwareWaitingWeight * waiting + running + detail::in_flight(node)) + kLoadAwareFullKvWeight * kv;
}

const registry::Node* LoadAwareStrategy::pick(std::span<const registry::Node* const> candidates, const PickHints&) {
  const std::size_t n = candidates.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates[0];
  // Scores are read once into a per-thread buffer (no allocation once grown) so the tie pass sees
  // the same values as the first.
  thread_local std::vector<std::int64_t> scratch;
  if (scratch.size() < n) scratch.resize(n);
  std::int64_t* scores = scratch.data();
  std::int64_t best = 0;
  std::size_t ties = 0;
  for (std::size_t i = 0; i < n; ++i) {
    scores[i] = load_aware_score(*candidates[i]);
    if (i == 0 || scores[i] < best) {
      best = scores[i];
      ties = 1;
    } else if (scores[i] == best) {
      ++ties;
    }
  }
  std::size_t wanted = ties == 1 ? 0 : static_cast<std::size_t>(next_.fetch_add(1, std::memory_order_relaxed) % ties);
  for (std::size_t i = 0; i < n; ++i) {
    if (scores[i] == best && wanted-- == 0) return candidates[i];
  }
  return candidates[0];  // unreachable: `ties` lowest scores exist
}

}  // namespace cic::scheduler
