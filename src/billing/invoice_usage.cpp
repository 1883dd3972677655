#include "cic/billing/invoice_usage.hpp"

#include <chrono>
#include <map>
#include <tuple>

namespace cic::billing {

namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;
constexpr std::size_t kPage = 10'000;

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

bool matches(const UsageFilter& f, const store::UsageRecord& r, std::int64_t hour) {
  if (!f.org_id.empty() && r.org_id != f.org_id) return false;
  if (!f.environment_id.empty() && r.environment_id != f.environment_id) return false;
  if (!f.model.empty() && r.model != f.model) return false;
  return hour >= f.from_ms && (f.to_ms == 0 || hour < f.to_ms);
}

/// Aggregates raw usage records (Store::list_usage pages, oldest first) into hourly rows.
class RecordUsageSource final : public UsageSource {
 public:
  explicit RecordUsageSource(store::Store& store) : store_(store) {}

  std::vector<HourlyUsage> hourly(const UsageFilter& filter) override {
    std::map<Key, HourlyUsage> rows;
    // Records of the first hour that starts at or after from_ms (list_usage filters created_at).
    std::int64_t cursor_ms = floor_to(filter.from_ms, kHourMs);
    if (cursor_ms < filter.from_ms) cursor_ms += kHourMs;
    // Pages are ordered by (created_at, request_id) and start at created_at >= cursor_ms, so the
    // records of the cursor's millisecond up to cursor_id come again and are skipped.
    std::string cursor_id;
    bool started = false;
    std::size_t limit = kPage;
    for (;;) {
      const auto page = store_.list_usage(cursor_ms, limit);
      bool progressed = false;
      for (const auto& r : page) {
        if (started && r.created_at == cursor_ms && r.request_id <= cursor_id) continue;
        progressed = started = true;
        cursor_ms = r.created_at;
        cursor_id = r.request_id;
        const std::int64_t hour = floor_to(r.created_at, kHourMs);
        if (filter.to_ms != 0 && hour >= filter.to_ms) return values(rows);
        if (!matches(filter, r, hour)) continue;
        HourlyUsage& row = slot(rows, hour, r.org_id, r.environment_id, r.model, r.region);
        row.requests += 1;
        row.tokens += TokenCounts{r.prompt_tokens, r.completion_tokens, r.cached_tokens};
      }
      if (page.size() < limit) break;
      // A page that was all seen before (one busy millisecond): ask for more rows at once.
      if (!progressed) limit *= 2;
    }
    return values(rows);
  }

 private:
  store::Store& store_;
};

}  // namespace

std::unique_ptr<UsageSource> make_store_usage_source(store::Store& store) {
  return std::make_unique<RecordUsageSource>(store);
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
