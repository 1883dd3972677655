#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

#include "cic/common/clock.hpp"

namespace cic::testing {

/// A Clock that only moves when a test calls advance(). Both the monotonic and the wall clock move
/// together. Thread-safe: time is held in atomics, so worker threads may read it while a test
/// advances it.
class FakeClock final : public Clock {
 public:
  /// Starts at an arbitrary non-zero point so code that treats 0 as "unset" is not fooled.
  explicit FakeClock(std::chrono::nanoseconds steady_start = std::chrono::hours(1000),
                     std::chrono::milliseconds wall_start = std::chrono::milliseconds(1'700'000'000'000))
      : steady_ns_(steady_start.count()),
        wall_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start).count()) {}

  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(steady_ns_.load(std::memory_order_acquire))));
  }

  std::chrono::system_clock::time_point wall_now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(wall_ns_.load(std::memory_order_acquire))));
  }

  /// Moves both clocks forward by `d`.
  void advance(std::chrono::nanoseconds d) {
    steady_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
    wall_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

  /// Monotonic time as nanoseconds since the steady epoch (what NodeLoad::ejected_until_ns uses).
  std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now().time_since_epoch()).count();
  }

 private:
  std::atomic<std::int64_t> steady_ns_;
  std::atomic<std::int64_t> wall_ns_;
};

}  // namespace cic::testing
