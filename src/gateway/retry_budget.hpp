#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace cic::gateway {

/// Envoy's retry budget: retries in progress may be at most `ratio` of the requests in progress,
/// but `min_concurrency` retries are always allowed. When a node dies under load every request on
/// it wants a retry at once; the budget keeps that wave from doubling the load on the survivors
/// when failures are widespread (then retries only make things worse). Lock-free.
class RetryBudget {
 public:
  RetryBudget(double ratio, unsigned min_concurrency) : ratio_(ratio), min_concurrency_(min_concurrency) {}

  /// A client request being forwarded, for the life of the object.
  class Active {
   public:
    explicit Active(RetryBudget& budget) : budget_(budget) { budget_.active_.fetch_add(1, std::memory_order_relaxed); }
    ~Active() { budget_.active_.fetch_sub(1, std::memory_order_relaxed); }
    Active(const Active&) = delete;
    Active& operator=(const Active&) = delete;

   private:
    RetryBudget& budget_;
  };

  /// A retry in progress, for the life of the object; `granted()` is false when the budget was
  /// exhausted (then nothing was taken).
  class Retry {
   public:
    explicit Retry(RetryBudget& budget) : budget_(&budget), granted_(budget.try_take()) {}
    ~Retry() { if (granted_) budget_->retries_.fetch_sub(1, std::memory_order_relaxed); }
    Retry(Retry&& other) noexcept : budget_(other.budget_), granted_(other.granted_) { other.granted_ = false; }
    Retry& operator=(const Retry&) = delete;
    bool granted() const { return granted_; }

   private:
    RetryBudget* budget_;
    bool granted_;
  };

  std::int64_t active() const { return active_.load(std::memory_order_relaxed); }
  std::int64_t retries() const { return retries_.load(std::memory_order_relaxed); }

  /// Retries allowed at once with `active` requests in progress.
  std::int64_t allowance(std::int64_t active) const {
    auto by_ratio = static_cast<std::int64_t>(ratio_ * static_cast<double>(active));
    return by_ratio > static_cast<std::int64_t>(min_concurrency_) ? by_ratio : min_concurrency_;
  }

 private:
  bool try_take() {
    std::int64_t current = retries_.load(std::memory_order_relaxed);
    do {
      if (current >= allowance(active())) return false;
    } while (!retries_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }

  double ratio_;
  unsigned min_concurrency_;
  std::atomic<std::int64_t> active_{0};
  std::atomic<std::int64_t> retries_{0};
};

/// "Full jitter" backoff before retry number `retry` (1, 2, ...): uniform in
/// [0, min(base x 2^(retry-1), max)], so clients that failed together do not retry together.
inline std::chrono::milliseconds retry_backoff(unsigned retry, std::chrono::milliseconds base,
                                               std::chrono::milliseconds max, std::uint64_t random) {
  if (retry == 0 || base.count() <= 0) return std::chrono::milliseconds(0);
  std::int64_t cap = base.count();
  for (unsigned i = 1; i < retry && cap < max.count(); ++i) cap *= 2;
  if (cap > max.count()) cap = max.count();
  return std::chrono::milliseconds(static_cast<std::int64_t>(random % static_cast<std::uint64_t>(cap + 1)));
}

}  // namespace cic::gateway
