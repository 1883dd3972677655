#pragma once
#include <chrono>
#include <cstdint>

#include "cic/limits/limiter.hpp"
#include "cic/limits/local_limiter.hpp"

namespace cic::limits::detail {

/// The windows an admission is decided in, computed once from the clock.
struct Instant {
  std::int64_t minute = 0;  // minute_window(now)
  std::int64_t month = 0;   // month_window(now)
  std::chrono::milliseconds minute_left{0};
  std::chrono::milliseconds month_left{0};
};

/// What a request holds while in flight; negative estimates count as 0.
std::int64_t asked_tokens(const AdmissionRequest& request);
std::int64_t asked_cost(const AdmissionRequest& request);

/// LocalLimiter's decision for `request` against the counters of its three scopes (already rolled
/// to `now`), with the rate headers as they will be once the answer is applied. Pure: changes
/// nothing; the caller holds the scopes' locks and applies an admission.
Admission decide(const AdmissionRequest& request, const ScopeCounters& key, const ScopeCounters& env,
                 const ScopeCounters& org, const Instant& now);

}  // namespace cic::limits::detail
