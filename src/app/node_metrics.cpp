#include "node_metrics.hpp"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <set>

namespace cic::app {
namespace {

prometheus::Family<prometheus::Gauge>* family(telemetry::Metrics& metrics, const char* name, const char* help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(metrics.registry());
}

}  // namespace

NodeMetrics::NodeMetrics(telemetry::Metrics& metrics, const registry::NodeTable& table,
                         const registry::NodeRegistry& registry, const registry::HealthPolicy& health)
    : table_(table), registry_(registry), health_(health) {
  up_ = family(metrics, "cic_node_up", "1 when the node takes new requests (ready, healthy, not ejected)");
  state_ = family(metrics, "cic_node_state", "1 for the node's lifecycle state (launching, ready, draining, drained, dead)");
  in_flight_ = family(metrics, "cic_node_in_flight", "Requests this gateway has on the node now");
  score_ = family(metrics, "cic_node_health_score", "Health score 0..1: (1 - error rate)^2 x speed relative to the pool median; 0 when ejected");
  ewma_ = family(metrics, "cic_node_latency_ewma_seconds", "Exponentially weighted moving average of the node's request latency");
  latency_ = family(metrics, "cic_node_latency_seconds", "Latency percentiles over the node's last 256 requests");
  error_rate_ = family(metrics, "cic_node_error_rate", "Share of failed attempts over the node's last 256 requests");
  tokens_per_sec_ = family(metrics, "cic_node_tokens_per_second", "Generated tokens per second of request time, last 256 requests");
  ejected_ = family(metrics, "cic_node_ejected", "1 while the node is ejected by passive health checks");
  ejections_ = family(metrics, "cic_node_ejections", "Ejections of the node by passive health checks since start");
  engine_ = family(metrics, "cic_node_engine_requests", "Requests running and waiting in the node's engine (scraped from its /metrics)");
  kv_cache_ = family(metrics, "cic_node_kv_cache_usage_ratio", "KV-cache usage of the node's engine, 0..1 (scraped)");
}

prometheus::Gauge& NodeMetrics::gauge(prometheus::Family<prometheus::Gauge>& family, Series& series,
                                      std::map<std::string, std::string> labels) {
  prometheus::Gauge& g = family.Add(labels);
  for (const auto& [f, existing] : series.gauges) {
    if (existing == &g) return g;
  }
  series.gauges.emplace_back(&family, &g);
  return g;
}

void NodeMetrics::refresh() {
  std::lock_guard lock(mutex_);
  auto snapshot = registry_.snapshot();
  std::set<std::string> present;
  for (const registry::NodeInfo& info : table_.list()) {
    const std::string& id = info.spec.id;
    present.insert(id);
    Series& series = series_[id];
    std::map<std::string, std::string> labels{{"node", id}, {"region", info.spec.region}};
    auto with = [&](const char* key, const std::string& value) {
      auto l = labels;
      l[key] = value;
      return l;
    };
    const registry::Node* node = snapshot->find(id);
    registry::NodeHealthSnapshot stats;
    if (node) {
      const auto& pool = node->models.empty() ? std::vector<const registry::Node*>{}
                                              : snapshot->pool(node->region, node->models.front());
      stats = health_.stats(*node, pool);
    }
    const bool up = node && node->routable() && !stats.ejected;
    gauge(*up_, series, labels).Set(up ? 1 : 0);
    for (auto state : {registry::NodeState::kLaunching, registry::NodeState::kReady, registry::NodeState::kDraining,
                       registry::NodeState::kDrained, registry::NodeState::kDead}) {
      gauge(*state_, series, with("state", registry::to_string(state))).Set(info.state == state ? 1 : 0);
    }
    const registry::NodeLoad& load = *info.load;
    gauge(*in_flight_, series, labels).Set(static_cast<double>(load.in_flight.load(std::memory_order_relaxed)));
    gauge(*score_, series, labels).Set(stats.score);
    gauge(*ewma_, series, labels).Set(static_cast<double>(stats.ewma_latency_us) / 1e6);
    gauge(*latency_, series, with("quantile", "0.5")).Set(static_cast<double>(stats.p50_us) / 1e6);
    gauge(*latency_, series, with("quantile", "0.95")).Set(static_cast<double>(stats.p95_us) / 1e6);
    gauge(*latency_, series, with("quantile", "0.99")).Set(static_cast<double>(stats.p99_us) / 1e6);
    gauge(*error_rate_, series, labels).Set(stats.error_rate);
    gauge(*tokens_per_sec_, series, labels).Set(stats.tokens_per_sec);
    gauge(*ejected_, series, labels).Set(stats.ejected ? 1 : 0);
    gauge(*ejections_, series, labels).Set(static_cast<double>(stats.ejections));
    gauge(*engine_, series, with("kind", "running")).Set(static_cast<double>(load.reported_running.load(std::memory_order_relaxed)));
    gauge(*engine_, series, with("kind", "waiting")).Set(static_cast<double>(load.reported_waiting.load(std::memory_order_relaxed)));
    gauge(*kv_cache_, series, labels).Set(static_cast<double>(load.kv_cache_usage_milli.load(std::memory_order_relaxed)) / 1000.0);
  }
  for (auto it = series_.begin(); it != series_.end();) {
    if (present.count(it->first)) {
      ++it;
      continue;
    }
    for (auto& [f, g] : it->second.gauges) f->Remove(g);
    it = series_.erase(it);
  }
}

}  // namespace cic::app
