#include "cic/admin/node_records.hpp"

#include <algorithm>

namespace cic::admin {

store::Node to_record(const registry::NodeInfo& node) {
  store::Node row;
  row.id = node.spec.id;
  row.provider = node.spec.provider;
  row.region = node.spec.region;
  row.instance_type = node.spec.instance_type;
  row.models = node.spec.models;
  row.endpoint = node.spec.endpoint;
  row.spot = node.spec.spot;
  row.price_per_hour_micros = node.spec.price_per_hour_micros;
  row.capacity_tokens_per_sec = node.spec.capacity_tokens_per_sec;
  row.state = registry::to_string(node.state);
  row.source = registry::to_string(node.source);
  row.token_hash = node.token_hash;
  row.created_at = node.created_at_ms;
  row.updated_at = node.updated_at_ms;
  row.eviction_deadline = node.eviction_deadline_ms;
  return row;
}

std::optional<registry::NodeInfo> from_record(const store::Node& row) {
  auto state = registry::node_state_from(row.state);
  auto source = registry::node_source_from(row.source);
  if (!state || !source) return std::nullopt;
  registry::NodeInfo node;
  node.spec.id = row.id;
  node.spec.provider = row.provider;
  node.spec.region = row.region;
  node.spec.instance_type = row.instance_type;
  node.spec.models = row.models;
  node.spec.endpoint = row.endpoint;
  node.spec.spot = row.spot;
  node.spec.price_per_hour_micros = row.price_per_hour_micros;
  node.spec.capacity_tokens_per_sec = row.capacity_tokens_per_sec;
  node.state = *state;
  node.source = *source;
  node.token_hash = row.token_hash;
  node.created_at_ms = row.created_at;
  node.updated_at_ms = row.updated_at;
  node.eviction_deadline_ms = row.eviction_deadline;
  // An agent node's heartbeats (shared by every replica through the store); the table gives a
  // restarted process a full period before it believes one is missing.
  node.last_heartbeat_ms = node.source == registry::NodeSource::kAgent ? std::max<std::int64_t>(row.last_heartbeat_at, 1) : 0;
  return node;
}

registry::NodeSpec spec_from_config(const config::NodeConfig& n) {
  registry::NodeSpec spec;
  spec.id = n.id;
  spec.provider = n.provider;
  spec.region = n.region;
  spec.instance_type = n.instance_type;
  spec.endpoint = n.endpoint;
  spec.models = n.models;
  spec.spot = n.spot;
  spec.price_per_hour_micros = n.price_per_hour_micros();
  spec.capacity_tokens_per_sec = n.capacity_tokens_per_sec;
  return spec;
}

}  // namespace cic::admin
