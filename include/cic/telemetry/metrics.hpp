#pragma once
#include <memory>
#include <string>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T> class Family;
}  // namespace prometheus

namespace cic::telemetry {

/// The process's Prometheus registry and the gateway's own metric families. Thread-safe.
/// Served as text on the admin listener's /metrics.
class Metrics {
 public:
  Metrics();
  ~Metrics();

  prometheus::Registry& registry() { return *registry_; }
  /// The exposition text of every registered family.
  std::string serialize() const;

  /// cic_http_requests_total{route,status}
  prometheus::Counter& requests(const std::string& route, int status);
  /// cic_http_request_duration_seconds{route}
  prometheus::Histogram& request_duration(const std::string& route);
  /// cic_http_connections_open
  prometheus::Gauge& connections();
  /// cic_upstream_requests_total{node,outcome}
  prometheus::Counter& upstream(const std::string& node, const std::string& outcome);
  /// cic_upstream_time_to_first_byte_seconds{node}
  prometheus::Histogram& upstream_ttfb(const std::string& node);
  /// cic_tokens_total{model,kind} (kind = prompt | completion)
  prometheus::Counter& tokens(const std::string& model, const std::string& kind);
  /// cic_usage_records_total{outcome} (outcome = written | dropped | duplicate)
  prometheus::Counter& usage_records(const std::string& outcome);
  /// cic_limits_fallbacks_total: decisions taken on local shares because Redis was unavailable
  prometheus::Counter& limits_fallbacks();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Gauge>* gauges_;
  prometheus::Family<prometheus::Counter>* upstream_;
  prometheus::Family<prometheus::Histogram>* ttfb_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* usage_;
  prometheus::Counter* limits_fallbacks_;
};

}  // namespace cic::telemetry
