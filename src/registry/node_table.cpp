#include "cic/registry/node_table.hpp"

#include <algorithm>

namespace cic::registry {

const char* to_string(NodeSource source) {
  switch (source) {
    case NodeSource::kConfig: return "config";
    case NodeSource::kAdmin: return "admin";
    case NodeSource::kAgent: return "agent";
  }
  return "unknown";
}

std::optional<NodeSource> node_source_from(std::string_view text) {
  if (text == "config") return NodeSource::kConfig;
  if (text == "admin") return NodeSource::kAdmin;
  if (text == "agent") return NodeSource::kAgent;
  return std::nullopt;
}

std::optional<NodeState> node_state_from(std::string_view text) {
  for (NodeState state : {NodeState::kLaunching, NodeState::kReady, NodeState::kDraining, NodeState::kDrained,
                          NodeState::kDead}) {
    if (text == to_string(state)) return state;
  }
  return std::nullopt;
}

namespace {

/// States in which a node is still expected to answer, so it is probed.
bool probed(const NodeInfo& node) {
  return !node.spec.endpoint.empty() &&
         (node.state == NodeState::kLaunching || node.state == NodeState::kReady || node.state == NodeState::kDraining);
}

}  // namespace

NodeTable::NodeTable(NodeRegistry& registry, const Clock& clock, Options options)
    : registry_(registry), clock_(clock), options_(options) {}

void NodeTable::set_listeners(ChangeFn on_change, RemoveFn on_remove) {
  std::lock_guard lock(mutex_);
  on_change_ = std::move(on_change);
  on_remove_ = std::move(on_remove);
}

void NodeTable::load(std::vector<NodeInfo> persisted, const std::vector<NodeSpec>& from_config) {
  std::lock_guard lock(mutex_);
  nodes_.clear();
  const std::int64_t now = now_ms();
  for (auto& node : persisted) {
    if (node.source == NodeSource::kConfig) continue;  // the file is the truth for those
    // Health is this process's own observation: start unknown, and earn readiness again.
    node.healthy = false;
    node.needs_readiness = true;
    node.failed_probes = node.passed_probes = 0;
    if (node.state == NodeState::kReady) node.state = NodeState::kLaunching;
    // An agent gets a full heartbeat period after our restart before it can be declared dead.
    if (node.last_heartbeat_ms != 0) node.last_heartbeat_ms = now;
    if (!node.load) node.load = std::make_shared<NodeLoad>();
    std::string id = node.spec.id;
    nodes_[id] = std::move(node);
  }
  for (const auto& spec : from_config) {
    NodeInfo node;
    node.spec = spec;
    node.source = NodeSource::kConfig;
    node.created_at_ms = node.updated_at_ms = now;
    nodes_[spec.id] = std::move(node);
  }
  publish_locked();
}

NodeTable::Result NodeTable::add(NodeSpec spec, NodeSource source, std::string token_hash) {
  std::vector<Change> changes;
  Result result;
  {
    std::lock_guard lock(mutex_);
    if (nodes_.count(spec.id)) return Result{Error::kConflict, nodes_.at(spec.id)};
    if (!token_hash.empty()) {
      for (const auto& [id, other] : nodes_) {
        if (other.token_hash == token_hash) return Result{Error::kConflict, other};
      }
    }
    NodeInfo node;
    node.spec = std::move(spec);
    node.source = source;
    node.token_hash = std::move(token_hash);
    node.created_at_ms = node.updated_at_ms = now_ms();
    std::string id = node.spec.id;
    auto& stored = nodes_[id] = std::move(node);
    publish_locked();
    changes.push_back({stored, {}});
    result.node = stored;
  }
  notify(std::move(changes));
  return result;
}

NodeTable::Result NodeTable::register_agent(const std::string& token_hash, const std::string& endpoint,
                                            const std::vector<std::string>& models,
                                            std::int64_t capacity_tokens_per_sec) {
  std::vector<Change> changes;
  Result result;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& entry) {
      return !token_hash.empty() && entry.second.token_hash == token_hash;
    });
    if (it == nodes_.end()) return Result{Error::kNotFound, std::nullopt};
    NodeInfo& node = it->second;
    const std::int64_t now = now_ms();
    if (node.spec.endpoint != endpoint) {
      // A new address is a new machine as far as health goes.
      node.spec.endpoint = endpoint;
      node.healthy = false;
      node.needs_readiness = true;
    }
    if (!models.empty()) node.spec.models = models;
    if (capacity_tokens_per_sec > 0) node.spec.capacity_tokens_per_sec = capacity_tokens_per_sec;
    node.source = NodeSource::kAgent;
    node.last_heartbeat_ms = now;
    if (node.state == NodeState::kDead || node.state == NodeState::kDrained) {
      node.healthy = false;
      node.needs_readiness = true;
      node.eviction_deadline_ms = 0;
      node.state = NodeState::kLaunching;
    }
    node.updated_at_ms = now;
    publish_locked();
    changes.push_back({node, {}});
    result.node = node;
  }
  notify(std::move(changes));
  return result;
}

