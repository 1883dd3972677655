#pragma once
// Private to the app module: the node table with everything that keeps it current — persistence,
// the active prober, deadline ticks and per-node metrics.
#include <functional>
#include <memory>
#include <string>

#include "cic/common/clock.hpp"
#include "cic/config/config.hpp"
#include "cic/registry/health_policy.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/registry/node_table.hpp"
#include "cic/store/store.hpp"
#include "cic/telemetry/metrics.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace cic::app {

class NodeService {
 public:
  NodeService(const config::Config& config, const Clock& clock, store::Store& store, boost::asio::io_context& io,
              boost::asio::thread_pool& blocking, registry::NodeRegistry& registry, registry::HealthPolicy& health,
              telemetry::Metrics& metrics);
  ~NodeService();

  /// BLOCKING (reads the store): the persisted admin/agent nodes plus the config file's nodes.
  void load();
  registry::NodeTable& table();

  /// Starts the prober (first round at once) and the deadline ticker, on `io`. `abort` cuts off
  /// the requests still on a node whose eviction deadline passed.
  void start(std::function<void(const std::string& node_id)> abort);
  /// `done` runs on the io thread once every node known at start() got its first probe answers
  /// (or health.timeout passed), so the process announces readiness with its pools filled.
  void when_first_round_done(std::function<void()> done);
  /// A node was added or registered: probe now rather than at the next round. Thread-safe.
  void probe_now();
  /// Stops probing and ticking. Thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cic::app
