#include <limits>
#include <vector>

#include "cic/scheduler/strategy.hpp"
#include "internal.hpp"

namespace cic::scheduler {

namespace {

static_assert(1000 % kLoadAwareFullKvWeight == 0);
/// load_aware_score() / kLoadAwareFullKvWeight (exact: 1000 is a multiple of it): the same order
/// and the same ties, one multiplication fewer in the scan.
constexpr std::int64_t kRunningUnit = 1000 / kLoadAwareFullKvWeight;

/// The (reduced) score from counters already read: 125 x (4 x waiting + running + in_flight) + kv,
/// negative counters taken as 0 and kv capped at 1000.
inline std::int64_t reduced_score(std::int64_t waiting, std::int64_t running, std::int64_t in_flight, std::int64_t kv) {
  // One test for the usual case: no negative counter, kv within 0..1000 (as unsigned).
  if (((waiting | running | in_flight) < 0) | (static_cast<std::uint64_t>(kv) > 1000)) [[unlikely]] {
    auto non_negative = [](std::int64_t v) { return v < 0 ? 0 : v; };
    waiting = non_negative(waiting);
    running = non_negative(running);
    in_flight = non_negative(in_flight);
    kv = kv < 0 ? 0 : (kv > 1000 ? 1000 : kv);
  }
  return kRunningUnit * (kLoadAwareWaitingWeight * waiting + running + in_flight) + kv;
}

inline std::int64_t reduced_score(const registry::NodeLoad& load) {
  return reduced_score(load.requests_waiting.load(std::memory_order_relaxed),
                       load.requests_running.load(std::memory_order_relaxed),
                       load.in_flight.load(std::memory_order_relaxed),
                       load.kv_cache_usage_milli.load(std::memory_order_relaxed));
}

}  // namespace

std::int64_t load_aware_score(const registry::Node& node) {
  return kLoadAwareFullKvWeight * reduced_score(*node.load);
}

const registry::Node* LoadAwareStrategy::pick(std::span<const registry::Node* const> candidates,
                                              const PickHints& hints) {
  const std::size_t n = candidates.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates[0];
  // One lean pass over the candidates (in a large pool this loop is most of the routing time):
  // each score is read once, and the candidates at the lowest score so far are listed in a
  // per-thread buffer (no allocation once grown), so taking ties in turn needs no second pass and
  // sees the same values as the first. Ejected candidates are passed over.
  const std::int64_t cutoff = detail::ejection_cutoff(hints.now_ns);
  thread_local std::vector<std::size_t> scratch;
  if (scratch.size() < n) scratch.resize(n);
  std::size_t* tied = scratch.data();
  std::int64_t best = std::numeric_limits<std::int64_t>::max();
  std::size_t ties = 0;
  // Memory, not arithmetic, is the cost of a large pool: each candidate's counters are a cache
  // line of their own on the heap. Fetching them 8 candidates ahead of the scan overlaps the
  // misses (one pool of 1,000: p50 2.8 -> 1.8 us in cic-bench-routing).
  constexpr std::size_t kAhead = 8;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(candidates[i + kAhead]->load.get());
    const registry::NodeLoad& load = *candidates[i]->load;
    if (detail::ejected(load, cutoff)) continue;
    const std::int64_t score = reduced_score(load);
    if (score <= best) [[unlikely]] {  // a new lowest score, or a tie: rare past the first few
      if (score < best) {
        best = score;
        ties = 0;
      }
      tied[ties++] = i;
    }
  }
  if (ties == 0) return nullptr;  // every candidate is ejected
  if (ties == 1) return candidates[tied[0]];
  return candidates[tied[next_.fetch_add(1, std::memory_order_relaxed) % ties]];
}

}  // namespace cic::scheduler