NodeTable::Result NodeTable::heartbeat(const std::string& node_id, const std::string& token_hash) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || token_hash.empty() || it->second.token_hash != token_hash) {
    return Result{Error::kNotFound, std::nullopt};
  }
  NodeInfo& node = it->second;
  if (node.state == NodeState::kDead) return Result{Error::kDead, node};
  // Heartbeats are frequent: persisted in batches (take_heartbeats), for the other replicas.
  node.last_heartbeat_ms = now_ms();
  pending_heartbeats_[node_id] = node.last_heartbeat_ms;
  return Result{Error::kNone, node};
}

NodeTable::Result NodeTable::drain(const std::string& node_id) {
  std::vector<Change> changes;
  Result result;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return Result{Error::kNotFound, std::nullopt};
    NodeInfo& node = it->second;
    if (node.state == NodeState::kDead) return Result{Error::kBadState, node};
    if (node.state == NodeState::kLaunching || node.state == NodeState::kReady) {
      set_state_locked(node, NodeState::kDraining, changes);
      publish_locked();
    }
    result.node = node;
  }
  notify(std::move(changes));
  return result;
}

NodeTable::Result NodeTable::evict(const std::string& node_id, std::int64_t deadline_ms) {
  std::vector<Change> changes;
  Result result;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return Result{Error::kNotFound, std::nullopt};
    NodeInfo& node = it->second;
    if (node.state == NodeState::kDead) return Result{Error::kBadState, node};
    if (node.state != NodeState::kDrained) {
      // A second notice may only bring the deadline closer.
      if (node.eviction_deadline_ms == 0 || deadline_ms < node.eviction_deadline_ms) {
        node.eviction_deadline_ms = deadline_ms;
      }
      if (node.state == NodeState::kDraining) {
        node.updated_at_ms = now_ms();
        changes.push_back({node, {}});
      } else {
        set_state_locked(node, NodeState::kDraining, changes);
        publish_locked();
      }
    }
    result.node = node;
  }
  notify(std::move(changes));
  return result;
}

NodeTable::Result NodeTable::remove(const std::string& node_id) {
  std::vector<Change> changes;
  Result result;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return Result{Error::kNotFound, std::nullopt};
    if (it->second.source == NodeSource::kConfig) return Result{Error::kConfigNode, it->second};
    result.node = it->second;
    nodes_.erase(it);
    publish_locked();
    changes.push_back({std::nullopt, node_id});
  }
  notify(std::move(changes));
  return result;
}

void NodeTable::report_liveness(const std::string& node_id, bool ok, const std::string& error) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return;
    NodeInfo& node = it->second;
    if (ok) {
      node.failed_probes = 0;
      ++node.passed_probes;
      if (!node.healthy && !node.needs_readiness && node.passed_probes >= options_.healthy_threshold) {
        node.healthy = true;
        publish_locked();
      }
      return;
    }
    node.passed_probes = 0;
    node.last_error = error;
    if (++node.failed_probes >= options_.unhealthy_threshold && (node.healthy || !node.needs_readiness)) {
      // Down: out of the pools, and it must pass readiness again before it comes back.
      node.healthy = false;
      node.needs_readiness = true;
      publish_locked();
    }
  }
  notify(std::move(changes));
}

void NodeTable::report_readiness(const std::string& node_id, bool ok, const std::string& error) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node_id);
    if (it == nodes_.end()) return;
    NodeInfo& node = it->second;
    if (!ok) {
      node.passed_probes = 0;
      node.last_error = error;
      if (++node.failed_probes >= options_.unhealthy_threshold && (node.healthy || !node.needs_readiness)) {
        node.healthy = false;
        node.needs_readiness = true;
        publish_locked();
      }
      return;
    }
    node.failed_probes = 0;
    node.last_ready_check_ms = now_ms();
    const bool was_routable = node.healthy && !node.needs_readiness;
    node.needs_readiness = false;
    node.healthy = true;
    node.last_error.clear();
    bool republish = !was_routable;
    // Like Envoy's successful_active_health_check_uneject_host: a node that proved itself again
    // is not kept out by an ejection its earlier failures earned.
    if (!was_routable) node.load->ejected_until_ns.store(0, std::memory_order_relaxed);
    if (node.state == NodeState::kLaunching) {
      set_state_locked(node, NodeState::kReady, changes);
      republish = true;
    }
    if (republish) publish_locked();
  }
  notify(std::move(changes));
}

