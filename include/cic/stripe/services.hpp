#pragma once
// What App starts for Stripe and alerts: the usage reporter and the alert engine, each on a thread
// of its own (they block on the store and on HTTP, so never on an event loop), the webhook
// receiver, and their Prometheus metrics.
#include <memory>

#include "cic/common/clock.hpp"
#include "cic/common/http_call.hpp"
#include "cic/config/config.hpp"
#include "cic/store/store.hpp"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace cic::stripe {

/// Metrics: cic_stripe_reports_total{outcome} (accepted | duplicate | rejected | failed),
/// cic_stripe_report_lag_seconds, cic_stripe_webhooks_total{outcome}, cic_alerts_total{kind},
/// cic_alert_deliveries_total{outcome}.
class StripeServices {
 public:
  /// Builds what the config enables (stripe.api_key: reporter; stripe.webhook_secret: webhook;
  /// alerts.webhook_url: alerts). `config`, `store`, `clock` and `registry` outlive this.
  StripeServices(const config::Config& config, store::Store& store, const Clock& clock,
                 prometheus::Registry& registry);
  ~StripeServices();

  /// Starts the reporter and alert threads (their first pass runs at once). Call once.
  void start();
  /// Stops and joins them. Idempotent; also done by the destructor.
  void stop();

  bool webhook_enabled() const;
  /// POST /webhooks/stripe: `call.authorization` carries the Stripe-Signature header (see
  /// gateway/admin_handler.cpp). BLOCKING (store): run it on the blocking pool. Thread-safe.
  HttpReply handle_webhook(const HttpCall& call);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cic::stripe
