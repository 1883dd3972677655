#include <random>

#include "cic/scheduler/strategy.hpp"
#include "internal.hpp"

namespace cic::scheduler {

namespace {

/// A per-thread splitmix64 stream, seeded once per thread from random_device.
std::uint64_t next_random() {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  state += detail::kGolden;
  return detail::mix64(state);
}

}  // namespace

const registry::Node* LatencyWeightedStrategy::pick(std::span<const registry::Node* const> candidates,
                                                    const PickHints&) {
  const std::size_t n = candidates.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates[0];
  const std::uint64_t r = next_random();
  // Two distinct indices: a uniform one, and a uniform other one (offset 1..n-1).
  const std::size_t i = static_cast<std::size_t>(r % n);
  const std::size_t j = (i + 1 + static_cast<std::size_t>((r >> 32) % (n - 1))) % n;
  const registry::Node* a = candidates[i];
  const registry::Node* b = candidates[j];
  std::int64_t ewma_a = a->load->ewma_latency_us.load(std::memory_order_relaxed);
  std::int64_t ewma_b = b->load->ewma_latency_us.load(std::memory_order_relaxed);
  if (ewma_a <= 0) ewma_a = ewma_b;
  if (ewma_b <= 0) ewma_b = ewma_a;
  if (ewma_a <= 0) ewma_a = ewma_b = 1;  // neither sampled yet: in-flight decides
  // 128-bit products: an EWMA of minutes times a large in-flight count must not overflow.
  const __int128 score_a = static_cast<__int128>(ewma_a) * (detail::in_flight(*a) + 1);
  const __int128 score_b = static_cast<__int128>(ewma_b) * (detail::in_flight(*b) + 1);
  return score_b < score_a ? b : a;
}

}  // namespace cic::scheduler
