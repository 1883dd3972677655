#pragma once
// POST /webhooks/stripe on the admin listener: Stripe's events, authenticated by their signature
// alone. BLOCKING (writes the store): the admin listener runs it on its blocking pool.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cic/common/clock.hpp"
#include "cic/common/http_call.hpp"
#include "cic/store/store.hpp"

namespace cic::stripe {

struct WebhookOptions {
  std::string secret;             // the endpoint's signing secret (whsec_...); empty = disabled
  std::int64_t tolerance_s = 300;
};

/// Whether cic-control keeps events of this type: invoice.* and payment_intent.*.
bool is_recorded_event_type(std::string_view type);

class WebhookReceiver {
 public:
  /// `on_outcome` counts what happened to each call: recorded | duplicate | ignored |
  /// bad_signature | bad_request | store_error.
  WebhookReceiver(store::Store& store, const Clock& clock, WebhookOptions options,
                  std::function<void(std::string_view outcome)> on_outcome = {});

  bool enabled() const { return !options_.secret.empty(); }

  /// `signature` is the Stripe-Signature header, `body` the raw body. Answers: 404 when disabled,
  /// 405 for other methods, 400 for a missing, wrong or stale signature or a body that is not an
  /// event, 503 when the store fails (Stripe retries), else 200 — also for an event seen before
  /// (recorded once per event id) and for types we do not keep.
  HttpReply handle(std::string_view method, std::string_view signature, std::string_view body);

 private:
  HttpReply outcome(int status, std::string_view what, std::string body);

  store::Store& store_;
  const Clock& clock_;
  const WebhookOptions options_;
  std::function<void(std::string_view)> on_outcome_;
};

}  // namespace cic::stripe
