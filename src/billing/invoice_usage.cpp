#include "cic/billing/invoice_usage.hpp"

#include <chrono>
#include <map>
#include <tuple>

namespace cic::billing {

namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

std::int64_t floor_to(std::int64_t ms, std::int64_t unit) {
  std::int64_t q = ms / unit;
  if (ms % unit != 0 && ms < 0) --q;
  return q * unit;
}

using Key = std::tuple<std::int64_t, std::string, std::string, std::string, std::string>;

HourlyUsage& slot(std::map<Key, HourlyUsage>& rows, std::int64_t start, const std::string& org,
                  const std::string& env, const std::string& model, const std::string& region) {
  auto [it, fresh] = rows.try_emplace(Key{start, org, env, model, region});
  if (fresh) it->second = HourlyUsage{org, env, model, region, start, 0, {}};
  return it->second;
}

std::vector<HourlyUsage> values(std::map<Key, HourlyUsage>& rows) {
  std::vector<HourlyUsage> out;
  out.reserve(rows.size());
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  return out;
}

/// The store's hourly rollups (usage_hourly, kept by insert_usage in the same transaction as the
/// records). Same filter semantics and order as UsageSource promises.
class RollupUsageSource final : public UsageSource {
 public:
  explicit RollupUsageSource(store::Store& store) : store_(store) {}

  std::vector<HourlyUsage> hourly(const UsageFilter& filter) override {
    store::UsageHourlyFilter f;
    f.org_id = filter.org_id;
    f.environment_id = filter.environment_id;
    f.model = filter.model;
    f.from_ms = filter.from_ms;
    f.to_ms = filter.to_ms;
    std::vector<HourlyUsage> out;
    for (auto& r : store_.list_usage_hourly(f)) {
      out.push_back(HourlyUsage{std::move(r.org_id), std::move(r.environment_id), std::move(r.model),
                                std::move(r.region), r.hour_start, r.requests,
                                TokenCounts{r.prompt_tokens, r.completion_tokens, r.cached_tokens}});
    }
    return out;
  }

 private:
  store::Store& store_;
};

}  // namespace

std::unique_ptr<UsageSource> make_store_usage_source(store::Store& store) {
  return std::make_unique<RollupUsageSource>(store);
}

std::vector<HourlyUsage> group_by_day(const std::vector<HourlyUsage>& hourly) {
  std::map<Key, HourlyUsage> rows;
  for (const auto& h : hourly) {
    HourlyUsage& row = slot(rows, utc_day_start(h.hour_start_ms), h.org_id, h.environment_id, h.model, h.region);
    row.requests += h.requests;
    row.tokens += h.tokens;
  }
  return values(rows);
}

std::int64_t utc_hour_start(std::int64_t ms) { return floor_to(ms, kHourMs); }

std::int64_t utc_day_start(std::int64_t ms) { return floor_to(ms, kDayMs); }

std::int64_t utc_month_start(std::int64_t ms) {
  using namespace std::chrono;
  const sys_days day{days{floor_to(ms, kDayMs) / kDayMs}};
  const year_month_day ymd{day};
  return duration_cast<milliseconds>(sys_days{ymd.year() / ymd.month() / 1}.time_since_epoch()).count();
}

std::int64_t utc_next_month_start(std::int64_t ms) {
  using namespace std::chrono;
  const sys_days day{days{floor_to(ms, kDayMs) / kDayMs}};
  const year_month_day ymd{day};
  const year_month next = ymd.year() / ymd.month() + months{1};
  return duration_cast<milliseconds>(sys_days{next / 1}.time_since_epoch()).count();
}

}  // namespace cic::billing
