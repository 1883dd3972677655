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

/// True when `a` is strictly cheaper per token than `b`. Known capacity beats unknown; among known
/// ones price_a / cap_a < price_b / cap_b is compared by cross-multiplication (exact, 128-bit);
/// among unknown ones the cheaper hour wins.
bool cheaper(const registry::Node& a, const registry::Node& b) {
  const bool known_a = a.capacity_tokens_per_sec > 0;
  const bool known_b = b.capacity_tokens_per_sec > 0;
  if (known_a != known_b) return known_a;
  if (!known_a) return a.price_per_hour_micros < b.price_per_hour_micros;
  return static_cast<__int128>(a.price_per_hour_micros) * b.capacity_tokens_per_sec <
         static_cast<__int128>(b.price_per_hour_micros) * a.capacity_tokens_per_sec;
}

}  // namespace

const registry::Node* CostOptimizedStrategy::pick(std::span<const registry::Node* const> candidates,
                                                  const PickHints&) {
  const registry::Node* best = nullptr;
  std::int64_t best_load = 0;
  for (const auto* node : candidates) {
    const std::int64_t load = detail::in_flight(*node);
    if (load >= soft_max_in_flight(*node)) continue;  // no headroom
    if (!best || cheaper(*node, *best) || (!cheaper(*best, *node) && load < best_load)) {
      best = node;
      best_load = load;
    }
  }
  return best ? best : detail::least_in_flight(candidates);
}

}  // namespace cic::scheduler
