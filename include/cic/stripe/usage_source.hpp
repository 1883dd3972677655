#pragma once
// Where Stripe reporting and alerts read usage from: hourly token totals per (org, environment,
// model, region). A small interface of this module's own, so the reporter and the alert rules do
// not depend on how the store keeps its rollups.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cic/store/store.hpp"

namespace cic::stripe {

/// One hour of usage of one (org, environment, model, region).
struct UsageHour {
  std::string org_id;
  std::string environment_id;
  std::string model;
  std::string region;
  std::int64_t hour_start = 0;  // unix ms, a multiple of 3,600,000
  std::int64_t requests = 0;
  std::int64_t prompt_tokens = 0;  // cached tokens included, as in OpenAI's usage
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t total_tokens() const { return prompt_tokens + completion_tokens; }
};

class HourlyUsageSource {
 public:
  virtual ~HourlyUsageSource() = default;
  /// Rows whose hour_start lies in [from_ms, to_ms), ordered by hour_start. BLOCKING (store).
  virtual std::vector<UsageHour> hourly(std::int64_t from_ms, std::int64_t to_ms) = 0;
};

/// Hourly usage from the store's rollups (Store::list_usage_hourly).
std::unique_ptr<HourlyUsageSource> make_store_usage_source(store::Store& store);

}  // namespace cic::stripe
