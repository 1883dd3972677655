// `routing:`, `health:` and `registry:` sections: how nodes are chosen, probed and registered.
#include <algorithm>

#include "cic/config/config.hpp"
#include "sections.hpp"

namespace cic::config {

const std::vector<std::string>& routing_strategy_names() {
  static const std::vector<std::string> names{"round_robin",    "least_connections", "latency_weighted",
                                              "cost_optimized", "load_aware",        "prefix_affinity"};
  return names;
}

const std::string& RoutingConfig::strategy_for(const std::string& region, const std::string& model) const {
  for (const auto& rule : rules) {
    if ((rule.region.empty() || rule.region == region) && (rule.model.empty() || rule.model == model)) {
      return rule.strategy;
    }
  }
  return default_strategy;
}

namespace detail {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;

bool known_strategy(const std::string& name) {
  const auto& names = routing_strategy_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string strategy_list() {
  std::string out;
  for (const auto& n : routing_strategy_names()) out += out.empty() ? n : ", " + n;
  return out;
}

void read_strategy(MapReader& m, std::string_view key, std::string& out) {
  std::string value = out;
  m.read_string(key, value);
  if (!known_strategy(value)) {
    m.issue(key, "unknown strategy \"" + value + "\" (one of: " + strategy_list() + ")");
    return;
  }
  out = value;
}

}  // namespace

void parse_routing(MapReader& root, RoutingConfig& out) {
  MapReader m = root.child("routing");
  read_strategy(m, "default_strategy", out.default_strategy);
  m.each("rules", [&](MapReader& item, std::size_t) {
    RoutingRule rule;
    item.read_string("region", rule.region);
    item.read_string("model", rule.model);
    rule.strategy.clear();
    item.read_string("strategy", rule.strategy);
    if (item.is_map()) {
      if (rule.strategy.empty()) {
        item.issue("strategy", "is required (one of: " + strategy_list() + ")");
      } else if (!known_strategy(rule.strategy)) {
        item.issue("strategy", "unknown strategy \"" + rule.strategy + "\" (one of: " + strategy_list() + ")");
      }
    }
    out.rules.push_back(std::move(rule));
  });
  m.read_double("retry_budget_ratio", out.retry_budget_ratio, 0.0, 1.0);
  m.read_int("min_retry_concurrency", out.min_retry_concurrency, 0, 100'000, "retries");
  m.read_ms("retry_backoff_base_ms", out.retry_backoff_base, 0, 60'000);
  m.read_ms("retry_backoff_max_ms", out.retry_backoff_max, 0, 60'000);
  m.read_ms("no_capacity_retry_after_ms", out.no_capacity_retry_after, 1'000, kHourMs);
  if (out.retry_backoff_max < out.retry_backoff_base) {
    m.issue("retry_backoff_max_ms", "must not be below retry_backoff_base_ms (" +
                                        std::to_string(out.retry_backoff_base.count()) + ")");
  }
}

void parse_health(MapReader& root, HealthConfig& out) {
  MapReader m = root.child("health");
  m.read_ms("interval_ms", out.interval, 100, kHourMs);
  m.read_ms("timeout_ms", out.timeout, 10, 600'000);
  m.read_ms("readiness_interval_ms", out.readiness_interval, 100, 24 * kHourMs);
  m.read_ms("metrics_interval_ms", out.metrics_interval, 0, kHourMs);
  if (out.metrics_interval.count() > 0 && out.metrics_interval.count() < 100) {
    m.issue("metrics_interval_ms", "must be 0 (off) or at least 100 ms, got " + std::to_string(out.metrics_interval.count()));
  }
  m.read_int("unhealthy_threshold", out.unhealthy_threshold, 1, 100, "probes");
  m.read_int("healthy_threshold", out.healthy_threshold, 1, 100, "probes");
  m.read_int("consecutive_failures", out.consecutive_failures, 1, 1000, "failures");
  m.read_ms("eject_base_ms", out.eject_base, 1, kHourMs);
  m.read_ms("eject_max_ms", out.eject_max, 1, 24 * kHourMs);
  m.read_double("max_ejected_share", out.max_ejected_share, 0.0, 1.0);
  if (out.eject_max < out.eject_base) {
    m.issue("eject_max_ms", "must not be below eject_base_ms (" + std::to_string(out.eject_base.count()) + ")");
  }
}

void parse_registry(MapReader& root, RegistryConfig& out) {
  MapReader m = root.child("registry");
  m.read_bool("allow_loopback_endpoints", out.allow_loopback_endpoints);
  m.read_bool("allow_private_endpoints", out.allow_private_endpoints);
  m.read_ms("heartbeat_timeout_ms", out.heartbeat_timeout, 1'000, 24 * kHourMs);
  m.read_ms("forget_after_ms", out.forget_after, 0, 30 * 24 * kHourMs);
}

}  // namespace detail
}  // namespace cic::config
