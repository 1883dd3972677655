#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "cic/auth/key_cache.hpp"
#include "cic/auth/key_hasher.hpp"
#include "cic/auth/last_used_tracker.hpp"
#include "cic/billing/usage_sink.hpp"
#include "cic/common/clock.hpp"
#include "cic/common/http_call.hpp"
#include "cic/config/config.hpp"
#include "cic/limits/limiter.hpp"
#include "cic/registry/health_policy.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/router/router.hpp"
#include "cic/store/store.hpp"
#include "cic/telemetry/metrics.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace cic::gateway {

/// Everything the gateway uses, owned by the caller (App) and outliving the Gateway.
struct GatewayDeps {
  const config::Config& config;
  const Clock& clock;
  boost::asio::thread_pool& blocking;
  store::Store& store;
  const auth::KeyHasher& hasher;
  auth::KeyCache& key_cache;
  auth::LastUsedTracker& last_used;
  const registry::NodeRegistry& registry;
  const router::Router& router;
  billing::UsageSink& usage;
  telemetry::Metrics& metrics;
  limits::Limiter& limiter;
  registry::HealthPolicy& health;
  /// The admin REST API (/admin/v1/ on the admin listener), run on `blocking`; empty = none.
  std::function<HttpReply(const HttpCall&)> admin_api;
};

/// The client API listener (HTTP or HTTPS) and the admin listener (metrics, health). Runs on the
/// caller's io_contexts, each of which must be run by exactly one thread: accepted connections are
/// dealt round-robin to the contexts and stay there, so connection state needs no locks or
/// strands. Start, then run the contexts; shut down from any
/// thread.
class Gateway {
 public:
  Gateway(std::vector<boost::asio::io_context*> contexts, GatewayDeps deps);
  ~Gateway();

  /// Binds both listeners and starts accepting. Throws on bind or TLS setup errors.
  void start();
  std::uint16_t http_port() const;
  std::uint16_t admin_port() const;

  /// Stops accepting, closes idle connections, lets in-flight requests and streams finish, and
  /// calls `on_drained` (on a loop thread) when none is left or `config.server.shutdown_grace`
  /// has passed, whichever comes first. Thread-safe; later calls are ignored.
  void shutdown(std::function<void()> on_drained);
  bool draining() const;

  /// Cuts off every request still talking to `node_id` (its eviction deadline passed), on every
  /// loop thread. Thread-safe; returns at once.
  void abort_node(const std::string& node_id);
  std::size_t active_requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cic::gateway
