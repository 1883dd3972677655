// Hourly usage for invoices and the usage API: the UTC calendar, daily folding, and the
// store-backed source (the store's hourly rollups) against a real SQLite store.
#include <gtest/gtest.h>

#include <filesystem>

#include "cic/billing/invoice_usage.hpp"
#include "cic/common/ids.hpp"

namespace cic::billing {
namespace {

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;
// 2024-02-29T00:00:00Z (a leap day) and neighbours.
constexpr std::int64_t kFeb1_2024 = 1'706'745'600'000;
constexpr std::int64_t kFeb29_2024 = 1'709'164'800'000;
constexpr std::int64_t kMar1_2024 = 1'709'251'200'000;
constexpr std::int64_t kDec1_2024 = 1'733'011'200'000;
constexpr std::int64_t kJan1_2025 = 1'735'689'600'000;

struct CalendarCase {
  std::int64_t at;
  std::int64_t hour, day, month, next_month;
};

class PricingCalendar : public ::testing::TestWithParam<CalendarCase> {};

TEST_P(PricingCalendar, UtcBoundaries) {
  const auto& c = GetParam();
  EXPECT_EQ(utc_hour_start(c.at), c.hour);
  EXPECT_EQ(utc_day_start(c.at), c.day);
  EXPECT_EQ(utc_month_start(c.at), c.month);
  EXPECT_EQ(utc_next_month_start(c.at), c.next_month);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PricingCalendar,
    ::testing::Values(CalendarCase{kFeb29_2024, kFeb29_2024, kFeb29_2024, kFeb1_2024, kMar1_2024},
                      CalendarCase{kFeb29_2024 + 13 * kHour + 59 * 60'000 + 999, kFeb29_2024 + 13 * kHour,
                                   kFeb29_2024, kFeb1_2024, kMar1_2024},
                      CalendarCase{kMar1_2024 - 1, kMar1_2024 - kHour, kFeb29_2024, kFeb1_2024, kMar1_2024},
                      CalendarCase{kDec1_2024 + 40 * kDay / 2, kDec1_2024 + 20 * kDay, kDec1_2024 + 20 * kDay,
                                   kDec1_2024, kJan1_2025},
                      CalendarCase{kJan1_2025, kJan1_2025, kJan1_2025, kJan1_2025, 1'738'368'000'000}));

HourlyUsage hour_row(std::string org, std::string model, std::int64_t hour, std::int64_t requests, std::int64_t prompt) {
  return HourlyUsage{std::move(org), "env_1", std::move(model), "india", hour, requests, TokenCounts{prompt, 1, 0}};
}

TEST(PricingUsage, GroupByDaySumsHoursOfAUtcDay) {
  std::vector<HourlyUsage> hours = {
      hour_row("org_a", "m", kFeb29_2024, 1, 10),
      hour_row("org_a", "m", kFeb29_2024 + 23 * kHour, 2, 20),
      hour_row("org_b", "m", kFeb29_2024 + 5 * kHour, 4, 40),
      hour_row("org_a", "m", kMar1_2024, 8, 80),
  };
  auto days = group_by_day(hours);
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(days[0].org_id, "org_a");
  EXPECT_EQ(days[0].hour_start_ms, kFeb29_2024);
  EXPECT_EQ(days[0].requests, 3);
  EXPECT_EQ(days[0].tokens.prompt, 30);
  EXPECT_EQ(days[0].tokens.completion, 2);
  EXPECT_EQ(days[1].org_id, "org_b");
  EXPECT_EQ(days[2].hour_start_ms, kMar1_2024);
  EXPECT_EQ(days[2].requests, 8);
}

class PricingStoreUsage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / cic::new_id("cic_pricing");
    store_ = store::make_sqlite_store((dir_ / "cic.db").string());
    store_->migrate();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static store::UsageRecord record(std::string id, std::string org, std::string model, std::int64_t at,
                                   std::int64_t prompt, std::int64_t completion, std::int64_t cached = 0) {
    store::UsageRecord r;
    r.request_id = std::move(id);
    r.org_id = std::move(org);
    r.environment_id = "env_" + r.org_id;
    r.api_key_id = "key_1";
    r.model = std::move(model);
    r.region = "india";
    r.node_id = "n1";
    r.endpoint = "chat.completions";
    r.prompt_tokens = prompt;
    r.completion_tokens = completion;
    r.cached_tokens = cached;
    r.status = 200;
    r.created_at = at;
    return r;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(PricingStoreUsage, AggregatesRecordsIntoHours) {
  const std::int64_t h0 = kFeb29_2024 + 10 * kHour;
  store_->insert_usage({
      record("r1", "org_a", "m", h0 + 1, 100, 10, 50),
      record("r2", "org_a", "m", h0 + kHour - 1, 200, 20),
      record("r3", "org_a", "m", h0 + kHour, 400, 40),  // next hour
      record("r4", "org_b", "m", h0 + 5, 800, 80),
      record("r5", "org_a", "x", h0 + 6, 1, 1),
      record("r0", "org_a", "m", h0 - 1, 9, 9),  // the hour before
  });
  auto source = make_store_usage_source(*store_);

  auto all = source->hourly(UsageFilter{});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].hour_start_ms, h0 - kHour);

