#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "cic/common/clock.hpp"
#include "cic/registry/node.hpp"

namespace cic::registry {

struct HealthPolicyOptions {
  /// This many failures in a row (no success in between) eject a node.
  int consecutive_failures_to_eject = 3;
  /// The k-th ejection in a row lasts min(eject_base x 2^(k-1), eject_max).
  std::chrono::nanoseconds eject_base = std::chrono::seconds(5);
  std::chrono::nanoseconds eject_max = std::chrono::seconds(60);
  /// At most this share of a pool may be ejected at once (see HealthPolicy::record_failure).
  double max_ejected_share = 0.5;
  /// The backoff starts again from eject_base once a node has gone this long since its last
  /// ejection ended without being ejected again.
  std::chrono::nanoseconds backoff_reset_after = std::chrono::seconds(60);
};

/// Outcomes kept per node for percentiles, error rate and tokens/s: the last kHealthWindow.
inline constexpr std::size_t kHealthWindow = 256;

/// One node's health, for metrics and the admin API.
struct NodeHealthSnapshot {
  std::string node_id;
  std::int64_t ewma_latency_us = 0;  // NodeLoad::ewma_latency_us; 0 = no sample
  /// Nearest-rank percentiles of the successful latencies in the window; 0 when there are none.
  std::int64_t p50_us = 0;
  std::int64_t p95_us = 0;
  std::int64_t p99_us = 0;
  std::size_t window_samples = 0;   // outcomes in the window (<= kHealthWindow)
  std::size_t window_failures = 0;  // of which failures
  std::size_t window_timeouts = 0;  // of which timeouts
  double error_rate = 0;            // window_failures / window_samples; 0 when empty
  /// Sum of reported tokens / sum of the latencies of the successes that reported tokens.
  double tokens_per_sec = 0;
  int consecutive_failures = 0;
  int backoff_level = 0;             // ejections since the backoff last reset
  std::uint64_t ejections = 0;       // by this policy, ever
  std::uint64_t ejections_refused = 0;  // withheld by the pool share cap, ever
  bool ejected = false;
  std::int64_t ejected_until_ns = 0;
  double score = 1;  // health_score(); see HealthPolicy::health_score
};

/// Passive outlier detection and per-node health statistics, fed by the forwarder with the outcome
/// of every attempt. Thread-safe: each node's state has its own small mutex (held for a few
/// hundred nanoseconds at most), the node table a shared_mutex taken exclusively only the first
/// time a node is seen, and the ejection decision one policy-wide mutex taken only when a node
/// reaches the failure threshold. Ejection is published in `NodeLoad::ejected_until_ns` (steady
/// clock ns), which the router already honours; the forwarder's own connect-failure ejection
/// writes the same atomic and counts toward the share cap.
///
/// State is keyed by Node::id; call forget() when a node leaves the registry for good.
class HealthPolicy {
 public:
  using Options = HealthPolicyOptions;
  /// The pool a request was routed in (NodeSnapshot::pool(region, model)).
  using Pool = std::span<const Node* const>;

  explicit HealthPolicy(const Clock& clock, Options options = {});
  ~HealthPolicy();
  HealthPolicy(const HealthPolicy&) = delete;
  HealthPolicy& operator=(const HealthPolicy&) = delete;

  const Options& options() const { return options_; }

  /// A successful attempt: folds `latency` into NodeLoad::ewma_latency_us (record_latency) and the
  /// window, and resets the consecutive-failure count. `tokens` (generated tokens, 0 = unknown)
  /// feeds tokens_per_sec. Does not lift a current ejection.
  void record_success(const Node& node, std::chrono::microseconds latency, std::uint64_t tokens = 0);

  /// A failed attempt (connect error, 5xx, reset; `timeout` marks timeouts). Returns true if this
  /// call ejected the node.
  ///
  /// Failures while the node is ejected are windowed but not counted toward the next ejection
  /// (they are requests sent before it). Once the count reaches consecutive_failures_to_eject, the
  /// node is ejected for min(eject_base x 2^level, eject_max), level = ejections since the backoff
  /// last reset, unless the share cap forbids it:
  ///
  ///   size    = |pool|, plus 1 if `node` is not in `pool` (an empty pool means the node alone);
  ///   ejected = nodes of the pool other than `node` with ejected_until_ns > now (whoever ejected
  ///             them);
  ///   eject only if (ejected + 1) <= floor(max_ejected_share x size).
  ///
  /// So with 4 nodes and share 0.5 two may be ejected and a third is not; a pool of one is never
  /// ejected by this policy at a share below 1. The count and the ejection happen under one mutex,
  /// so concurrent failures cannot both take the last slot. A refused node keeps its count, so its
  /// next failure asks again (a slot may have freed).
  bool record_failure(const Node& node, bool timeout, Pool pool = {});

  /// Health and statistics of `node`. With a non-empty `pool` the score compares the node's EWMA
  /// latency with the pool median; without one the latency term is 1.
  NodeHealthSnapshot stats(const Node& node, Pool pool = {}) const;

  /// health_score() of `node` against `pool` (same rule as stats().score).
  double health_score(const Node& node, Pool pool = {}) const;

  /// The score formula, in [0, 1]:
  ///   0                                   if ejected;
  ///   (1 - error_rate)^2 x speed          otherwise, where
  ///   speed = min(1, pool_median_us / latency_us), or 1 if either is 0 (no sample / no pool).
  /// speed is the node's throughput relative to a median node; errors count squared because a
  /// failed attempt costs its own time plus a retry elsewhere. E.g. a node twice as slow as the
  /// median scores 0.5, one failing 30% of requests 0.49, one failing 50% 0.25.
  static double health_score(bool ejected, double error_rate, std::int64_t latency_us,
                             std::int64_t pool_median_us);

  /// Median of the pool's non-zero EWMA latencies (the lower middle for an even count); 0 if none.
  static std::int64_t pool_median_latency_us(Pool pool);

  /// Drops the state of a node that left the registry.
  void forget(const std::string& node_id);

 private:
  struct Outcome {
    std::int64_t latency_us = 0;  // -1 for a failure
    std::uint32_t tokens = 0;
    bool timeout = false;
  };
  struct State {
    mutable std::mutex mutex;
    std::array<Outcome, kHealthWindow> ring{};
    std::size_t next = 0;
    std::size_t count = 0;
    int consecutive_failures = 0;
    int backoff_level = 0;
    std::int64_t last_ejection_end_ns = 0;
    std::uint64_t ejections = 0;
    std::uint64_t ejections_refused = 0;

    void push(const Outcome& outcome);
  };

  std::shared_ptr<State> state_for(const Node& node);
  std::shared_ptr<const State> find_state(const Node& node) const;
  std::int64_t now_ns() const;
  std::chrono::nanoseconds backoff(int level) const;

  const Clock& clock_;
  Options options_;
  mutable std::shared_mutex table_mutex_;
  std::unordered_map<std::string, std::shared_ptr<State>> states_;
  std::mutex eject_mutex_;
};

}  // namespace cic::registry
