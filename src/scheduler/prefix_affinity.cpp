#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "internal.hpp"

namespace cic::scheduler {

namespace {

/// A hash ring over one candidate set, in the candidates' order.
struct Ring {
  std::uint64_t fingerprint = 0;
  std::vector<const registry::Node*> nodes;
  /// Held so that no NodeLoad this ring was built from can be freed and its address reused: a
  /// node at a reused Node address with the same NodeLoad is the same node (same id).
  std::vector<std::shared_ptr<registry::NodeLoad>> loads;
  /// 32-bit ring positions keep a point at 8 bytes (a 50-node ring is 40 KB); equal positions
  /// are ordered by node id.
  struct Point {
    std::uint32_t hash;
    std::uint32_t index;  // into `nodes` / the candidates
  };
  std::vector<Point> points;  // sorted by hash

  bool matches(std::uint64_t fp, std::span<const registry::Node* const> candidates) const {
    if (fp != fingerprint || candidates.size() != nodes.size()) return false;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (candidates[i] != nodes[i] || candidates[i]->load.get() != loads[i].get()) return false;
    }
    return true;
  }
};

std::uint64_t fingerprint(std::span<const registry::Node* const> candidates) {
  std::uint64_t h = candidates.size();
  for (const auto* node : candidates) h = detail::mix64(h ^ reinterpret_cast<std::uintptr_t>(node)) + detail::kGolden;
  return h;
}

std::unique_ptr<Ring> build_ring(std::uint64_t fp, std::span<const registry::Node* const> candidates) {
  auto ring = std::make_unique<Ring>();
  ring->fingerprint = fp;
  ring->nodes.assign(candidates.begin(), candidates.end());
  ring->loads.reserve(candidates.size());
  ring->points.reserve(candidates.size() * kAffinityVirtualNodes);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    ring->loads.push_back(candidates[i]->load);
    const std::uint64_t id_hash = hash64(candidates[i]->id);
    for (int v = 0; v < kAffinityVirtualNodes; ++v) {
      const std::uint64_t point = detail::mix64(id_hash + static_cast<std::uint64_t>(v + 1) * detail::kGolden);
      ring->points.push_back({static_cast<std::uint32_t>(point >> 32), static_cast<std::uint32_t>(i)});
    }
  }
  // Ties (practically never) broken by id, so the ring depends on the set of ids, not their order.
  std::sort(ring->points.begin(), ring->points.end(), [&](const Ring::Point& a, const Ring::Point& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return candidates[a.index]->id < candidates[b.index]->id;
  });
  return ring;
}

/// Per-thread ring cache: 256 slots, open addressing on the candidate-set fingerprint. A set is
/// looked for in the 8 slots from its home slot; on a miss the least recently used of those 8 is
/// replaced by a freshly built ring (~100-300 us for 50 nodes). Enough for every region x model
/// pool of a large deployment plus the retry/ejection subsets of the busy ones, without the
/// thrashing a direct-mapped or 2-way cache shows once a few pools collide.
struct RingCache {
  static constexpr std::size_t kSlots = 256;
  static constexpr std::size_t kWindow = 8;
  struct Slot {
    std::unique_ptr<Ring> ring;
    std::uint64_t last_used = 0;
  };
  std::array<Slot, kSlots> slots;
  std::uint64_t tick = 0;
  std::vector<std::int64_t> loads;  // scratch: in-flight per candidate, read once per pick

  const Ring& get(std::span<const registry::Node* const> candidates) {
    const std::uint64_t fp = fingerprint(candidates);
    const std::size_t home = static_cast<std::size_t>(fp % kSlots);
    ++tick;
    Slot* victim = nullptr;
    for (std::size_t probe = 0; probe < kWindow; ++probe) {
      Slot& slot = slots[(home + probe) % kSlots];
      if (slot.ring && slot.ring->matches(fp, candidates)) {
        slot.last_used = tick;
        return *slot.ring;
      }
      if (!victim || slot.last_used < victim->last_used) victim = &slot;  // empty slots have 0
    }
    victim->ring = build_ring(fp, candidates);
    victim->last_used = tick;
    return *victim->ring;
  }
};

}  // namespace

const registry::Node* PrefixAffinityStrategy::pick(std::span<const registry::Node* const> candidates,
                                                   const PickHints& hints) {
  const std::size_t n = candidates.size();
  if (n == 0) return nullptr;
  if (hints.affinity_key.empty()) return detail::least_in_flight(candidates);
  if (n == 1) return candidates[0];

  thread_local RingCache cache;
  const Ring& ring = cache.get(candidates);

  auto& loads = cache.loads;
  if (loads.size() < n) loads.resize(n);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    loads[i] = detail::in_flight(*candidates[i]);
    total += loads[i];
  }
  // A node may take this request while its in-flight is below ceil(c x (total + 1) / n).
  const std::int64_t denominator = kAffinityLoadDen * static_cast<std::int64_t>(n);
  const std::int64_t bound = (kAffinityLoadNum * (total + 1) + denominator - 1) / denominator;

  const auto key = static_cast<std::uint32_t>(hash64(hints.affinity_key) >> 32);
  auto it = std::lower_bound(ring.points.begin(), ring.points.end(), key,
                             [](const Ring::Point& p, std::uint32_t h) { return p.hash < h; });
  std::size_t pos = static_cast<std::size_t>(it - ring.points.begin());
  for (std::size_t step = 0; step < ring.points.size(); ++step, ++pos) {
    if (pos == ring.points.size()) pos = 0;
    const std::uint32_t index = ring.points[pos].index;
    if (loads[index] < bound) return candidates[index];
  }
  // Not reached: the walk covers every node and the least loaded one is below the bound
  // (min <= total / n < (total + 1) / n <= bound, all on the loads read above). Kept total.
  std::size_t best = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (loads[i] < loads[best]) best = i;
  }
  return candidates[best];
}

}  // namespace cic::scheduler
