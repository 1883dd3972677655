#include <array>
#include <cstring>

#include "cic/scheduler/strategy.hpp"
#include "internal.hpp"

namespace cic::scheduler {

namespace detail {

const registry::Node* least_in_flight(std::span<const registry::Node* const> candidates, std::int64_t now_ns) {
  const std::int64_t cutoff = ejection_cutoff(now_ns);
  const registry::Node* best = nullptr;
  std::int64_t best_load = 0;
  for (const auto* node : candidates) {
    const registry::NodeLoad& counters = *node->load;
    const std::int64_t load = counters.in_flight.load(std::memory_order_relaxed);
    if (ejected(counters, cutoff)) continue;
    if (!best || load < best_load) {
      best = node;
      best_load = load;
    }
  }
  return best;
}

}  // namespace detail

const registry::Node* RoundRobinStrategy::pick(std::span<const registry::Node* const> candidates,
                                               const PickHints&) {
  if (candidates.empty()) return nullptr;
  return candidates[next_.fetch_add(1, std::memory_order_relaxed) % candidates.size()];
}

const registry::Node* LeastConnectionsStrategy::pick(std::span<const registry::Node* const> candidates,
                                                     const PickHints& hints) {
  return detail::least_in_flight(candidates, hints.now_ns);
}

namespace {

constexpr std::array<std::string_view, 6> kNames{"round_robin",    "least_connections", "latency_weighted",
                                                 "cost_optimized", "load_aware",        "prefix_affinity"};

}  // namespace

std::span<const std::string_view> strategy_names() { return kNames; }

std::unique_ptr<Strategy> make_strategy(std::string_view name) {
  if (name == "round_robin") return std::make_unique<RoundRobinStrategy>();
  if (name == "least_connections") return std::make_unique<LeastConnectionsStrategy>();
  if (name == "latency_weighted") return std::make_unique<LatencyWeightedStrategy>();
  if (name == "cost_optimized") return std::make_unique<CostOptimizedStrategy>();
  if (name == "load_aware") return std::make_unique<LoadAwareStrategy>();
  if (name == "prefix_affinity") return std::make_unique<PrefixAffinityStrategy>();
  return nullptr;
}

std::uint64_t hash64(std::string_view data, std::uint64_t seed) {
  // MurmurHash64A (Austin Appleby, public domain), little-endian block reads.
  constexpr std::uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  const std::size_t len = data.size();
  std::uint64_t h = seed ^ (static_cast<std::uint64_t>(len) * m);
  const char* p = data.data();
  const char* end = p + (len / 8) * 8;
  for (; p != end; p += 8) {
    std::uint64_t k;
    std::memcpy(&k, p, 8);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(p);
  switch (len & 7) {
    case 7: h ^= static_cast<std::uint64_t>(tail[6]) << 48; [[fallthrough]];
    case 6: h ^= static_cast<std::uint64_t>(tail[5]) << 40; [[fallthrough]];
    case 5: h ^= static_cast<std::uint64_t>(tail[4]) << 32; [[fallthrough]];
    case 4: h ^= static_cast<std::uint64_t>(tail[3]) << 24; [[fallthrough]];
    case 3: h ^= static_cast<std::uint64_t>(tail[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint64_t>(tail[1]) << 8; [[fallthrough]];
    case 1:
      h ^= static_cast<std::uint64_t>(tail[0]);
      h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

}  // namespace cic::scheduler
