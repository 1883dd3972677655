#pragma once
#include <chrono>
#include <cstdint>

namespace cic::limits {

/// Fixed counting windows shared by every limiter, from Unix milliseconds of the wall clock.
/// Minute windows are aligned on the Unix epoch (so every replica agrees on them); month windows
/// are UTC calendar months. Pure functions, callable from any thread.

inline constexpr std::int64_t kMinuteMillis = 60'000;

/// Id of the one-minute window holding `unix_ms`: floor(unix_ms / 60000), also for negative times.
std::int64_t minute_window(std::int64_t unix_ms);

/// Time from `unix_ms` until its minute window ends: 1 ms .. 60 s.
std::chrono::milliseconds until_minute_end(std::int64_t unix_ms);

/// Id of the UTC calendar month holding `unix_ms`: year * 12 + (month - 1), e.g. 2024-02 -> 24289.
std::int64_t month_window(std::int64_t unix_ms);

/// Unix milliseconds at which month `month_id` (as returned by month_window) begins, 00:00 UTC.
std::int64_t month_start_millis(std::int64_t month_id);

/// Time from `unix_ms` until its UTC month ends (the first instant of the next month): 1 ms .. 31 days.
std::chrono::milliseconds until_month_end(std::int64_t unix_ms);

/// Gregorian leap year: divisible by 4, except centuries not divisible by 400.
bool is_leap_year(std::int64_t year);

/// Days in `month` (1..12) of `year`.
int days_in_month(std::int64_t year, int month);

}  // namespace cic::limits
