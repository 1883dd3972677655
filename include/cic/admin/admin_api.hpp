#pragma once
#include <functional>
#include <memory>
#include <string>

#include "cic/auth/key_hasher.hpp"
#include "cic/common/clock.hpp"
#include "cic/common/http_call.hpp"
#include "cic/config/config.hpp"
#include "cic/registry/endpoint_policy.hpp"
#include "cic/registry/health_policy.hpp"
#include "cic/registry/node_table.hpp"
#include "cic/store/store.hpp"

namespace cic::admin {

struct AdminDeps {
  const config::Config& config;
  store::Store& store;
  const auth::KeyHasher& hasher;
  const Clock& clock;
  /// Called after every change that can affect authentication (org, environment or key), so the
  /// local key cache forgets at once; other replicas hear of it through the store.
  std::function<void()> on_auth_change;

  /// The node table (/admin/v1/nodes); null = no node API (404).
  registry::NodeTable* nodes = nullptr;
  /// Passive health statistics shown with each node; may be null.
  const registry::HealthPolicy* health = nullptr;
  const registry::NodeRegistry* registry = nullptr;
  /// DNS for the endpoint check of registered nodes (blocking; the admin API runs on the blocking
  /// pool). Empty = registry::system_resolver().
  registry::EndpointPolicy::Resolver resolve;
  /// Called after a node was added or registered, so it is probed without waiting for the next round.
  std::function<void()> on_node_added;
};

/// The admin REST API under /admin/v1/: orgs, environments, API keys, org admin keys, the model
/// catalog and the audit log. Authenticates the operator token or an org admin key, enforces org
/// isolation, validates bodies, and writes one audit record per mutation (in the store, in the
/// same transaction). BLOCKING: every call touches the store, so run it on the blocking pool.
/// Thread-safe.
class AdminApi {
 public:
  explicit AdminApi(AdminDeps deps);
  ~AdminApi();
  HttpReply handle(const HttpCall& call);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cic::admin
