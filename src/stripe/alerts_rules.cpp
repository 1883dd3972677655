// The alert rules: pure functions of the facts (no store, no clock, no I/O).
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cic/billing/invoice_usage.hpp"
#include "cic/billing/month_close.hpp"
#include "cic/common/ids.hpp"
#include "cic/stripe/alerts.hpp"

namespace cic::stripe {
namespace {

std::chrono::year_month_day civil(std::int64_t ms) {
  using namespace std::chrono;
  return year_month_day{floor<days>(sys_time<milliseconds>(milliseconds(ms)))};
}

void budget_rules(const SpendFacts& s, std::string_view month, std::vector<AlertCandidate>& out) {
  if (s.monthly_cap_micros <= 0) return;
  // Integer comparisons: 80 % means month x 100 >= cap x 80, exactly.
  const __int128 spent = static_cast<__int128>(s.month_micros) * 100;
  const __int128 cap = s.monthly_cap_micros;
  auto add = [&](AlertKind kind) {
    out.push_back(AlertCandidate{kind, s.org_id, s.subject, s.is_environment, std::string(month), s.month_micros,
                                 s.monthly_cap_micros, 0, nullptr});
  };
  if (spent >= cap * 80) add(AlertKind::kBudget80);
  if (spent >= cap * 100) add(AlertKind::kBudget100);
}

void spike_rule(const SpendFacts& s, const AlertPolicy& policy, std::string_view day,
                std::vector<AlertCandidate>& out) {
  if (s.is_environment || policy.trailing_days == 0) return;
  if (s.today_micros < policy.spike_min_micros || s.today_micros <= 0) return;
  // today > factor x trailing / days  <=>  today x days > factor x trailing (no rounding).
  const double today_scaled = static_cast<double>(s.today_micros) * policy.trailing_days;
  if (today_scaled <= policy.spike_factor * static_cast<double>(s.trailing_micros)) return;
  out.push_back(AlertCandidate{AlertKind::kSpendSpike, s.org_id, s.subject, false, std::string(day), s.today_micros,
                               s.trailing_micros / static_cast<std::int64_t>(policy.trailing_days), 0, nullptr});
}

}  // namespace

const char* to_string(AlertKind kind) {
  switch (kind) {
    case AlertKind::kBudget80: return "budget_80";
    case AlertKind::kBudget100: return "budget_100";
    case AlertKind::kSpendSpike: return "spend_spike";
    case AlertKind::kCreditExpiring: return "credit_expiring";
    case AlertKind::kPaymentFailed: return "payment_failed";
  }
  return "unknown";
}

std::string utc_month(std::int64_t ms) { return billing::utc_month_label(ms); }

std::string utc_day(std::int64_t ms) {
  const auto ymd = civil(ms);
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return text;
}

std::int64_t utc_day_floor(std::int64_t ms) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(sys_days(civil(ms)).time_since_epoch()).count();
}

std::int64_t utc_month_floor(std::int64_t ms) { return billing::utc_month_start(ms); }

std::string alert_id(std::string_view org_id, std::string_view subject, std::string_view kind,
                     std::string_view period) {
  std::string key;
  for (std::string_view part : {org_id, subject, kind, period}) key.append(part).push_back('\n');
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr);
  std::string id = "alt_";
  append_hex(id, digest, std::min<std::size_t>(length, 12));
  return id;
}

std::vector<AlertCandidate> evaluate_alerts(const AlertFacts& facts, const AlertPolicy& policy) {
  std::vector<AlertCandidate> out;
  const std::string month = utc_month(facts.now_ms);
  const std::string day = utc_day(facts.now_ms);
  for (const auto& s : facts.spend) {
    budget_rules(s, month, out);
    spike_rule(s, policy, day, out);
  }
  const std::int64_t horizon = facts.now_ms + policy.credit_expiry_window.count();
  for (const auto& c : facts.credits) {
    if (c.remaining_micros <= 0 || c.expires_at <= facts.now_ms || c.expires_at > horizon) continue;
    out.push_back(AlertCandidate{AlertKind::kCreditExpiring, c.org_id, c.org_id, false, c.grant_id,
                                 c.remaining_micros, 0, c.expires_at, nullptr});
  }
  for (const auto& p : facts.payment_failures) {
    // One failed invoice payment produces both events; the invoice's is the one to report.
    if (p.event_type.starts_with("payment_intent.") && !p.invoice_id.empty()) continue;
    const std::string& period = p.object_id.empty() ? p.event_id : p.object_id;
    out.push_back(AlertCandidate{AlertKind::kPaymentFailed, p.org_id, p.org_id, false, period, 0, 0, 0, &p});
  }
  return out;
}

}  // namespace cic::stripe
