// /admin/v1/nodes: the node registry over HTTP. Operators add, drain, evict and delete nodes;
// node agents register their endpoint with a per-node token and send heartbeats.
#include <algorithm>
#include <cmath>

#include "cic/admin/node_records.hpp"
#include "cic/common/ids.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

constexpr std::int64_t kDefaultEvictionNoticeMs = 120'000;  // AWS and GCP give spot VMs ~2 minutes
constexpr std::size_t kMaxModelsPerNode = 64;

registry::NodeTable& table(Context& ctx) {
  if (ctx.deps.nodes == nullptr) fail(ApiError::not_found("Unknown admin path."));
  return *ctx.deps.nodes;
}

bool valid_node_id(const std::string& id) {
  if (id.empty() || id.size() > 64 || id == "register") return false;
  // "." and ".." would be rewritten away as path steps by most HTTP clients.
  if (id.find_first_not_of('.') == std::string::npos) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

/// "cicn_" + 192 random bits as hex; shown once, stored as its HMAC.
std::string new_node_token() {
  std::string token = "cicn_";
  for (int i = 0; i < 3; ++i) token += new_id("t").substr(2);
  return token;
}

json health_view(Context& ctx, const registry::NodeInfo& info) {
  json out = json{{"healthy", info.healthy && !info.needs_readiness},
                  {"last_error", info.last_error.empty() ? json(nullptr) : json(info.last_error)}};
  const registry::NodeLoad& load = *info.load;
  out["in_flight"] = load.in_flight.load(std::memory_order_relaxed);
  out["requests"] = load.requests.load(std::memory_order_relaxed);
  out["failures"] = load.failures.load(std::memory_order_relaxed);
  // As the engine reported them at the last scrape (every gateway's requests); routing uses
  // them less this gateway's in_flight at that moment (others_running / others_waiting).
  out["engine"] = json{{"requests_running", load.reported_running.load(std::memory_order_relaxed)},
                       {"requests_waiting", load.reported_waiting.load(std::memory_order_relaxed)},
                       {"others_running", load.requests_running.load(std::memory_order_relaxed)},
                       {"others_waiting", load.requests_waiting.load(std::memory_order_relaxed)},
                       {"kv_cache_usage", load.kv_cache_usage_milli.load(std::memory_order_relaxed) / 1000.0}};
  if (ctx.deps.health && ctx.deps.registry) {
    auto snapshot = ctx.deps.registry->snapshot();
    if (const registry::Node* node = snapshot->find(info.spec.id)) {
      const auto& pool = node->models.empty() ? std::vector<const registry::Node*>{}
                                              : snapshot->pool(node->region, node->models.front());
      registry::NodeHealthSnapshot s = ctx.deps.health->stats(*node, pool);
      out["score"] = s.score;
      out["ejected"] = s.ejected;
      out["ejections"] = s.ejections;
      out["ewma_latency_ms"] = s.ewma_latency_us / 1000.0;
      out["latency_ms"] = json{{"p50", s.p50_us / 1000.0}, {"p95", s.p95_us / 1000.0}, {"p99", s.p99_us / 1000.0}};
      out["error_rate"] = s.error_rate;
      out["tokens_per_sec"] = s.tokens_per_sec;
    }
  }
  return out;
}

json node_view(Context& ctx, const registry::NodeInfo& info) {
  auto ms_to_s = [](std::int64_t ms) { return ms == 0 ? json(nullptr) : json(ms / 1000); };
  return json{{"id", info.spec.id},
              {"object", "node"},
              {"provider", info.spec.provider},
              {"region", info.spec.region},
              {"instance_type", info.spec.instance_type},
              {"models", info.spec.models},
              {"endpoint", info.spec.endpoint.empty() ? json(nullptr) : json(info.spec.endpoint)},
              {"spot", info.spec.spot},
              {"price_per_hour", usd(info.spec.price_per_hour_micros)},
              {"capacity_tokens_per_sec", info.spec.capacity_tokens_per_sec},
              {"state", registry::to_string(info.state)},
              {"source", registry::to_string(info.source)},
              {"created_at", ms_to_s(info.created_at_ms)},
              {"updated_at", ms_to_s(info.updated_at_ms)},
              {"last_heartbeat_at", ms_to_s(info.last_heartbeat_ms)},
              {"eviction_deadline", ms_to_s(info.eviction_deadline_ms)},
              {"health", health_view(ctx, info)}};
}

/// The endpoint, normalized (no trailing slash), after the SSRF policy; 400 naming the reason.
std::string checked_endpoint(Context& ctx, const std::string& endpoint) {
  registry::EndpointPolicy policy(registry::EndpointPolicyOptions{ctx.config().registry.allow_loopback_endpoints,
                                                                  ctx.config().registry.allow_private_endpoints});
  auto resolver = ctx.deps.resolve ? ctx.deps.resolve : registry::system_resolver();
  if (auto why = policy.check(endpoint, resolver)) {
    fail(ApiError::invalid_request("endpoint", "The endpoint is refused: " + *why + ".", "invalid_endpoint"));
  }
  std::string normalized = endpoint;
  if (!normalized.empty() && normalized.back() == '/') normalized.pop_back();
  registry::NodeAddress address;
  std::string error;
  if (!registry::parse_endpoint(normalized, address, error)) {
    fail(ApiError::invalid_request("endpoint", "The endpoint is refused: " + error + ".", "invalid_endpoint"));
  }
  if (address.scheme != "http") {
    fail(ApiError::invalid_request("endpoint", "Only http:// node endpoints are supported by this version.",
                                   "invalid_endpoint"));
  }
  return normalized;
}

std::vector<std::string> checked_models(Context& ctx, const json& body, bool required) {
  std::vector<std::string> models;
  auto it = body.find("models");
  if (it == body.end() || it->is_null()) {
    if (required) fail(ApiError::invalid_request("models", "'models' is required: the catalog models the node serves.", "missing_required_parameter"));
    return models;
  }
  if (!it->is_array() || it->empty() || it->size() > kMaxModelsPerNode) {
    fail(ApiError::invalid_request("models", "'models' must be a non-empty array of model ids (at most 64).", "invalid_value"));
  }
  for (const auto& m : *it) {
    if (!m.is_string()) fail(ApiError::invalid_request("models", "'models' must contain strings.", "invalid_value"));
    std::string id = m.get<std::string>();
    if (!ctx.config().find_model(id)) {
      fail(ApiError::invalid_request("models", "Unknown model '" + id + "' (not in the catalog).", "model_not_found"));
    }
    if (std::find(models.begin(), models.end(), id) == models.end()) models.push_back(id);
  }
  return models;
}

registry::NodeInfo must(Context& ctx, const registry::NodeTable::Result& result, const std::string& id) {
  using E = registry::NodeTable::Error;
  switch (result.error) {
    case E::kNone: return *result.node;
    case E::kNotFound: fail(ApiError::not_found("No node '" + id + "'."));
    case E::kConflict:
      fail(ApiError{409, "invalid_request_error", "node_exists", "id", "A node with id '" + id + "' already exists."});
    case E::kDead:
      fail(ApiError{409, "invalid_request_error", "node_dead", "", "The node was declared dead; register it again."});
    case E::kConfigNode:
      fail(ApiError{409, "invalid_request_error", "node_in_config", "",
                    "Node '" + id + "' is defined in the configuration file; remove it there."});
    case E::kBadState:
      fail(ApiError{409, "invalid_request_error", "invalid_node_state", "",
                    "Node '" + id + "' is " + registry::to_string(result.node->state) + "."});
  }
  (void)ctx;
  fail(ApiError::internal("unexpected node table result"));
}

HttpReply create_node(Context& ctx, Call& call) {
  const json& body = call.body();
  reject_unknown_fields(body, {"id", "provider", "region", "instance_type", "models", "endpoint", "spot",
                               "price_per_hour", "capacity_tokens_per_sec"});
  registry::NodeSpec spec;
  if (!read_string(body, "id", spec.id)) spec.id = new_id("node");
  if (!valid_node_id(spec.id)) {
    fail(ApiError::invalid_request("id", "'id' must be 1-64 characters of [A-Za-z0-9._-] (and not 'register').", "invalid_value"));
  }
  if (!read_string(body, "region", spec.region)) {
    fail(ApiError::invalid_request("region", "'region' is required.", "missing_required_parameter"));
  }
  if (!ctx.config().find_region(spec.region)) {
    fail(ApiError::invalid_request("region", "Unknown region '" + spec.region + "'.", "invalid_value"));
  }
  read_string(body, "provider", spec.provider);
  if (spec.provider.empty() || spec.provider.size() > 64) {
    fail(ApiError::invalid_request("provider", "'provider' must be 1-64 characters.", "invalid_value"));
  }
  read_string(body, "instance_type", spec.instance_type);
  if (spec.instance_type.size() > 128) {
    fail(ApiError::invalid_request("instance_type", "'instance_type' is at most 128 characters.", "invalid_value"));
  }
  spec.models = checked_models(ctx, body, true);
  std::string endpoint;
  if (read_string(body, "endpoint", endpoint)) spec.endpoint = checked_endpoint(ctx, endpoint);
  if (auto it = body.find("spot"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) fail(ApiError::invalid_request("spot", "'spot' must be true or false.", "invalid_value"));
    spec.spot = it->get<bool>();
  }
  read_usd_micros(body, "price_per_hour", spec.price_per_hour_micros);
  read_nonnegative(body, "capacity_tokens_per_sec", spec.capacity_tokens_per_sec);

  registry::NodeTable& nodes = table(ctx);
  if (nodes.get(spec.id) || ctx.store().find_node(spec.id)) must(ctx, {registry::NodeTable::Error::kConflict, {}}, spec.id);
  const std::string token = new_node_token();
  const std::string token_hash = ctx.deps.hasher.hash(token);

  // Stored first, with its audit record: a node the store refused is not routed to either.
  registry::NodeInfo draft;
  draft.spec = spec;
  draft.source = registry::NodeSource::kAdmin;
  draft.token_hash = token_hash;
  draft.created_at_ms = draft.updated_at_ms = call.now_ms;
  json view_for_audit = node_view(ctx, draft);
  auto audit = audit_entry(call, "node.create", "node", spec.id, "", nullptr, view_for_audit);
  ctx.store().upsert_node(to_record(draft), &audit);
  registry::NodeInfo added = must(ctx, nodes.add(spec, registry::NodeSource::kAdmin, token_hash), spec.id);
  if (ctx.deps.on_node_added) ctx.deps.on_node_added();
  json view = node_view(ctx, added);
  // The only time the token is shown: the node agent needs it to register and send heartbeats.
  view["registration_token"] = token;
  return reply(201, view);
}

HttpReply list_nodes(Context& ctx, Call& call) {
  const std::string region = call.query_value("region");
  const std::string model = call.query_value("model");
  const std::string state = call.query_value("state");
  json data = json::array();
  for (const auto& node : table(ctx).list()) {
    if (!region.empty() && node.spec.region != region) continue;
    if (!model.empty() && std::find(node.spec.models.begin(), node.spec.models.end(), model) == node.spec.models.end()) continue;
    if (!state.empty() && state != registry::to_string(node.state)) continue;
    data.push_back(node_view(ctx, node));
  }
  return reply(200, list_body(std::move(data), false));
}

/// A lifecycle change made by the operator: persisted with its audit record after the table
/// accepted it.
void persist_change(Context& ctx, Call& call, const char* action, const json& before, const registry::NodeInfo& after) {
  auto audit = audit_entry(call, action, "node", after.spec.id, "", before, node_view(ctx, after));
  ctx.store().upsert_node(to_record(after), &audit);
}

HttpReply drain_node(Context& ctx, Call& call, const std::string& id) {
  if (call.http.method != "POST") method_not_allowed(call);
  reject_unknown_fields(call.body(), {});
  auto before = table(ctx).get(id);
  if (!before) fail(ApiError::not_found("No node '" + id + "'."));
  registry::NodeInfo after = must(ctx, table(ctx).drain(id), id);
  persist_change(ctx, call, "node.drain", node_view(ctx, *before), after);
  return reply(200, node_view(ctx, after));
}

HttpReply evict_node(Context& ctx, Call& call, const std::string& id) {
  if (call.http.method != "POST") method_not_allowed(call);
  const json& body = call.body();
  reject_unknown_fields(body, {"deadline", "seconds"});
  std::int64_t deadline_ms = call.now_ms + kDefaultEvictionNoticeMs;
  std::int64_t value = 0;
  if (read_nonnegative(body, "deadline", value)) {
    if (value > 100'000'000'000LL) fail(ApiError::invalid_request("deadline", "'deadline' must be a Unix time in seconds.", "invalid_value"));
    // A deadline already past cuts what is left at the next tick.
    deadline_ms = std::max(value * 1000, call.now_ms);
  } else if (read_nonnegative(body, "seconds", value)) {
    if (value > 86'400) fail(ApiError::invalid_request("seconds", "'seconds' must be at most 86400.", "invalid_value"));
    deadline_ms = call.now_ms + value * 1000;
  }
  auto before = table(ctx).get(id);
  if (!before) fail(ApiError::not_found("No node '" + id + "'."));
  registry::NodeInfo after = must(ctx, table(ctx).evict(id, deadline_ms), id);
  persist_change(ctx, call, "node.evict", node_view(ctx, *before), after);
  return reply(200, node_view(ctx, after));
}

HttpReply node_item(Context& ctx, Call& call, const std::string& id) {
  if (call.http.method == "GET") {
    auto node = table(ctx).get(id);
    if (!node) fail(ApiError::not_found("No node '" + id + "'."));
    return reply(200, node_view(ctx, *node));
  }
  if (call.http.method != "DELETE") method_not_allowed(call);
  auto before = table(ctx).get(id);
  if (!before) fail(ApiError::not_found("No node '" + id + "'."));
  if (before->source == registry::NodeSource::kConfig) must(ctx, {registry::NodeTable::Error::kConfigNode, before}, id);
  auto audit = audit_entry(call, "node.delete", "node", id, "", node_view(ctx, *before), nullptr);
  ctx.store().delete_node(id, &audit);
  must(ctx, table(ctx).remove(id), id);
  return reply(200, json{{"id", id}, {"object", "node"}, {"deleted", true}});
}

json agent_reply(Context& ctx, const registry::NodeInfo& node) {
  const auto timeout = ctx.config().registry.heartbeat_timeout.count();
  json view = node_view(ctx, node);
  view["heartbeat_interval_ms"] = std::max<std::int64_t>(1000, timeout / 3);
  view["heartbeat_timeout_ms"] = timeout;
  return view;
}

HttpReply register_node(Context& ctx, Call& call) {
  if (call.http.method != "POST") method_not_allowed(call);
  if (!call.actor.is_node()) {
    fail(ApiError::permission_denied("Only a node agent registers, with its registration token.", "node_token_required"));
  }
  const json& body = call.body();
  reject_unknown_fields(body, {"endpoint", "models", "capacity_tokens_per_sec"});
  std::string endpoint;
  if (!read_string(body, "endpoint", endpoint)) {
    fail(ApiError::invalid_request("endpoint", "'endpoint' is required: where the node serves the OpenAI API.", "missing_required_parameter"));
  }
  auto existing = table(ctx).find_by_token(call.actor.node_token_hash);
  if (!existing) fail(ApiError{401, "invalid_request_error", "invalid_node_token", "", "Invalid node registration token."});
  endpoint = checked_endpoint(ctx, endpoint);
  std::vector<std::string> models = checked_models(ctx, body, false);
  std::int64_t capacity = 0;
  read_nonnegative(body, "capacity_tokens_per_sec", capacity);
  registry::NodeInfo node = must(ctx, table(ctx).register_agent(call.actor.node_token_hash, endpoint, models, capacity),
                                 existing->spec.id);
  auto audit = audit_entry(call, "node.register", "node", node.spec.id, "", node_view(ctx, *existing), node_view(ctx, node));
  ctx.store().upsert_node(to_record(node), &audit);
  if (ctx.deps.on_node_added) ctx.deps.on_node_added();
  return reply(200, agent_reply(ctx, node));
}

HttpReply heartbeat(Context& ctx, Call& call, const std::string& id) {
  if (call.http.method != "POST") method_not_allowed(call);
  if (!call.actor.is_node()) {
    fail(ApiError::permission_denied("Heartbeats come from the node agent, with its registration token.", "node_token_required"));
  }
  auto beat = table(ctx).heartbeat(id, call.actor.node_token_hash);
  if (beat.error == registry::NodeTable::Error::kNotFound) {
    // Unknown node and wrong token look alike, so a token cannot probe for node ids.
    fail(ApiError{401, "invalid_request_error", "invalid_node_token", "", "Invalid node registration token for this node."});
  }
  registry::NodeInfo node = must(ctx, beat, id);
  const auto timeout = ctx.config().registry.heartbeat_timeout.count();
  return reply(200, json{{"id", node.spec.id},
                         {"object", "node.heartbeat"},
                         {"state", registry::to_string(node.state)},
                         {"eviction_deadline", node.eviction_deadline_ms ? json(node.eviction_deadline_ms / 1000) : json(nullptr)},
                         {"heartbeat_interval_ms", std::max<std::int64_t>(1000, timeout / 3)}});
}

}  // namespace

HttpReply nodes_route(Context& ctx, Call& call) {
  const auto& s = call.segments;  // s[0] == "nodes"
  table(ctx);
  // A node agent's token opens exactly two doors.
  if (s.size() == 2 && s[1] == "register") return register_node(ctx, call);
  if (s.size() == 3 && s[2] == "heartbeat") return heartbeat(ctx, call, s[1]);
  if (call.actor.is_node()) fail(ApiError::permission_denied("A node token may only register and send heartbeats.", "node_token_scope"));
  require_operator(call, "manage nodes");
  if (s.size() == 1) {
    if (call.http.method == "GET") return list_nodes(ctx, call);
    if (call.http.method == "POST") return create_node(ctx, call);
    method_not_allowed(call);
  }
  if (s.size() == 2) return node_item(ctx, call, s[1]);
  if (s.size() == 3 && s[2] == "drain") return drain_node(ctx, call, s[1]);
  if (s.size() == 3 && s[2] == "eviction") return evict_node(ctx, call, s[1]);
  fail(ApiError::not_found("Unknown admin path."));
}

}  // namespace cic::admin::detail
