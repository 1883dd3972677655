// AlertEngine: the facts from the store (rollups priced at list price, budgets, the credit ledger,
// Stripe's failed payments), the rules of alerts_rules.cpp, and delivery as signed JSON webhooks.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "cic/billing/credits.hpp"
#include "cic/billing/pricing.hpp"
#include "cic/stripe/alerts.hpp"
#include "cic/stripe/meter.hpp"
#include "cic/stripe/signature.hpp"

namespace cic::stripe {
namespace {

using nlohmann::json;

constexpr std::int64_t kDayMs = 24 * kHourMs;
constexpr std::size_t kRedeliverBatch = 100;
// Failed payments older than this are history, not news.
constexpr std::int64_t kPaymentLookbackMs = 7 * kDayMs;

json payload(const AlertCandidate& c, std::int64_t now_ms) {
  json data;
  switch (c.kind) {
    case AlertKind::kBudget80:
    case AlertKind::kBudget100:
      data = {{"spend_micros", c.amount_micros},
              {"budget_micros", c.reference_micros},
              {"percent", c.reference_micros > 0 ? 100.0 * static_cast<double>(c.amount_micros) /
                                                       static_cast<double>(c.reference_micros)
                                                 : 0.0}};
      break;
    case AlertKind::kSpendSpike:
      data = {{"today_micros", c.amount_micros}, {"trailing_daily_average_micros", c.reference_micros}};
      break;
    case AlertKind::kCreditExpiring:
      data = {{"grant_id", c.period}, {"remaining_micros", c.amount_micros}, {"expires_at", c.expires_at / 1000}};
      break;
    case AlertKind::kPaymentFailed:
      if (c.payment != nullptr) {
        data = {{"event_id", c.payment->event_id},
                {"event_type", c.payment->event_type},
                {"object_id", c.payment->object_id},
                {"amount_due", c.payment->amount_due},
                {"currency", c.payment->currency}};
      }
      break;
  }
  const char* kind = to_string(c.kind);
  return json{{"id", alert_id(c.org_id, c.subject, kind, c.period)},
              {"object", "alert"},
              {"type", kind},
              {"created", now_ms / 1000},
              {"org_id", c.org_id},
              {"subject", {{"type", c.is_environment ? "environment" : "org"}, {"id", c.subject}}},
              {"period", c.period},
              {"data", data}};
}

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

AlertEngine::AlertEngine(store::Store& store, billing::UsageSource& usage, const std::vector<config::ModelConfig>& models,
                         HttpTransport& transport, AlertOptions options, Sleeper sleep, AlertHooks hooks,
                         Random random)
    : store_(store),
      usage_(usage),
      models_(models),
      transport_(transport),
      options_(std::move(options)),
      sleep_(std::move(sleep)),
      hooks_(std::move(hooks)),
      random_(std::move(random)) {}

AlertFacts AlertEngine::gather(std::int64_t now_ms) {
  AlertFacts facts;
  facts.now_ms = now_ms;
  const AlertPolicy& policy = options_.policy;
  const std::int64_t month_start = utc_month_floor(now_ms);
  const std::int64_t day_start = utc_day_floor(now_ms);
  const std::int64_t trailing_start = day_start - static_cast<std::int64_t>(policy.trailing_days) * kDayMs;

  std::map<std::string, const config::ModelConfig*> prices;
  for (const auto& m : models_) prices[m.id] = &m;
  std::map<std::string, SpendFacts> orgs;
  std::map<std::string, SpendFacts> envs;
  const billing::UsageFilter window{.from_ms = std::min(month_start, trailing_start), .to_ms = hour_floor(now_ms) + kHourMs};
  for (const auto& row : usage_.hourly(window)) {
    auto model = prices.find(row.model);
    // At list price (an unpriced or unknown model costs nothing here), per hourly row.
    const std::int64_t cost = model == prices.end() ? 0
                                                    : billing::list_price_micros(*model->second, row.region,
                                                                                 row.tokens.prompt,
                                                                                 row.tokens.completion,
                                                                                 row.tokens.cached);
    SpendFacts& org = orgs[row.org_id];
    org.org_id = org.subject = row.org_id;
    if (row.hour_start_ms >= month_start) {
      org.month_micros += cost;
      SpendFacts& env = envs[row.environment_id];
      env.org_id = row.org_id;
      env.subject = row.environment_id;
      env.is_environment = true;
      env.month_micros += cost;
    }
    if (row.hour_start_ms >= day_start) org.today_micros += cost;
    if (row.hour_start_ms >= trailing_start && row.hour_start_ms < day_start) org.trailing_micros += cost;
  }
  for (auto& [id, s] : orgs) {
    auto org = store_.find_org(id);
    if (!org) continue;  // deleted
    s.monthly_cap_micros = org->monthly_spend_cap_micros;
    facts.spend.push_back(std::move(s));
  }
  for (auto& [id, s] : envs) {
    auto env = store_.get_environment(id);
    if (!env || env->monthly_spend_cap_micros <= 0) continue;
    s.monthly_cap_micros = env->monthly_spend_cap_micros;
    facts.spend.push_back(std::move(s));
  }

  // Credits: every org's ledger (orgs without credits cost one small query each).
  store::Page page;
  page.limit = 100;
  for (;;) {
    auto result = store_.list_orgs(page);
    for (const auto& org : result.items) {
      for (const auto& grant : billing::credit_balances(store_.list_credits(org.id))) {
        if (grant.remaining_micros > 0 && grant.expires_at) {
          facts.credits.push_back(CreditFacts{org.id, grant.id, grant.remaining_micros, *grant.expires_at});
        }
      }
    }
    if (!result.has_more || result.items.empty()) break;
    page.after = result.items.back().id;
  }

  // Failed payments of customers we know.
  std::map<std::string, std::string> org_of_customer;
  for (const auto& c : store_.list_stripe_customers()) org_of_customer[c.customer_id] = c.org_id;
  store::StripeEventFilter filter{{"invoice.payment_failed", "payment_intent.payment_failed"},
                                  now_ms - kPaymentLookbackMs, 1000};
  for (const auto& e : store_.list_stripe_events(filter)) {
    auto org = org_of_customer.find(e.customer_id);
    if (org == org_of_customer.end()) continue;
    PaymentFailureFacts p{org->second, e.id, e.type, e.object_id, "", 0, ""};
    const json event = json::parse(e.payload_json, nullptr, /*allow_exceptions=*/false);
    if (event.is_object() && event.contains("data") && event["data"].is_object() &&
        event["data"].contains("object") && event["data"]["object"].is_object()) {
      const json& object = event["data"]["object"];
      p.invoice_id = string_at(object, "invoice");
      p.currency = string_at(object, "currency");
      for (const char* key : {"amount_due", "amount"}) {
        if (object.contains(key) && object[key].is_number_integer()) {
          p.amount_due = object[key].get<std::int64_t>();
          break;
        }
      }
    }
    facts.payment_failures.push_back(std::move(p));
  }
  return facts;
}

bool AlertEngine::deliver(const store::AlertRecord& alert, std::int64_t now_ms) {
  HttpRequest request;
  request.method = "POST";
  request.url = options_.webhook_url;
  request.timeout = options_.timeout;
  request.body = alert.payload_json;
  request.headers["Content-Type"] = "application/json";
  request.headers["X-CIC-Alert-Id"] = alert.id;
  request.headers["X-CIC-Signature"] = sign_payload(options_.webhook_secret, now_ms / 1000, alert.payload_json);
  const Delivery d = send_with_retries(transport_, request, options_.retry, classify_webhook, sleep_, random_);
  const bool delivered = d.verdict == Verdict::kSuccess;
  store_.update_alert_delivery(alert.id, delivered ? std::optional<std::int64_t>(now_ms) : std::nullopt);
  if (hooks_.on_delivery) hooks_.on_delivery(delivered ? "delivered" : "failed");
  if (!delivered) {
    spdlog::warn("alerts: {} ({} for org {}) not delivered after {} attempt(s): {}", alert.id, alert.kind,
                 alert.org_id, d.attempts,
                 d.result.status == 0 ? d.result.error : "HTTP " + std::to_string(d.result.status));
  }
  return delivered;
}

AlertPassSummary AlertEngine::run_once(std::int64_t now_ms) {
  AlertPassSummary summary;
  const AlertFacts facts = gather(now_ms);
  std::set<std::string> attempted;
  for (const AlertCandidate& c : evaluate_alerts(facts, options_.policy)) {
    store::AlertRecord record;
    const json body = payload(c, now_ms);
    record.id = body["id"].get<std::string>();
    record.org_id = c.org_id;
    record.subject = c.subject;
    record.kind = to_string(c.kind);
    record.period = c.period;
    record.payload_json = body.dump();
    record.created_at = now_ms;
    if (!store_.claim_alert(record)) continue;  // fired before (here or on another replica)
    ++summary.fired;
    if (hooks_.on_fired) hooks_.on_fired(record.kind);
    spdlog::info("alerts: {} for {} {} ({})", record.kind, c.is_environment ? "environment" : "org", c.subject,
                 record.period);
    attempted.insert(record.id);
    ++(deliver(record, now_ms) ? summary.delivered : summary.failed);
  }
  for (const auto& alert : store_.list_undelivered_alerts(now_ms - options_.redeliver_for.count(), kRedeliverBatch)) {
    if (attempted.count(alert.id)) continue;
    ++(deliver(alert, now_ms) ? summary.delivered : summary.failed);
  }
  return summary;
}

}  // namespace cic::stripe
