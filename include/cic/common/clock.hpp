#pragma once
#include <chrono>
#include <cstdint>

namespace cic {

/// Time source. Everything that measures or compares time takes a `Clock&` so tests can drive it.
/// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time, for deadlines, TTLs and latencies.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  /// Wall-clock time, for records that leave the process (usage, audit, expiry).
  virtual std::chrono::system_clock::time_point wall_now() const = 0;

  /// Wall-clock time as Unix milliseconds.
  std::int64_t unix_millis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch()).count();
  }
};

/// The real clocks of the machine.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace cic
