#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cic::registry {

enum class NodeState { kLaunching, kReady, kDraining, kDrained, kDead };
const char* to_string(NodeState state);

/// Where a node answers: parsed once from its `http://host:port` endpoint.
struct NodeAddress {
  std::string scheme;  // http | https
  std::string host;
  std::uint16_t port = 0;
};

/// Live counters of one node, shared by every snapshot that contains it, updated lock-free by the
/// gateway threads.
struct alignas(64) NodeLoad {
  // The fields every scan of the load_aware strategy reads come first, on one cache line (the
  // struct is cache-line aligned): in a pool of 1,000 nodes the scan is one line per candidate.
  std::atomic<std::int64_t> in_flight{0};
  /// Until this steady-clock time (ns since epoch) the node is ejected after connection failures.
  std::atomic<std::int64_t> ejected_until_ns{0};
  /// Engine-side load from the node's last /metrics scrape, beyond this gateway's own requests:
  /// `vllm:num_requests_running` / `vllm:num_requests_waiting` less the in_flight of this gateway
  /// when the scrape was taken (registry::apply). What is left is other gateways' traffic (and
  /// what the engine still holds of ours), and lags by the scrape interval; in_flight is this
  /// gateway's live view. Subtracting ours keeps one stale scrape that caught a request of ours
  /// from counting it twice for a whole interval. Read by the load_aware strategy.
  std::atomic<std::int64_t> requests_running{0};
  std::atomic<std::int64_t> requests_waiting{0};
  std::atomic<std::int64_t> kv_cache_usage_milli{0};  // 0..1000, `vllm:kv_cache_usage_perc` x 1000
  /// Exponentially weighted moving average of the node's request latency in microseconds, updated
  /// by record_latency(); 0 means no sample yet. Read by the latency_weighted strategy.
  std::atomic<std::int64_t> ewma_latency_us{0};
  /// Soft cap on concurrent requests for the cost_optimized strategy (a node is "full" once
  /// in_flight reaches it). 0 = derive it from Node::capacity_tokens_per_sec (see
  /// scheduler::soft_max_in_flight). Settable at runtime, e.g. from the engine's max_num_seqs.
  std::atomic<std::int64_t> max_in_flight{0};

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};
  /// The engine's gauges as scraped (all gateways' requests), for the admin API and /metrics.
  std::atomic<std::int64_t> reported_running{0};
  std::atomic<std::int64_t> reported_waiting{0};
};

/// Weight of a new sample in NodeLoad::ewma_latency_us: alpha = 1 / 2^kLatencyEwmaAlphaShift = 1/8
/// (as TCP's smoothed RTT): a step change is ~66% absorbed after 8 samples, ~93% after 20.
inline constexpr int kLatencyEwmaAlphaShift = 3;

/// Folds one latency sample into `load.ewma_latency_us` (lock-free CAS loop; safe from any thread).
/// The first sample is taken as is. Samples are clamped to >= 1 us so 0 keeps meaning "no sample".
inline void record_latency(NodeLoad& load, std::chrono::microseconds latency) {
  const std::int64_t sample = latency.count() < 1 ? 1 : latency.count();
  std::int64_t current = load.ewma_latency_us.load(std::memory_order_relaxed);
  std::int64_t next;
  do {
    next = current == 0 ? sample : current + ((sample - current) >> kLatencyEwmaAlphaShift);
    if (next < 1) next = 1;
  } while (!load.ewma_latency_us.compare_exchange_weak(current, next, std::memory_order_relaxed,
                                                       std::memory_order_relaxed));
}

/// One model node, immutable once published in a snapshot (only `load` changes).
struct Node {
  std::string id;
  std::string provider;
  std::string region;
  std::string instance_type;
  std::string endpoint;
  NodeAddress address;
  std::vector<std::string> models;
  bool spot = false;
  std::int64_t price_per_hour_micros = 0;
  std::int64_t capacity_tokens_per_sec = 0;
  NodeState state = NodeState::kReady;
  /// The last active probes passed (liveness, and readiness once ready). A ready node that fails
  /// them stays `ready` in the table but leaves the pools until it passes again.
  bool healthy = true;
  std::shared_ptr<NodeLoad> load = std::make_shared<NodeLoad>();

  /// May take new requests: ready and healthy. Snapshot pools hold only routable nodes.
  bool routable() const { return state == NodeState::kReady && healthy; }

  bool serves(const std::string& model) const;
};

/// Parses "http://host:port" (port defaults to 80/443). Returns false with `error` set otherwise.
bool parse_endpoint(const std::string& endpoint, NodeAddress& out, std::string& error);

}  // namespace cic::registry
