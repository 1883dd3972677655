#pragma once
// Where invoices and the usage API get hourly usage from, and the UTC calendar they cut it with.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cic/billing/price_book.hpp"
#include "cic/store/store.hpp"

namespace cic::billing {

/// Which usage to read. Empty strings match everything; times are unix ms, [from_ms, to_ms)
/// applies to an hour's start; to_ms 0 = no upper bound.
struct UsageFilter {
  std::string org_id;
  std::string environment_id;
  std::string model;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
};

/// One hour of usage of one (org, environment, model, region).
struct HourlyUsage {
  std::string org_id;
  std::string environment_id;
  std::string model;
  std::string region;
  std::int64_t hour_start_ms = 0;  // UTC, a multiple of 3,600,000
  std::int64_t requests = 0;
  TokenCounts tokens;
};

/// Hourly usage rows. BLOCKING (reads the store): call it on the blocking pool.
class UsageSource {
 public:
  virtual ~UsageSource() = default;
  /// Rows matching `filter`, ordered by hour, org, environment, model, region; one row per key.
  virtual std::vector<HourlyUsage> hourly(const UsageFilter& filter) = 0;
};

/// Hourly usage from the store's rollups (Store::list_usage_hourly, table usage_hourly).
std::unique_ptr<UsageSource> make_store_usage_source(store::Store& store);

/// Folds hourly rows into UTC days: hour_start_ms becomes the day's start; same order and keys.
std::vector<HourlyUsage> group_by_day(const std::vector<HourlyUsage>& hourly);

// UTC calendar helpers (unix ms in, unix ms out).
std::int64_t utc_hour_start(std::int64_t ms);
std::int64_t utc_day_start(std::int64_t ms);
std::int64_t utc_month_start(std::int64_t ms);
std::int64_t utc_next_month_start(std::int64_t ms);

}  // namespace cic::billing
