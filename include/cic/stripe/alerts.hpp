#pragma once
// Billing alerts: 80 % and 100 % of a monthly budget, a day's spend spiking over N x the trailing
// average, a credit grant about to expire, a failed payment. The rules are pure functions of
// their inputs (table-tested); AlertEngine gathers the inputs from the store, claims each alert
// once per (org, subject, kind, period) and delivers it as a signed JSON webhook. BLOCKING
// (store, HTTP): AlertEngine runs on its own thread (services.hpp).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cic/config/config.hpp"
#include "cic/store/store.hpp"
#include "cic/stripe/http.hpp"
#include "cic/stripe/retry.hpp"
#include "cic/billing/invoice_usage.hpp"

namespace cic::stripe {

enum class AlertKind { kBudget80, kBudget100, kSpendSpike, kCreditExpiring, kPaymentFailed };
/// budget_80 | budget_100 | spend_spike | credit_expiring | payment_failed
const char* to_string(AlertKind kind);

struct AlertPolicy {
  double spike_factor = 10.0;
  std::int64_t spike_min_micros = 10'000'000;  // a spike must also reach this much in the day
  unsigned trailing_days = 7;
  std::chrono::milliseconds credit_expiry_window{7 * 24 * 3'600'000LL};
};

/// What an org (or one of its environments) spent, at list price, in micro-dollars.
struct SpendFacts {
  std::string org_id;
  std::string subject;       // the org id, or the environment id
  bool is_environment = false;
  std::int64_t monthly_cap_micros = 0;  // 0 = no budget
  std::int64_t month_micros = 0;        // this UTC month so far
  std::int64_t today_micros = 0;        // this UTC day so far
  std::int64_t trailing_micros = 0;     // the policy's trailing_days full days before today
};

/// A credit grant with something left.
struct CreditFacts {
  std::string org_id;
  std::string grant_id;
  std::int64_t remaining_micros = 0;
  std::int64_t expires_at = 0;  // unix ms
};

/// A failed payment reported by Stripe's webhooks.
struct PaymentFailureFacts {
  std::string org_id;
  std::string event_id;
  std::string event_type;  // invoice.payment_failed | payment_intent.payment_failed
  std::string object_id;   // the invoice or payment intent
  std::string invoice_id;  // a payment intent's invoice, if the event names one
  std::int64_t amount_due = 0;  // in the currency's smallest unit, when the event says
  std::string currency;
};

struct AlertFacts {
  std::int64_t now_ms = 0;
  std::vector<SpendFacts> spend;
  std::vector<CreditFacts> credits;
  std::vector<PaymentFailureFacts> payment_failures;
};

/// One alert that should exist. `period` makes it fire once: the UTC month of a budget alert
/// ("2025-06"), the UTC day of a spike ("2025-06-17"), the grant of an expiring credit, the
/// invoice (or payment intent) of a failed payment.
struct AlertCandidate {
  AlertKind kind = AlertKind::kBudget80;
  std::string org_id;
  std::string subject;
  bool is_environment = false;
  std::string period;
  std::int64_t amount_micros = 0;     // spend so far / credit left / amount due
  std::int64_t reference_micros = 0;  // the budget / the trailing daily average
  std::int64_t expires_at = 0;        // credit_expiring
  const PaymentFailureFacts* payment = nullptr;  // payment_failed (points into the facts)
};

/// The rules. Budgets: month >= 80 % of the cap, month >= the cap (both may fire in one pass).
/// Spike (orgs only): today >= spike_min and today > factor x (trailing / trailing_days).
/// Credit: remaining > 0 and now < expires_at <= now + window. Payment: every failure, once per
/// object; a payment_intent failure that belongs to an invoice is left to invoice.payment_failed.
std::vector<AlertCandidate> evaluate_alerts(const AlertFacts& facts, const AlertPolicy& policy);

/// "YYYY-MM" / "YYYY-MM-DD" of a unix ms time, UTC.
std::string utc_month(std::int64_t ms);
std::string utc_day(std::int64_t ms);
std::int64_t utc_day_floor(std::int64_t ms);
std::int64_t utc_month_floor(std::int64_t ms);

/// The alert's id: "alt_" + 24 hex digits of SHA-256 over (org, subject, kind, period).
std::string alert_id(std::string_view org_id, std::string_view subject, std::string_view kind,
                     std::string_view period);

struct AlertOptions {
  std::string webhook_url;
  std::string webhook_secret;
  std::chrono::milliseconds timeout{10'000};
  RetryPolicy retry;
  AlertPolicy policy;
  /// Undelivered alerts are re-sent on every pass for this long after they fired.
  std::chrono::milliseconds redeliver_for{3 * 24 * 3'600'000LL};
};

struct AlertHooks {
  std::function<void(std::string_view kind)> on_fired;            // cic_alerts_total{kind}
  std::function<void(std::string_view outcome)> on_delivery;      // delivered | failed
};

struct AlertPassSummary {
  std::size_t fired = 0;
  std::size_t delivered = 0;
  std::size_t failed = 0;
};

class AlertEngine {
 public:
  AlertEngine(store::Store& store, billing::UsageSource& usage, const std::vector<config::ModelConfig>& models,
              HttpTransport& transport, AlertOptions options, Sleeper sleep, AlertHooks hooks = {},
              Random random = default_random());

  /// Gathers the facts at `now_ms`, claims every new alert (the store keeps it from firing
  /// twice, also across replicas) and delivers it, then re-sends claimed alerts that were not
  /// delivered yet. BLOCKING.
  AlertPassSummary run_once(std::int64_t now_ms);

  /// The facts alone (exposed for tests).
  AlertFacts gather(std::int64_t now_ms);

 private:
  bool deliver(const store::AlertRecord& alert, std::int64_t now_ms);

  store::Store& store_;
  billing::UsageSource& usage_;
  const std::vector<config::ModelConfig>& models_;
  HttpTransport& transport_;
  const AlertOptions options_;
  Sleeper sleep_;
  AlertHooks hooks_;
  Random random_;
};

}  // namespace cic::stripe
