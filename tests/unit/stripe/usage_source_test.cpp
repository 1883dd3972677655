// The store adapter Stripe reads usage through (billing::make_store_usage_source): hourly
// rollups, bounded by [from, to), with their token counts; a replayed batch of usage records
// changes nothing (the rollups count only records that were new).
#include <gtest/gtest.h>

#include "cic/billing/invoice_usage.hpp"
#include "stripe_test_support.hpp"

namespace cic::stripe {
namespace {

using testing::TempStore;

constexpr std::int64_t kH = 3'600'000;
constexpr std::int64_t kT0 = 1'718'611'200'000;

store::UsageRecord record(const std::string& id, const std::string& org, std::int64_t at, std::int64_t prompt,
                          std::int64_t completion) {
  store::UsageRecord r;
  r.request_id = id;
  r.org_id = org;
  r.environment_id = "env_1";
  r.api_key_id = "key_1";
  r.model = "llama";
  r.region = "india";
  r.node_id = "n1";
  r.endpoint = "chat.completions";
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  r.status = 200;
  r.created_at = at;
  return r;
}

TEST(StoreUsageSourceTest, ReadsHourlyRollupsInRange) {
  TempStore store;
  store::Org org = store->create_org(store::Org{.name = "acme"});
  const std::vector<store::UsageRecord> batch = {
      record("req_1", org.id, kT0 + 10, 100, 20), record("req_2", org.id, kT0 + kH - 1, 5, 5),
      record("req_3", org.id, kT0 + kH, 7, 0), record("req_4", org.id, kT0 + 3 * kH, 1, 1)};
  store->insert_usage(batch);
  store->insert_usage(batch);  // replayed: the rollups do not move
  auto source = billing::make_store_usage_source(*store);
  auto hours = [&](std::int64_t from, std::int64_t to) {
    return source->hourly(billing::UsageFilter{.from_ms = from, .to_ms = to});
  };
  auto rows = hours(kT0, kT0 + 2 * kH);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].hour_start_ms, kT0);
  EXPECT_EQ(rows[0].org_id, org.id);
  EXPECT_EQ(rows[0].requests, 2);
  EXPECT_EQ(rows[0].tokens.total(), 130);
  EXPECT_EQ(rows[1].hour_start_ms, kT0 + kH);
  EXPECT_EQ(rows[1].tokens.total(), 7);
  EXPECT_EQ(hours(kT0 + 3 * kH, kT0 + 4 * kH).size(), 1u);
  EXPECT_TRUE(hours(kT0 + 4 * kH, kT0 + 5 * kH).empty());
}

}  // namespace
}  // namespace cic::stripe
