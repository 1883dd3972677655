#include "cic/limits/windows.hpp"

namespace cic::limits {
namespace {

// Integer division rounding towards minus infinity, so instants before 1970 fall in the right window.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

constexpr std::int64_t kDayMillis = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). Written
// out rather than taken from <chrono>'s calendar so the arithmetic is plain int64 and obviously
// total over the whole range the limiter can see.
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;                                // [0, 399]
  const std::int64_t mp = (m + 9) % 12;                                  // March = 0
  const std::int64_t doy = (153 * mp + 2) / 5 + d - 1;                   // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;        // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct YearMonth {
  std::int64_t year;
  int month;  // 1..12
};

// Inverse of days_from_civil, keeping only the year and month.
YearMonth year_month_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;                                   // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                                 // [0, 11]
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month};
}

}  // namespace

std::int64_t minute_window(std::int64_t unix_ms) { return floor_div(unix_ms, kMinuteMillis); }

std::chrono::milliseconds until_minute_end(std::int64_t unix_ms) {
  return std::chrono::milliseconds((minute_window(unix_ms) + 1) * kMinuteMillis - unix_ms);
}

std::int64_t month_window(std::int64_t unix_ms) {
  YearMonth ym = year_month_from_days(floor_div(unix_ms, kDayMillis));
  return ym.year * 12 + (ym.month - 1);
}

std::int64_t month_start_millis(std::int64_t month_id) {
  const std::int64_t year = floor_div(month_id, 12);
  const int month = static_cast<int>(month_id - year * 12) + 1;
  return days_from_civil(year, month, 1) * kDayMillis;
}

std::chrono::milliseconds until_month_end(std::int64_t unix_ms) {
  return std::chrono::milliseconds(month_start_millis(month_window(unix_ms) + 1) - unix_ms);
}

bool is_leap_year(std::int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int days_in_month(std::int64_t year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap_year(year)) return 29;
  return kDays[(month - 1) % 12];
}

}  // namespace cic::limits
