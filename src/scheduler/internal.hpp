#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "cic/registry/node.hpp"

namespace cic::scheduler::detail {

/// splitmix64's finaliser: a strong 64-bit mix.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

/// In-flight count of a node, never negative.
inline std::int64_t in_flight(const registry::Node& node) {
  std::int64_t v = node.load->in_flight.load(std::memory_order_relaxed);
  return v < 0 ? 0 : v;
}

/// The ejection cut-off of a scan: a candidate whose NodeLoad::ejected_until_ns is above it is
/// passed over. PickHints::now_ns, or "never" when it is 0 (one comparison per candidate either way).
inline std::int64_t ejection_cutoff(std::int64_t now_ns) {
  return now_ns > 0 ? now_ns : std::numeric_limits<std::int64_t>::max();
}

inline bool ejected(const registry::NodeLoad& load, std::int64_t cutoff) {
  return load.ejected_until_ns.load(std::memory_order_relaxed) > cutoff;
}

/// The candidate with the fewest in flight, first by position on ties, passing over candidates
/// ejected at `now_ns` (if > 0); nullptr when none is left.
const registry::Node* least_in_flight(std::span<const registry::Node* const> candidates, std::int64_t now_ns = 0);

}  // namespace cic::scheduler::detail
