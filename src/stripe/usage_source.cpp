#include "cic/stripe/usage_source.hpp"

namespace cic::stripe {
namespace {

/// The store's hourly rollups (usage_hourly). insert_usage maintains them in the transaction that
/// writes the records, counting only records that were new, so a replayed usage batch changes
/// nothing here either.
class RollupUsageSource final : public HourlyUsageSource {
 public:
  explicit RollupUsageSource(store::Store& store) : store_(store) {}

  std::vector<UsageHour> hourly(std::int64_t from_ms, std::int64_t to_ms) override {
    store::UsageHourlyFilter filter;
    filter.from_ms = from_ms;
    filter.to_ms = to_ms;
    std::vector<UsageHour> out;
    for (auto& row : store_.list_usage_hourly(filter)) {
      out.push_back(UsageHour{std::move(row.org_id), std::move(row.environment_id), std::move(row.model),
                              std::move(row.region), row.hour_start, row.requests, row.prompt_tokens,
                              row.completion_tokens, row.cached_tokens});
    }
    return out;
  }

 private:
  store::Store& store_;
};

}  // namespace

std::unique_ptr<HourlyUsageSource> make_store_usage_source(store::Store& store) {
  return std::make_unique<RollupUsageSource>(store);
}

}  // namespace cic::stripe
