#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
  /// cic_upstream_requests_total{node,region,outcome}: every attempt on a node
  prometheus::Counter& upstream(const std::string& node, const std::string& region, const std::string& outcome);
  /// cic_upstream_time_to_first_byte_seconds{node,region}
  prometheus::Histogram& upstream_ttfb(const std::string& node, const std::string& region);
  /// cic_upstream_request_duration_seconds{node,region}: a whole attempt (streams: to the end)
  prometheus::Histogram& upstream_duration(const std::string& node, const std::string& region);
  /// cic_upstream_retries_total{outcome} (outcome = retried | budget_exhausted)
  prometheus::Counter& retries(const std::string& outcome);
  /// cic_region_fallbacks_total{from,to}: requests served outside their environment's region
  prometheus::Counter& region_fallbacks(const std::string& from, const std::string& to);
  /// cic_upstream_aborted_total{node,region}: requests cut off because their node was evicted
  prometheus::Counter& aborted(const std::string& node, const std::string& region);
  /// cic_tokens_total{model,kind} (kind = prompt | completion)
  prometheus::Counter& tokens(const std::string& model, const std::string& kind);
  /// cic_usage_records_total{outcome} (outcome = written | dropped | duplicate)
  prometheus::Counter& usage_records(const std::string& outcome);
  /// cic_limits_fallbacks_total: decisions taken on local shares because Redis was unavailable
  prometheus::Counter& limits_fallbacks();

  /// Runs `hook` right before every serialize(), e.g. to refresh gauges from live state.
  void on_collect(std::function<void()> hook);

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
  prometheus::Family<prometheus::Histogram>* upstream_duration_;
  prometheus::Family<prometheus::Counter>* retries_;
  prometheus::Family<prometheus::Counter>* region_fallbacks_;
  prometheus::Family<prometheus::Counter>* aborted_;
  mutable std::mutex hooks_mutex_;
  std::vector<std::function<void()>> hooks_;
};

}  // namespace cic::telemetry
