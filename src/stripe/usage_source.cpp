#include "cic/stripe/usage_source.hpp"

#include "cic/billing/invoice_usage.hpp"

namespace cic::stripe {
namespace {

/// Hourly usage through the billing module's UsageSource, the one place that knows how the store
/// keeps usage (raw records aggregated per hour until the hourly rollups exist, then the rollups).
class BillingUsageSource final : public HourlyUsageSource {
 public:
  explicit BillingUsageSource(store::Store& store) : source_(billing::make_store_usage_source(store)) {}

  std::vector<UsageHour> hourly(std::int64_t from_ms, std::int64_t to_ms) override {
    billing::UsageFilter filter;
    filter.from_ms = from_ms;
    filter.to_ms = to_ms;
    std::vector<UsageHour> out;
    for (auto& row : source_->hourly(filter)) {
      out.push_back(UsageHour{std::move(row.org_id), std::move(row.environment_id), std::move(row.model),
                              std::move(row.region), row.hour_start_ms, row.requests, row.tokens.prompt,
                              row.tokens.completion, row.tokens.cached});
    }
    return out;
  }

 private:
  std::unique_ptr<billing::UsageSource> source_;
};

}  // namespace

std::unique_ptr<HourlyUsageSource> make_store_usage_source(store::Store& store) {
  return std::make_unique<BillingUsageSource>(store);
}

}  // namespace cic::stripe
