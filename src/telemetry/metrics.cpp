#include "cic/telemetry/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace cic::telemetry {
namespace {

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                               0.1,    0.25,  0.5,    1,     2.5,   5,     10,
                                                               30,     60,    120};
  return buckets;
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("cic_http_requests_total")
                   .Help("Client API requests by route and HTTP status")
                   .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("cic_http_request_duration_seconds")
                   .Help("Client API request duration (for streams: until the last chunk)")
                   .Register(*registry_);
  gauges_ = &prometheus::BuildGauge().Name("cic_http_open").Help("Open client and admin connections").Register(*registry_);
  upstream_ = &prometheus::BuildCounter()
                   .Name("cic_upstream_requests_total")
                   .Help("Requests sent to model nodes by outcome")
                   .Register(*registry_);
  ttfb_ = &prometheus::BuildHistogram()
               .Name("cic_upstream_time_to_first_byte_seconds")
               .Help("Time from sending a request to a node until its response headers")
               .Register(*registry_);
  tokens_ = &prometheus::BuildCounter().Name("cic_tokens_total").Help("Tokens served, by model and kind").Register(*registry_);
  usage_ = &prometheus::BuildCounter()
                .Name("cic_usage_records_total")
                .Help("Usage records by outcome of their write to the store")
                .Register(*registry_);
  limits_fallbacks_ = &prometheus::BuildCounter()
                           .Name("cic_limits_fallbacks_total")
                           .Help("Limit decisions taken on local shares because Redis was unavailable")
                           .Register(*registry_)
                           .Add({});
  upstream_duration_ = &prometheus::BuildHistogram()
                            .Name("cic_upstream_request_duration_seconds")
                            .Help("Duration of one attempt on a model node (streams: until the last chunk)")
                            .Register(*registry_);
  retries_ = &prometheus::BuildCounter()
                  .Name("cic_upstream_retries_total")
                  .Help("Retries on another node before the first byte, and retries refused by the retry budget")
                  .Register(*registry_);
  region_fallbacks_ = &prometheus::BuildCounter()
                           .Name("cic_region_fallbacks_total")
                           .Help("Requests served in another region than their environment's")
                           .Register(*registry_);
  aborted_ = &prometheus::BuildCounter()
                  .Name("cic_upstream_aborted_total")
                  .Help("Requests cut off because their node reached its eviction deadline")
                  .Register(*registry_);
}

Metrics::~Metrics() = default;

void Metrics::on_collect(std::function<void()> hook) {
  std::lock_guard lock(hooks_mutex_);
  hooks_.push_back(std::move(hook));
}

std::string Metrics::serialize() const {
  {
    std::lock_guard lock(hooks_mutex_);
    for (const auto& hook : hooks_) hook();
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

prometheus::Counter& Metrics::requests(const std::string& route, int status) {
  return requests_->Add({{"route", route}, {"status", std::to_string(status)}});
}

prometheus::Histogram& Metrics::request_duration(const std::string& route) {
  return duration_->Add({{"route", route}}, latency_buckets());
}

prometheus::Gauge& Metrics::connections() { return gauges_->Add({{"what", "connections"}}); }

prometheus::Counter& Metrics::upstream(const std::string& node, const std::string& region, const std::string& outcome) {
  return upstream_->Add({{"node", node}, {"region", region}, {"outcome", outcome}});
}

prometheus::Histogram& Metrics::upstream_ttfb(const std::string& node, const std::string& region) {
  return ttfb_->Add({{"node", node}, {"region", region}}, latency_buckets());
}

prometheus::Counter& Metrics::tokens(const std::string& model, const std::string& kind) {
  return tokens_->Add({{"model", model}, {"kind", kind}});
}

prometheus::Counter& Metrics::usage_records(const std::string& outcome) {
  return usage_->Add({{"outcome", outcome}});
}

prometheus::Counter& Metrics::limits_fallbacks() { return *limits_fallbacks_; }

}  // namespace cic::telemetry

namespace cic::telemetry {

prometheus::Histogram& Metrics::upstream_duration(const std::string& node, const std::string& region) {
  return upstream_duration_->Add({{"node", node}, {"region", region}}, latency_buckets());
}

prometheus::Counter& Metrics::retries(const std::string& outcome) { return retries_->Add({{"outcome", outcome}}); }

prometheus::Counter& Metrics::region_fallbacks(const std::string& from, const std::string& to) {
  return region_fallbacks_->Add({{"from", from}, {"to", to}});
}

prometheus::Counter& Metrics::aborted(const std::string& node, const std::string& region) {
  return aborted_->Add({{"node", node}, {"region", region}});
}

}  // namespace cic::telemetry
