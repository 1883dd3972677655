#pragma once
#include <cstdint>
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

/// The candidate with the fewest in flight, first by position on ties; nullptr when empty.
const registry::Node* least_in_flight(std::span<const registry::Node* const> candidates);

}  // namespace cic::scheduler::detail
