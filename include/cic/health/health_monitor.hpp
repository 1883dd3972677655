#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cic/registry/node.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace cic::health {

/// One node to probe in one round, as the caller sees it at the start of that round.
struct ProbeTarget {
  std::string node_id;
  registry::NodeAddress address;  // http only for now; host is an IP literal or a DNS name
  /// Run the one-token inference this round (readiness).
  bool check_readiness = false;
  std::string readiness_path;  // "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings"
  std::string readiness_body;  // JSON request body, see readiness_request()
  /// GET /metrics this round and store the vLLM gauges into `load`.
  bool scrape_metrics = false;
  /// Where a successful scrape is stored with registry::apply(). May be null: the scrape is then
  /// measured and reported but stores nothing.
  std::shared_ptr<registry::NodeLoad> load;
};

enum class ProbeKind { kLiveness, kReadiness, kMetrics };
const char* to_string(ProbeKind kind);

/// The outcome of one probe. The monitor only measures; thresholds and node states are the
/// caller's business.
struct ProbeResult {
  std::string node_id;
  ProbeKind kind = ProbeKind::kLiveness;
  bool ok = false;
  /// Why the probe failed ("connect: Connection refused", "timeout", "HTTP 503", ...); empty if ok.
  std::string error;
  /// HTTP status of the answer; 0 when none was read (connect error, timeout, bad answer).
  int status = 0;
  /// From the start of the probe (name resolution included) to its outcome, failures included.
  std::chrono::microseconds latency{0};
};

struct HealthMonitorOptions {
  /// Time between the starts of two rounds.
  std::chrono::milliseconds interval{5000};
  /// Deadline of one probe: resolve + connect + request + whole answer.
  std::chrono::milliseconds timeout{2000};
};

/// The active prober of model nodes. Every `interval` it asks `targets` for the nodes and, for
/// each node concurrently, runs
///  - liveness: GET /health, ok = 200 within `timeout`;
///  - readiness (if `check_readiness`): POST `readiness_path` with `readiness_body`, ok = 200 and
///    a JSON answer with a non-empty `choices` or `data` array, within `timeout`;
///  - metrics (if `scrape_metrics`): GET /metrics, ok = 200 with at least one vLLM load gauge,
///    which registry::parse_vllm_metrics reads and registry::apply stores into `load`; a failed
///    scrape stores nothing. When both are due, the scrape waits for the readiness answer, so
///    it never counts the probe's own request as engine load (and is skipped while a readiness
///    probe from an earlier round still runs).
/// Each probe opens its own connection (`Connection: close`), so a dead node is seen at once.
/// A round starts no probe of a kind for a node whose previous probe of that kind still runs.
/// Answers are capped (8 MiB for /metrics, 1 MiB otherwise). Nothing blocks the io thread (names
/// are resolved with async_resolve) and nothing throws out of it: an exception from a callback is
/// logged and swallowed.
///
/// All work runs on a strand of `io`, which may be run by one or more threads; `targets` and
/// `report` are called there, never concurrently with each other. The callbacks must not block.
class HealthMonitor {
 public:
  /// `targets` is called on the io thread at the start of every round; `report` is called on the
  /// io thread once per probe, when its result is known. `io` must outlive the monitor; it need
  /// not run again after the monitor is destroyed.
  HealthMonitor(boost::asio::io_context& io, HealthMonitorOptions options,
                std::function<std::vector<ProbeTarget>()> targets,
                std::function<void(const ProbeResult&)> report);
  /// Calls stop().
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  /// Starts the rounds; the first one begins at once (on the io thread). Thread-safe; later calls
  /// and calls after stop() are ignored.
  void start();
  /// Thread-safe, never blocks on I/O and may be called from `report`. Once it returns, neither
  /// `targets` nor `report` is called again (if a callback is running on another thread, stop()
  /// waits for it to return). The round timer and every probe in flight are cancelled on the io
  /// thread right after, so the io_context soon runs out of the monitor's work.
  void stop();
  /// Starts a round right away (e.g. a node was just added), besides the regular ones. Thread-safe;
  /// ignored before start() and after stop().
  void probe_now();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// The readiness request for a model of the given kind: the path and the JSON body.
///  - "chat": /v1/chat/completions {"model":m,"messages":[{"role":"user","content":"ping"}],"max_tokens":1}
///  - "completion": /v1/completions {"model":m,"prompt":"ping","max_tokens":1}
///  - "embedding": /v1/embeddings {"model":m,"input":"ping"}
/// Any other kind yields an empty path and body.
std::pair<std::string, std::string> readiness_request(std::string_view model, std::string_view kind);

/// True when `body` is a JSON object with a non-empty `choices` or `data` array: what a working
/// completion or embedding answer carries.
bool readiness_answer_ok(std::string_view body);

}  // namespace cic::health
