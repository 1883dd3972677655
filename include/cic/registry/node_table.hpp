#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/registry/node.hpp"
#include "cic/registry/node_registry.hpp"

namespace cic::registry {

/// Where a node came from. Config nodes are re-read on every start and cannot be deleted over the
/// API; admin nodes were added by an operator; agent nodes registered themselves with a token.
enum class NodeSource { kConfig, kAdmin, kAgent };
const char* to_string(NodeSource source);
std::optional<NodeSource> node_source_from(std::string_view text);
std::optional<NodeState> node_state_from(std::string_view text);

/// What an operator, the config file or a node agent says about a node.
struct NodeSpec {
  std::string id;
  std::string provider = "static";
  std::string region;
  std::string instance_type;
  std::string endpoint;  // "" until the node's agent registers it
  std::vector<std::string> models;
  bool spot = false;
  std::int64_t price_per_hour_micros = 0;
  std::int64_t capacity_tokens_per_sec = 0;
};

/// One row of the table, as the admin API, the prober and metrics see it.
struct NodeInfo {
  NodeSpec spec;
  NodeSource source = NodeSource::kConfig;
  NodeState state = NodeState::kLaunching;
  bool healthy = false;            // the last probes passed
  bool needs_readiness = true;     // a readiness probe must pass before it takes traffic (again)
  std::string token_hash;          // HMAC of the registration token; "" = none
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;  // last lifecycle change
  std::int64_t last_heartbeat_ms = 0;    // agent heartbeats; 0 = none yet
  std::int64_t eviction_deadline_ms = 0; // spot termination notice; 0 = none
  std::int64_t last_ready_check_ms = 0;  // last successful readiness probe (wall ms)
  std::int64_t last_metrics_ms = 0;      // last metrics scrape asked for
  int failed_probes = 0;                 // liveness/readiness failures in a row
  int passed_probes = 0;                 // liveness successes in a row
  std::string last_error;                // why the last failed probe failed
  std::shared_ptr<NodeLoad> load = std::make_shared<NodeLoad>();
};

/// A probe the health monitor should run now (see NodeTable::probe_plan).
struct ProbePlan {
  std::string node_id;
  NodeAddress address;
  std::string model;        // the node's first model, for the readiness inference
  bool check_readiness = false;
  bool scrape_metrics = false;
  std::shared_ptr<NodeLoad> load;
};

struct NodeTableOptions {
  std::chrono::milliseconds heartbeat_timeout{30'000};
  std::chrono::milliseconds readiness_interval{60'000};
  std::chrono::milliseconds metrics_interval{5'000};  // 0 = never scrape
  int unhealthy_threshold = 1;
  int healthy_threshold = 1;
  std::chrono::milliseconds forget_after{0};  // drained/dead nodes are dropped after this; 0 = never
};

/// The lifecycle of every node, and the source of the router's snapshots.
///
///   launching --readiness passes--> ready --drain--> draining --no request left--> drained
///       any --heartbeat missed (agent nodes)--> dead;   eviction = drain + a deadline, at which
///       what is left is aborted and the node is drained.
///
/// Independently of the state, `healthy` follows the active probes: unhealthy_threshold failed
/// probes in a row take a node out of the pools; it comes back once a readiness probe passes
/// again. Every change republishes the NodeRegistry snapshot (pools hold routable nodes only).
///
/// Thread-safe (one mutex; writers are the admin API, node agents, the prober and tick()). Never
/// blocks on I/O: persistence is the caller's, through `on_change` / `on_remove`, which are called
/// after the lock is released, in the order of the changes.
class NodeTable {
 public:
  using Options = NodeTableOptions;
  using ChangeFn = std::function<void(const NodeInfo&)>;
  using RemoveFn = std::function<void(const std::string& id)>;

  NodeTable(NodeRegistry& registry, const Clock& clock, Options options = {});

  void set_listeners(ChangeFn on_change, RemoveFn on_remove);

  /// Replaces the table at start: nodes persisted earlier (admin and agent ones; their state is
  /// kept except that a ready node must pass readiness again) plus the config file's nodes
  /// (always launching, and they win over a persisted node of the same id). No listener is called.
  void load(std::vector<NodeInfo> persisted, const std::vector<NodeSpec>& from_config);

  enum class Error { kNone, kNotFound, kConflict, kDead, kConfigNode, kBadState };
  struct Result {
    Error error = Error::kNone;
    std::optional<NodeInfo> node;
    explicit operator bool() const { return error == Error::kNone; }
  };

  /// A new node (admin API). kConflict if the id exists. Starts launching; probed at once when it
  /// has an endpoint, otherwise it waits for its agent.
  Result add(NodeSpec spec, NodeSource source, std::string token_hash);

  /// The agent holding the token of `token_hash` announces its endpoint (and optionally models and
  /// capacity; empty/0 keep the operator's values). A dead or drained node starts over at
  /// launching. kNotFound for an unknown token.
  Result register_agent(const std::string& token_hash, const std::string& endpoint,
                        const std::vector<std::string>& models, std::int64_t capacity_tokens_per_sec);

  /// An agent's heartbeat. kNotFound for an unknown token or a token of another node, kDead if the
  /// node was declared dead (it must register again).
  Result heartbeat(const std::string& node_id, const std::string& token_hash);

  /// No new requests; in-flight ones finish, then the node is drained. Idempotent.
  Result drain(const std::string& node_id);
  /// drain(), and at `deadline_ms` (wall clock) whatever is still running is aborted.
  Result evict(const std::string& node_id, std::int64_t deadline_ms);
  /// Forgets the node (it leaves the pools at once; requests already on it finish). kConfigNode
  /// for nodes defined in the config file.
  Result remove(const std::string& node_id);

  /// Probe results from the health monitor.
  void report_liveness(const std::string& node_id, bool ok, const std::string& error);
  void report_readiness(const std::string& node_id, bool ok, const std::string& error);

  /// What the monitor should probe this round: every node with an endpoint that is launching,
  /// ready or draining; readiness when the node is new, came back, or readiness_interval passed;
  /// metrics every metrics_interval. Marks the metrics scrape as asked for.
  std::vector<ProbePlan> probe_plan();

  /// Deadlines: missed heartbeats (dead), finished drains (drained), eviction deadlines (drained;
  /// the ids are returned so the caller aborts what still runs on them), forget_after.
  /// Call about once a second.
  std::vector<std::string> tick();

  /// Heartbeats received since the last call, (node id, unix ms), for batched persistence.
  std::vector<std::pair<std::string, std::int64_t>> take_heartbeats();

  /// Brings the table in line with the store, where other replicas write: admin/agent nodes
  /// that appeared are added, those deleted are removed, a newer lifecycle decision (drain,
  /// eviction, dead, re-registration) is applied, specs and tokens are copied, and heartbeats seen
  /// by other replicas count here too. Health stays this process's own. Config nodes are left
  /// alone. No listener is called (the store already has it). Returns how many nodes changed.
  std::size_t reconcile(const std::vector<NodeInfo>& stored);

  std::vector<NodeInfo> list() const;
  std::optional<NodeInfo> get(const std::string& node_id) const;
  std::optional<NodeInfo> find_by_token(const std::string& token_hash) const;

 private:
  struct Change {
    std::optional<NodeInfo> changed;
    std::string removed;
  };
  void publish_locked();
  void set_state_locked(NodeInfo& node, NodeState state, std::vector<Change>& changes);
  void notify(std::vector<Change> changes);
  std::int64_t now_ms() const { return clock_.unix_millis(); }

  NodeRegistry& registry_;
  const Clock& clock_;
  Options options_;
  mutable std::mutex mutex_;
  std::map<std::string, NodeInfo> nodes_;
  std::map<std::string, std::int64_t> pending_heartbeats_;
  ChangeFn on_change_;
  RemoveFn on_remove_;
};

}  // namespace cic::registry
