#include "cic/scheduler/strategy.hpp"
#include "internal.hpp"

namespace cic::scheduler {

std::int64_t soft_max_in_flight(const registry::Node& node) {
  std::int64_t configured = node.load->max_in_flight.load(std::memory_order_relaxed);
  if (configured > 0) return configured;
  if (node.capacity_tokens_per_sec > 0) {
    std::int64_t derived = node.capacity_tokens_per_sec / kTokensPerSecPerRequest;
    return derived < 1 ? 1 : derived;
  }
  return kDefaultMaxInFlight;
}

namespace {

/// A node's price per token as the fraction price_per_hour_micros / capacity_tokens_per_sec.
/// Known capacity beats unknown; among known ones a/b < c/d is compared by cross-multiplication
/// (exact, 128-bit); among unknown ones the cheaper hour wins.
struct Price {
  std::int64_t per_hour = 0;
  std::int64_t capacity = 0;  // <= 0: unknown

  Price() = default;
  explicit Price(const registry::Node& node)
      : per_hour(node.price_per_hour_micros), capacity(node.capacity_tokens_per_sec) {}

  /// < 0 when this is cheaper than `other`, 0 when as cheap, > 0 when dearer.
  int compare(const Price& other) const {
    const bool known = capacity > 0;
    const bool other_known = other.capacity > 0;
    if (known != other_known) return known ? -1 : 1;
    if (!known) return per_hour < other.per_hour ? -1 : (per_hour > other.per_hour ? 1 : 0);
    const __int128 lhs = static_cast<__int128>(per_hour) * other.capacity;
    const __int128 rhs = static_cast<__int128>(other.per_hour) * capacity;
    return lhs < rhs ? -1 : (lhs > rhs ? 1 : 0);
  }
};

}  // namespace

const registry::Node* CostOptimizedStrategy::pick(std::span<const registry::Node* const> candidates,
                                                  const PickHints& hints) {
  const std::int64_t cutoff = detail::ejection_cutoff(hints.now_ns);
  const registry::Node* best = nullptr;
  Price best_price;
  std::int64_t best_load = 0;
  for (const auto* node : candidates) {
    if (detail::ejected(*node->load, cutoff)) continue;
    const std::int64_t load = detail::in_flight(*node);
    if (load >= soft_max_in_flight(*node)) continue;  // no headroom
    const Price price(*node);
    // One comparison (two 128-bit products) per candidate with headroom.
    const int order = best ? price.compare(best_price) : -1;
    if (order < 0 || (order == 0 && load < best_load)) {
      best = node;
      best_price = price;
      best_load = load;
    }
  }
  return best ? best : detail::least_in_flight(candidates, hints.now_ns);
}

}  // namespace cic::scheduler