  auto rows = source->hourly(UsageFilter{"org_a", "", "m", h0, h0 + 2 * kHour});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].hour_start_ms, h0);
  EXPECT_EQ(rows[0].requests, 2);
  EXPECT_EQ(rows[0].tokens.prompt, 300);
  EXPECT_EQ(rows[0].tokens.completion, 30);
  EXPECT_EQ(rows[0].tokens.cached, 50);
  EXPECT_EQ(rows[0].environment_id, "env_org_a");
  EXPECT_EQ(rows[0].region, "india");
  EXPECT_EQ(rows[1].hour_start_ms, h0 + kHour);
  EXPECT_EQ(rows[1].requests, 1);

  // `to` is exclusive and applies to the hour's start; `from` inside an hour skips that hour.
  EXPECT_EQ(source->hourly(UsageFilter{"org_a", "", "m", h0, h0 + kHour}).size(), 1u);
  EXPECT_EQ(source->hourly(UsageFilter{"org_a", "", "m", h0 + 1, 0}).size(), 1u);
  EXPECT_EQ(source->hourly(UsageFilter{"", "env_org_b", "", 0, 0}).size(), 1u);
  EXPECT_TRUE(source->hourly(UsageFilter{"org_c", "", "", 0, 0}).empty());
}

TEST_F(PricingStoreUsage, ManyRecordsOfOneHourAreOneRowAndReplaysCountOnce) {
  const std::int64_t t = kFeb29_2024 + 3 * kHour + 17;
  std::vector<store::UsageRecord> batch;
  // Ids built piecewise: `"a" + std::to_string(i)` trips a GCC 12 -Wrestrict false positive.
  auto id = [](char prefix, int i) {
    std::string s(1, prefix);
    s += std::to_string(i);
    return s;
  };
  for (int i = 0; i < 2'000; ++i) batch.push_back(record(id('a', i), "org_a", "m", t + i, 1, 2, i % 2));
  ASSERT_EQ(store_->insert_usage(batch), batch.size());
  ASSERT_EQ(store_->insert_usage(batch), 0u);  // a replayed batch changes nothing
  auto rows = make_store_usage_source(*store_)->hourly(UsageFilter{});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour_start_ms, kFeb29_2024 + 3 * kHour);
  EXPECT_EQ(rows[0].requests, 2'000);
  EXPECT_EQ(rows[0].tokens.prompt, 2'000);
  EXPECT_EQ(rows[0].tokens.completion, 4'000);
  EXPECT_EQ(rows[0].tokens.cached, 1'000);
}

}  // namespace
}  // namespace cic::billing