std::vector<ProbePlan> NodeTable::probe_plan() {
  std::lock_guard lock(mutex_);
  std::vector<ProbePlan> plan;
  const std::int64_t now = now_ms();
  plan.reserve(nodes_.size());
  for (auto& [id, node] : nodes_) {
    if (!probed(node)) continue;
    ProbePlan p;
    std::string error;
    if (!parse_endpoint(node.spec.endpoint, p.address, error)) continue;
    p.node_id = id;
    p.model = node.spec.models.empty() ? std::string() : node.spec.models.front();
    p.check_readiness = !p.model.empty() &&
                        (node.needs_readiness || node.state == NodeState::kLaunching ||
                         now - node.last_ready_check_ms >= options_.readiness_interval.count());
    if (options_.metrics_interval.count() > 0 && now - node.last_metrics_ms >= options_.metrics_interval.count()) {
      p.scrape_metrics = true;
      node.last_metrics_ms = now;
    }
    p.load = node.load;
    plan.push_back(std::move(p));
  }
  return plan;
}

std::vector<std::string> NodeTable::tick() {
  std::vector<Change> changes;
  std::vector<std::string> aborted;
  {
    std::lock_guard lock(mutex_);
    const std::int64_t now = now_ms();
    bool republish = false;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      NodeInfo& node = it->second;
      const bool heartbeating = node.last_heartbeat_ms != 0;
      if (heartbeating && node.state != NodeState::kDead && node.state != NodeState::kDrained &&
          now - node.last_heartbeat_ms > options_.heartbeat_timeout.count()) {
        set_state_locked(node, NodeState::kDead, changes);
        node.healthy = false;
        node.last_error = "no heartbeat for " + std::to_string(now - node.last_heartbeat_ms) + " ms";
        republish = true;
      } else if (node.state == NodeState::kDraining) {
        if (node.load->in_flight.load(std::memory_order_acquire) <= 0) {
          set_state_locked(node, NodeState::kDrained, changes);
          republish = true;
        } else if (node.eviction_deadline_ms != 0 && now >= node.eviction_deadline_ms) {
          aborted.push_back(it->first);
          set_state_locked(node, NodeState::kDrained, changes);
          republish = true;
        }
      }
      if (options_.forget_after.count() > 0 && node.source != NodeSource::kConfig &&
          (node.state == NodeState::kDrained || node.state == NodeState::kDead) &&
          now - node.updated_at_ms >= options_.forget_after.count()) {
        changes.push_back({std::nullopt, it->first});
        it = nodes_.erase(it);
        republish = true;
        continue;
      }
      ++it;
    }
    if (republish) publish_locked();
  }
  notify(std::move(changes));
  return aborted;
}

std::vector<std::pair<std::string, std::int64_t>> NodeTable::take_heartbeats() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::int64_t>> out(pending_heartbeats_.begin(), pending_heartbeats_.end());
  pending_heartbeats_.clear();
  return out;
}

