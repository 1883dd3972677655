#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "cic/registry/node.hpp"

namespace cic::scheduler {

/// What a strategy may look at besides the candidates.
struct PickHints {
  std::string_view affinity_key;  // prompt prefix or `user`, for affinity strategies
  /// Steady time in ns (as NodeLoad::ejected_until_ns). When > 0, the strategies that scan every
  /// candidate (least_connections, cost_optimized, load_aware, prefix_affinity) pass over the ones
  /// passively ejected at that time (`ejected_until_ns > now_ns`), and return nullptr if all are;
  /// an ejected node is idle, so it would otherwise look like the best choice. round_robin and
  /// latency_weighted do not look. 0: every candidate counts. Router::route sets it.
  std::int64_t now_ns = 0;
};

/// Picks one node among candidates (all routable, all serving the model). Implementations are
/// thread-safe and lock-free: they run on every request on every loop thread. Router::route hands
/// them the snapshot's whole pool and checks the pick for passive ejection and the request's
/// exclusions, then, only if it fails, the eligible nodes alone.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual const registry::Node* pick(std::span<const registry::Node* const> candidates,
                                     const PickHints& hints) = 0;
  virtual const char* name() const = 0;
};

/// The strategy called `name` (one of strategy_names()), or nullptr for an unknown name.
std::unique_ptr<Strategy> make_strategy(std::string_view name);
/// Every name make_strategy() accepts: round_robin, least_connections, latency_weighted,
/// cost_optimized, load_aware, prefix_affinity.
std::span<const std::string_view> strategy_names();
/// The intended default strategy.
inline constexpr std::string_view kDefaultStrategy = "load_aware";

/// Spreads requests evenly in turn.
class RoundRobinStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "round_robin"; }

 private:
  std::atomic<std::uint64_t> next_{0};
};

/// The candidate with the fewest requests in flight (ties broken by position); skips ejected
/// candidates when PickHints::now_ns is set.
class LeastConnectionsStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "least_connections"; }
};

/// Power of two random choices: samples two distinct candidates and keeps the one with the lower
/// `ewma_latency_us x (in_flight + 1)`. A node without a latency sample yet borrows the other's
/// EWMA, so the pair is compared on in-flight alone. Randomness comes from a per-thread generator
/// (no shared state), so the hot path touches only the two sampled nodes' counters.
class LatencyWeightedStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "latency_weighted"; }
};

/// Requests one node is expected to carry at once when NodeLoad::max_in_flight is unset and the
/// capacity is known: capacity_tokens_per_sec / kTokensPerSecPerRequest (an interactive stream
/// decodes at ~30 tokens/s), at least 1.
inline constexpr std::int64_t kTokensPerSecPerRequest = 30;
/// Soft cap when neither NodeLoad::max_in_flight nor the capacity is known.
inline constexpr std::int64_t kDefaultMaxInFlight = 16;
/// The soft cap on in-flight requests used by cost_optimized: NodeLoad::max_in_flight if set
/// (> 0), else derived from the capacity as above, else kDefaultMaxInFlight.
std::int64_t soft_max_in_flight(const registry::Node& node);

/// The cheapest price per token (`price_per_hour_micros / capacity_tokens_per_sec`; an unknown
/// capacity ranks as more expensive than any known one) among candidates with headroom
/// (`in_flight < soft_max_in_flight`). Equal prices go to the fewer in flight, then by position.
/// When every candidate is full: least in flight. Stateless.
class CostOptimizedStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "cost_optimized"; }
};

/// load_aware score weights, in units of "one running request":
/// a request waiting in the engine's queue costs 4 (it will not start until a slot frees, so it
/// delays time-to-first-token far more than a running one slows decoding), a full KV cache costs 8
/// (scaled linearly from kv_cache_usage_milli; near-full caches preempt), a running request and one
/// of this gateway's in-flight requests cost 1 each.
inline constexpr std::int64_t kLoadAwareWaitingWeight = 4;
inline constexpr std::int64_t kLoadAwareFullKvWeight = 8;
/// The load_aware score of a node in thousandths of a running request:
/// 1000 x (4 x waiting + running + in_flight) + 8 x kv_cache_usage_milli (clamped to 0..1000).
std::int64_t load_aware_score(const registry::Node& node);

/// The lowest load_aware_score(); several at the lowest score are taken in turn (round robin).
/// The engine gauges lag by a scrape interval, in_flight does not, so bursts between scrapes still
/// spread. This is the intended default strategy.
class LoadAwareStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "load_aware"; }

 private:
  std::atomic<std::uint64_t> next_{0};
};

/// Bounded-load factor c of prefix_affinity, as the rational kAffinityLoadNum / kAffinityLoadDen
/// = 1.25 ("Consistent Hashing with Bounded Loads", Mirrokni et al. 2017): no node takes a request
/// that would put it above ceil(c x (total in flight + 1) / candidates).
inline constexpr std::int64_t kAffinityLoadNum = 5;
inline constexpr std::int64_t kAffinityLoadDen = 4;
/// Points per node on the hash ring (~10% spread of the key share per node).
inline constexpr int kAffinityVirtualNodes = 100;

/// Bounded-load consistent hashing on PickHints::affinity_key: the key's point on a ring of the
/// candidates' ids (kAffinityVirtualNodes points each, MurmurHash64A, so every gateway replica maps
/// a key to the same node), walking clockwise past nodes already at the load bound. The same key
/// keeps its node; when a node leaves, only its keys move. No key: least connections.
///
/// Rings are built once per candidate set and cached per thread (up to 256 rings, open addressing
/// with LRU replacement within an 8-slot probe window, keyed by the candidates' addresses, verified on every hit against the Node and
/// NodeLoad addresses it was built from; the cache holds those NodeLoads, so a hit cannot be a
/// different node at a reused address). A changed candidate set (publish, retry exclusion) is
/// simply another key. A candidate ejected at PickHints::now_ns keeps the ring: it is passed over on
/// the walk and left out of the load bound, which gives exactly the answer over the others. The
/// hot path is one pass over the candidates (cache key, NodeLoad addresses, in-flight counts), plain
/// reads only; no shared writes at all.
class PrefixAffinityStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints& hints) override;
  const char* name() const override { return "prefix_affinity"; }
};

/// 64-bit MurmurHash64A of `data` (stable across processes and platforms of the same endianness).
std::uint64_t hash64(std::string_view data, std::uint64_t seed = 0);

}  // namespace cic::scheduler
