#include <algorithm>
#include <array>
#include <limits>
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

  /// `counters[i]` is candidates[i]->load.get(), read by the caller's scan.
  bool matches(std::uint64_t fp, std::span<const registry::Node* const> candidates,
               const registry::NodeLoad* const* counters) const {
    if (fp != fingerprint || candidates.size() != nodes.size()) return false;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (candidates[i] != nodes[i] || counters[i] != loads[i].get()) return false;
    }
    return true;
  }
};

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
  std::vector<const registry::NodeLoad*> counters;  // scratch: each candidate's NodeLoad

  /// The ring of `candidates`, whose fingerprint is `fp`; `counters` holds their NodeLoads.
  const Ring& get(std::uint64_t fp, std::span<const registry::Node* const> candidates) {
    const std::size_t home = static_cast<std::size_t>(fp % kSlots);
    ++tick;
    Slot* victim = nullptr;
    for (std::size_t probe = 0; probe < kWindow; ++probe) {
      Slot& slot = slots[(home + probe) % kSlots];
      if (slot.ring && slot.ring->matches(fp, candidates, counters.data())) {
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
  if (hints.affinity_key.empty()) return detail::least_in_flight(candidates, hints.now_ns);
  if (n == 1) return candidates[0];

  // One pass over the candidates reads what the rest needs: the ring cache key (an order-sensitive
  // hash of the candidates' addresses whose terms are independent, so no multiply chain runs
  // through a 1,000-node pool; hits are verified by Ring::matches), each one's NodeLoad address
  // (for that verification) and its in-flight count.
  //
  // The ring is the whole candidate set's; an ejected candidate is passed over on the walk as if
  // its points were not on the ring (exactly the ring of the others) and counts in neither the
  // total nor n, so the answer equals the one over the non-ejected candidates alone.
  constexpr std::int64_t kSkipped = std::numeric_limits<std::int64_t>::max();
  const std::int64_t cutoff = detail::ejection_cutoff(hints.now_ns);
  thread_local RingCache cache;
  auto& loads = cache.loads;
  auto& counters = cache.counters;
  if (loads.size() < n) {
    loads.resize(n);
    counters.resize(n);
  }
  std::uint64_t fp = detail::mix64(n);
  std::uint64_t salt = detail::kGolden;
  std::int64_t total = 0;
  std::size_t live = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const registry::NodeLoad* load = candidates[i]->load.get();
    counters[i] = load;
    fp += detail::mix64(reinterpret_cast<std::uintptr_t>(candidates[i]) ^ salt);
    salt += detail::kGolden;
    if (detail::ejected(*load, cutoff)) {
      loads[i] = kSkipped;
      continue;
    }
    const std::int64_t in_flight = load->in_flight.load(std::memory_order_relaxed);
    loads[i] = in_flight < 0 ? 0 : in_flight;
    total += loads[i];
    ++live;
  }
  if (live == 0) return nullptr;
  const Ring& ring = cache.get(detail::mix64(fp), candidates);
  // A node may take this request while its in-flight is below ceil(c x (total + 1) / n).
  const std::int64_t denominator = kAffinityLoadDen * static_cast<std::int64_t>(live);
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
