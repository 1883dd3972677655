#pragma once
// State shared by every connection: run-time settings, counters, the per-request ledger that
// /sim/requests exposes, metrics and the admission gate. Everything here is thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "node_sim/admission_gate.hpp"
#include "node_sim/metrics.hpp"
#include "node_sim/options.hpp"

namespace cic::node_sim {

/// The knobs POST /sim/config may change while the server runs (max_concurrency lives in the
/// gate). Requests read them once when they start.
struct RuntimeSettings {
  std::atomic<std::uint32_t> ttft_ms{0};
  std::atomic<std::uint32_t> inter_token_ms{0};
  std::atomic<double> error_rate{0.0};
  std::atomic<bool> hang{false};
};

struct SimCounters {
  std::atomic<std::uint64_t> requests_total{0};
  std::atomic<std::int64_t> requests_active{0};
  std::atomic<std::uint64_t> requests_aborted{0};
  std::atomic<std::uint64_t> requests_failed{0};
  std::atomic<std::uint64_t> completion_tokens_total{0};
  std::atomic<std::uint64_t> prompt_tokens_total{0};
};

/// One request as /sim/requests/<id> reports it; updated live while it streams.
struct RequestRecord {
  std::string id;
  std::atomic<std::uint32_t> prompt_tokens{0};
  std::atomic<std::uint32_t> completion_tokens{0};
  std::atomic<std::uint16_t> status{0};  // HTTP status once known
  std::atomic<bool> finished{false};     // over, whether completed or aborted
  std::atomic<bool> aborted{false};
};

/// The last `capacity` requests by id; a reused id replaces the older record.
class RequestRegistry {
 public:
  explicit RequestRegistry(std::size_t capacity);
  std::shared_ptr<RequestRecord> open(std::string_view id);
  std::shared_ptr<const RequestRecord> find(std::string_view id) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<RequestRecord>> by_id_;
  std::vector<std::shared_ptr<RequestRecord>> ring_;
  std::size_t next_ = 0;
};

struct SimContext {
  explicit SimContext(SimOptions opts);

  const SimOptions options;
  RuntimeSettings settings;
  SimCounters counters;
  RequestRegistry registry;
  MetricsRegistry metrics;
  AdmissionGate gate;
  std::atomic<std::uint64_t> emitted_tokens{0};  // for --die-after-tokens
  std::atomic<std::uint64_t> post_sequence{0};   // numbers /v1 POSTs for --error-rate
};

/// Whether the POST numbered `sequence` gets an injected 500: a pure function of seed and
/// sequence, so a run with the same seed and request order fails the same requests.
bool should_inject_error(std::uint64_t seed, std::uint64_t sequence, double rate);

/// A random 32-hex-digit id (uuid4 without dashes, as vLLM's random_uuid()).
std::string make_random_id();

}  // namespace cic::node_sim