std::size_t NodeTable::reconcile(const std::vector<NodeInfo>& stored) {
  std::lock_guard lock(mutex_);
  std::size_t changed = 0;
  std::map<std::string, const NodeInfo*> by_id;
  for (const auto& row : stored) {
    if (row.source != NodeSource::kConfig) by_id[row.spec.id] = &row;
  }
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.source != NodeSource::kConfig && !by_id.count(it->first)) {
      it = nodes_.erase(it);  // deleted through another replica
      ++changed;
    } else {
      ++it;
    }
  }
  for (const auto& [id, row] : by_id) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) {
      NodeInfo node = *row;
      node.healthy = false;
      node.needs_readiness = true;
      if (node.state == NodeState::kReady) node.state = NodeState::kLaunching;
      if (!node.load) node.load = std::make_shared<NodeLoad>();
      // Its heartbeats may not have reached the store yet: a full period before it can be dead.
      if (node.last_heartbeat_ms != 0) node.last_heartbeat_ms = std::max(node.last_heartbeat_ms, now_ms());
      nodes_[id] = std::move(node);
      ++changed;
      continue;
    }
    NodeInfo& local = it->second;
    if (local.source == NodeSource::kConfig) continue;  // the file wins over a stale row
    bool touched = false;
    if (row->last_heartbeat_ms > local.last_heartbeat_ms) local.last_heartbeat_ms = row->last_heartbeat_ms;
    if (row->spec.endpoint != local.spec.endpoint) {
      local.spec.endpoint = row->spec.endpoint;
      local.healthy = false;
      local.needs_readiness = true;
      touched = true;
    }
    if (row->spec.models != local.spec.models || row->spec.capacity_tokens_per_sec != local.spec.capacity_tokens_per_sec ||
        row->spec.price_per_hour_micros != local.spec.price_per_hour_micros) {
      local.spec.models = row->spec.models;
      local.spec.capacity_tokens_per_sec = row->spec.capacity_tokens_per_sec;
      local.spec.price_per_hour_micros = row->spec.price_per_hour_micros;
      touched = true;
    }
    local.token_hash = row->token_hash;
    local.source = row->source;
    // A lifecycle decision taken elsewhere after ours. Our own changes come back with our own
    // updated_at and are not newer.
    if (row->updated_at_ms > local.updated_at_ms) {
      const bool local_active = local.state == NodeState::kLaunching || local.state == NodeState::kReady;
      switch (row->state) {
        case NodeState::kDraining:
        case NodeState::kDrained:
          // Drained elsewhere means its requests there are done; ours still finish here first.
          if (local_active) local.state = NodeState::kDraining;
          if (row->eviction_deadline_ms != 0) local.eviction_deadline_ms = row->eviction_deadline_ms;
          break;
        case NodeState::kDead:
          if (local.state != NodeState::kDead) {
            local.state = NodeState::kDead;
            local.healthy = false;
          }
          break;
        case NodeState::kLaunching:
        case NodeState::kReady:
          if (!local_active) {  // registered again
            local.state = NodeState::kLaunching;
            local.healthy = false;
            local.needs_readiness = true;
            local.eviction_deadline_ms = 0;
          }
          break;
      }
      local.updated_at_ms = row->updated_at_ms;
      touched = true;
    }
    if (touched) ++changed;
  }
  if (changed) publish_locked();
  return changed;
}

std::vector<NodeInfo> NodeTable::list() const {
  std::lock_guard lock(mutex_);
  std::vector<NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [id, node] : nodes_) out.push_back(node);
  return out;
}

std::optional<NodeInfo> NodeTable::get(const std::string& node_id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

std::optional<NodeInfo> NodeTable::find_by_token(const std::string& token_hash) const {
  if (token_hash.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  for (const auto& [id, node] : nodes_) {
    if (node.token_hash == token_hash) return node;
  }
  return std::nullopt;
}

void NodeTable::set_state_locked(NodeInfo& node, NodeState state, std::vector<Change>& changes) {
  if (node.state == state) return;
  node.state = state;
  node.updated_at_ms = now_ms();
  if (state == NodeState::kDrained || state == NodeState::kDead) node.eviction_deadline_ms = 0;
  changes.push_back({node, {}});
}

void NodeTable::publish_locked() {
  std::vector<Node> nodes;
  nodes.reserve(nodes_.size());
  for (const auto& [id, info] : nodes_) {
    Node node;
    node.id = info.spec.id;
    node.provider = info.spec.provider;
    node.region = info.spec.region;
    node.instance_type = info.spec.instance_type;
    node.endpoint = info.spec.endpoint;
    std::string error;
    if (!info.spec.endpoint.empty()) parse_endpoint(info.spec.endpoint, node.address, error);
    node.models = info.spec.models;
    node.spot = info.spec.spot;
    node.price_per_hour_micros = info.spec.price_per_hour_micros;
    node.capacity_tokens_per_sec = info.spec.capacity_tokens_per_sec;
    node.state = info.state;
    node.healthy = info.healthy && !info.needs_readiness && !info.spec.endpoint.empty() && error.empty();
    node.load = info.load;
    nodes.push_back(std::move(node));
  }
  registry_.publish(std::move(nodes));
}

void NodeTable::notify(std::vector<Change> changes) {
  if (changes.empty()) return;
  ChangeFn on_change;
  RemoveFn on_remove;
  {
    std::lock_guard lock(mutex_);
    on_change = on_change_;
    on_remove = on_remove_;
  }
  for (auto& change : changes) {
    if (change.changed && on_change) on_change(*change.changed);
    if (!change.removed.empty() && on_remove) on_remove(change.removed);
  }
}

}  // namespace cic::registry
