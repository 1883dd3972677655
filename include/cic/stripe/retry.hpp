#pragma once
// How calls to Stripe (and alert webhooks) are retried: which answers are worth another attempt,
// and how long to wait before it. Pure; thread-safe.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "cic/stripe/http.hpp"

namespace cic::stripe {

struct RetryPolicy {
  unsigned max_attempts = 4;  // first try included
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds max{20'000};
};

/// What an answer means for a retry.
enum class Verdict {
  kSuccess,    // 2xx
  kDuplicate,  // Stripe already holds this meter event's identifier: it was counted before
  kRetry,      // no answer, 409 (concurrent idempotent request), 429, 5xx, or Stripe-Should-Retry: true
  kAuth,       // 401 / 403: our key is wrong; nothing about the request itself
  kReject,     // any other answer, or Stripe-Should-Retry: false
};
const char* to_string(Verdict verdict);

/// Classifies an answer of Stripe's API. Stripe-Should-Retry, when present, wins over the status.
Verdict classify_stripe(const HttpResult& result);
/// Classifies an answer of a plain webhook receiver: 2xx success; no answer, 408, 429, 5xx retry;
/// anything else reject.
Verdict classify_webhook(const HttpResult& result);

/// Retry-After in seconds (delta-seconds only), if present and sane.
std::optional<std::chrono::milliseconds> retry_after(const HttpResult& result);

/// The pause before attempt `attempt` + 1 (attempt >= 1): "full jitter", uniformly random in
/// [0, min(max, base * 2^(attempt-1))], computed as `unit` x that bound with `unit` in [0, 1).
/// A Retry-After the server sent raises the pause to at least that much (capped at 60 s).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned attempt, double unit,
                                        std::optional<std::chrono::milliseconds> retry_after = std::nullopt);

/// Sleeps for a pause; returns false when the caller is stopping (stop the retries then).
using Sleeper = std::function<bool(std::chrono::milliseconds)>;
/// A uniform random number in [0, 1).
using Random = std::function<double()>;
Random default_random();

/// Sends `request` until it gets a verdict other than kRetry or `policy.max_attempts` attempts
/// were made, pausing per backoff_delay in between. Returns the last answer and its verdict, and
/// how many attempts it took. BLOCKING.
struct Delivery {
  HttpResult result;
  Verdict verdict = Verdict::kRetry;
  unsigned attempts = 0;
};
Delivery send_with_retries(HttpTransport& transport, const HttpRequest& request, const RetryPolicy& policy,
                           const std::function<Verdict(const HttpResult&)>& classify, const Sleeper& sleep,
                           const Random& random);

}  // namespace cic::stripe
