#pragma once
// The part of Stripe's API that cic-control calls: meter events. BLOCKING (runs on the
// reporter's own thread); thread-safe.
#include <memory>
#include <string>

#include "cic/stripe/http.hpp"
#include "cic/stripe/meter.hpp"
#include "cic/stripe/retry.hpp"

namespace cic::stripe {

struct ClientOptions {
  std::string api_base = "https://api.stripe.com";
  std::string api_key;  // sk_... / rk_...; sent as a Bearer token, never logged
  std::chrono::milliseconds timeout{10'000};
  RetryPolicy retry;
};

/// What became of one meter event.
struct MeterResult {
  enum class Outcome {
    kAccepted,   // 2xx: Stripe has it now
    kDuplicate,  // Stripe already had this identifier (an earlier attempt got through)
    kRejected,   // Stripe refused it for good (e.g. a customer it does not know)
    kFailed,     // no verdict: Stripe down, rate limited past our retries, or our key refused
  };
  Outcome outcome = Outcome::kFailed;
  int status = 0;
  unsigned attempts = 0;
  std::string message;  // Stripe's error message, or why there was no answer
  bool sent() const { return outcome == Outcome::kAccepted || outcome == Outcome::kDuplicate; }
};
const char* to_string(MeterResult::Outcome outcome);

class StripeClient {
 public:
  StripeClient(HttpTransport& transport, ClientOptions options, Sleeper sleep, Random random = default_random());

  /// POST /v1/billing/meter_events with `event`, Idempotency-Key = its identifier, retried per
  /// the options' policy.
  MeterResult send_meter_event(const MeterEvent& event);

 private:
  HttpTransport& transport_;
  ClientOptions options_;
  Sleeper sleep_;
  Random random_;
};

}  // namespace cic::stripe
