#pragma once
// Private to the app module: per-node gauges, refreshed from live state at every /metrics scrape.
#include <map>
#include <mutex>
#include <string>

#include "cic/registry/health_policy.hpp"
#include "cic/registry/node_registry.hpp"
#include "cic/registry/node_table.hpp"
#include "cic/telemetry/metrics.hpp"

namespace prometheus {
class Gauge;
class Counter;
template <typename T> class Family;
}  // namespace prometheus

namespace cic::app {

/// cic_node_* families: up, state, in-flight, health score, latency (EWMA and window
/// percentiles), error rate, tokens/s, ejections, engine queue and KV-cache gauges. Series of
/// nodes that left the table are removed.
class NodeMetrics {
 public:
  NodeMetrics(telemetry::Metrics& metrics, const registry::NodeTable& table, const registry::NodeRegistry& registry,
              const registry::HealthPolicy& health);
  /// Reads the table and the health statistics into the gauges. Thread-safe.
  void refresh();

 private:
  struct Series;
  prometheus::Gauge& gauge(prometheus::Family<prometheus::Gauge>& family, Series& series,
                           std::map<std::string, std::string> labels);

  const registry::NodeTable& table_;
  const registry::NodeRegistry& registry_;
  const registry::HealthPolicy& health_;
  std::mutex mutex_;
  prometheus::Family<prometheus::Gauge>* up_;
  prometheus::Family<prometheus::Gauge>* state_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Gauge>* score_;
  prometheus::Family<prometheus::Gauge>* ewma_;
  prometheus::Family<prometheus::Gauge>* latency_;
  prometheus::Family<prometheus::Gauge>* error_rate_;
  prometheus::Family<prometheus::Gauge>* tokens_per_sec_;
  prometheus::Family<prometheus::Gauge>* ejected_;
  prometheus::Family<prometheus::Gauge>* ejections_;
  prometheus::Family<prometheus::Gauge>* engine_;
  prometheus::Family<prometheus::Gauge>* kv_cache_;
  struct Series {
    std::vector<std::pair<prometheus::Family<prometheus::Gauge>*, prometheus::Gauge*>> gauges;
  };
  std::map<std::string, Series> series_;  // by node id
};

}  // namespace cic::app
