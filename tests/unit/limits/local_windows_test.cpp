#include "cic/limits/windows.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>

namespace cic::limits {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// Unix milliseconds of a UTC date and time, from <chrono>'s calendar: an oracle independent of the
// arithmetic in windows.cpp.
std::int64_t utc_ms(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0, int ms = 0) {
  auto day = std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
  auto t = day + std::chrono::hours(hh) + std::chrono::minutes(mm) + std::chrono::seconds(ss) + milliseconds(ms);
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

TEST(LocalWindowsTest, MinuteWindowIsFloorOfUnixMinutes) {
  EXPECT_EQ(minute_window(0), 0);
  EXPECT_EQ(minute_window(59'999), 0);
  EXPECT_EQ(minute_window(60'000), 1);
  EXPECT_EQ(minute_window(1'700'000'000'000), 28'333'333);
  EXPECT_EQ(minute_window(-1), -1);
  EXPECT_EQ(minute_window(-60'000), -1);
  EXPECT_EQ(minute_window(-60'001), -2);
}

TEST(LocalWindowsTest, UntilMinuteEndCountsToTheNextMinute) {
  EXPECT_EQ(until_minute_end(0), 60'000ms);
  EXPECT_EQ(until_minute_end(59'999), 1ms);
  EXPECT_EQ(until_minute_end(60'000), 60'000ms);
  EXPECT_EQ(until_minute_end(1'700'000'000'000), 40'000ms);  // 22:13:20 UTC
  EXPECT_EQ(until_minute_end(-1), 1ms);
}

TEST(LocalWindowsTest, MonthIdsAreYearTimesTwelvePlusMonthIndex) {
  EXPECT_EQ(month_window(0), 1970 * 12);
  EXPECT_EQ(month_window(utc_ms(2024, 2, 15)), 2024 * 12 + 1);
  EXPECT_EQ(month_window(utc_ms(1969, 12, 31, 23, 59, 59, 999)), 1969 * 12 + 11);
  EXPECT_EQ(month_start_millis(2024 * 12 + 1), utc_ms(2024, 2, 1));
  EXPECT_EQ(month_start_millis(1970 * 12), 0);
  EXPECT_EQ(month_start_millis(1969 * 12 + 11), utc_ms(1969, 12, 1));
}

TEST(LocalWindowsTest, MonthBoundariesAtTheLastMillisecond) {
  const std::int64_t jan_last = utc_ms(2024, 1, 31, 23, 59, 59, 999);
  EXPECT_EQ(month_window(jan_last), 2024 * 12 + 0);
  EXPECT_EQ(month_window(jan_last + 1), 2024 * 12 + 1);
  EXPECT_EQ(until_month_end(jan_last), 1ms);
  EXPECT_EQ(until_month_end(jan_last + 1), milliseconds(29LL * 86'400'000));  // leap February

  const std::int64_t dec_last = utc_ms(2023, 12, 31, 23, 59, 59, 999);
  EXPECT_EQ(month_window(dec_last) + 1, month_window(dec_last + 1));  // across the year
  EXPECT_EQ(until_month_end(dec_last), 1ms);
  EXPECT_EQ(until_month_end(utc_ms(2023, 12, 1)), milliseconds(31LL * 86'400'000));
}

TEST(LocalWindowsTest, FebruaryLengthFollowsTheGregorianLeapRule) {
  EXPECT_TRUE(is_leap_year(2024));
  EXPECT_TRUE(is_leap_year(2000));
  EXPECT_FALSE(is_leap_year(1900));
  EXPECT_FALSE(is_leap_year(2100));
  EXPECT_FALSE(is_leap_year(2023));
  EXPECT_EQ(days_in_month(2024, 2), 29);
  EXPECT_EQ(days_in_month(2023, 2), 28);
  EXPECT_EQ(days_in_month(2000, 2), 29);
  EXPECT_EQ(days_in_month(2100, 2), 28);
  EXPECT_EQ(days_in_month(2023, 4), 30);
  EXPECT_EQ(days_in_month(2023, 12), 31);

  EXPECT_EQ(until_month_end(utc_ms(2024, 2, 1)), milliseconds(29LL * 86'400'000));
  EXPECT_EQ(until_month_end(utc_ms(2023, 2, 1)), milliseconds(28LL * 86'400'000));
  EXPECT_EQ(until_month_end(utc_ms(2100, 2, 1)), milliseconds(28LL * 86'400'000));
  EXPECT_EQ(until_month_end(utc_ms(2000, 2, 28, 12)), milliseconds(36LL * 3'600'000));
  EXPECT_EQ(month_window(utc_ms(2024, 2, 29, 23, 59, 59, 999)), 2024 * 12 + 1);
  EXPECT_EQ(month_window(utc_ms(2024, 3, 1)), 2024 * 12 + 2);
}

TEST(LocalWindowsTest, EveryMonthOfFourCenturiesAgreesWithTheChronoCalendar) {
  for (int y = 1900; y < 2300; ++y) {
    for (unsigned m = 1; m <= 12; ++m) {
      const std::int64_t start = utc_ms(y, m, 1);
      const std::int64_t id = std::int64_t{y} * 12 + (m - 1);
      const int days = days_in_month(y, static_cast<int>(m));
      ASSERT_EQ(month_start_millis(id), start) << y << "-" << m;
      ASSERT_EQ(month_window(start), id) << y << "-" << m;
      ASSERT_EQ(month_window(start - 1), id - 1) << y << "-" << m;
      ASSERT_EQ(until_month_end(start), milliseconds(days * 86'400'000LL)) << y << "-" << m;
      ASSERT_EQ(month_start_millis(id + 1) - start, days * 86'400'000LL) << y << "-" << m;
    }
  }
}

TEST(LocalWindowsTest, RandomInstantsLieInsideTheirMonth) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> instant(utc_ms(1950, 1, 1), utc_ms(2200, 1, 1));
  for (int i = 0; i < 100'000; ++i) {
    const std::int64_t t = instant(rng);
    const std::int64_t id = month_window(t);
    ASSERT_LE(month_start_millis(id), t);
    ASSERT_GT(month_start_millis(id + 1), t);
    ASSERT_EQ(t + until_month_end(t).count(), month_start_millis(id + 1));
    auto ymd = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(
        std::chrono::sys_time<milliseconds>(milliseconds(t)))};
    ASSERT_EQ(id, static_cast<int>(ymd.year()) * 12LL + static_cast<unsigned>(ymd.month()) - 1);
  }
}

}  // namespace
}  // namespace cic::limits
