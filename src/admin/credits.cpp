// /admin/v1/orgs/{org}/credits: an org's credit ledger. The operator grants (sign-up bonus,
// referral, promotional, paid) and corrects (negative adjustments of one grant); org admins read.
// Every org gets its $10 sign-up bonus when it is created (grant_signup_bonus, from orgs.cpp).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "cic/billing/credits.hpp"
#include "cic/common/ids.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

constexpr double kMaxCreditUsd = 1'000'000;         // per ledger row
constexpr std::size_t kMaxNoteBytes = 500;
constexpr std::size_t kMaxIdempotencyKeyBytes = 255;  // Stripe's limit, for the same purpose
constexpr std::int64_t kMaxExpiresInDays = 3660;
constexpr std::int64_t kDayMs = 86'400'000;

json credit_view(const store::CreditEntry& e, std::optional<std::int64_t> remaining_micros) {
  return json{{"id", e.id},
              {"object", "credit"},
              {"org_id", e.org_id},
              {"kind", e.kind},
              {"amount_usd", usd(e.amount_micros)},
              {"remaining_usd", remaining_micros ? usd(*remaining_micros) : json(nullptr)},
              {"expires_at", seconds(e.expires_at)},
              {"created_at", e.created_at / 1000},
              {"note", e.note},
              {"idempotency_key", e.idempotency_key},
              {"grant_id", e.grant_id.empty() ? json(nullptr) : json(e.grant_id)}};
}

ApiError invalid(const char* param, std::string message, const char* code = "invalid_value") {
  return ApiError::invalid_request(param, std::move(message), code);
}

/// amount_usd: a non-zero number of USD, at most 10^6 either way, rounded once to micro-dollars.
std::optional<std::int64_t> read_amount(const json& body) {
  auto it = body.find("amount_usd");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) fail(invalid("amount_usd", "'amount_usd' must be a number (USD).", "invalid_type"));
  const double usd_value = it->get<double>();
  if (!std::isfinite(usd_value) || std::fabs(usd_value) > kMaxCreditUsd) {
    fail(invalid("amount_usd", "'amount_usd' must be between -1000000 and 1000000."));
  }
  const std::int64_t micros = std::llround(usd_value * 1'000'000.0);
  if (micros == 0) fail(invalid("amount_usd", "'amount_usd' must not be 0 (or round to 0 micro-dollars)."));
  return micros;
}

std::optional<std::int64_t> read_expiry(const Call& call, const json& body) {
  std::int64_t at_s = 0;
  std::int64_t in_days = 0;
  const bool has_at = read_nonnegative(body, "expires_at", at_s);
  const bool has_in = read_nonnegative(body, "expires_in_days", in_days);
  if (has_at && has_in) fail(invalid("expires_in_days", "Give 'expires_at' or 'expires_in_days', not both."));
  if (has_in) {
    if (in_days < 1 || in_days > kMaxExpiresInDays) {
      fail(invalid("expires_in_days", "'expires_in_days' must be from 1 to 3660."));
    }
    return call.now_ms + in_days * kDayMs;
  }
  if (!has_at) return std::nullopt;
  if (at_s > 100'000'000'000LL || at_s * 1000 <= call.now_ms) {
    fail(invalid("expires_at", "'expires_at' must be a Unix time in seconds in the future."));
  }
  return at_s * 1000;
}

/// The credit to write for a POST body, fully checked (kind, amount, expiry, grant, key).
store::CreditEntry credit_from_body(Context& ctx, const Call& call, const store::Org& org, const json& body) {
  reject_unknown_fields(body, {"kind", "amount_usd", "expires_at", "expires_in_days", "note", "idempotency_key",
                               "grant_id", "referred_org"});
  store::CreditEntry e;
  e.org_id = org.id;
  e.created_at = call.now_ms;
  if (!read_string(body, "kind", e.kind)) {
    fail(invalid("kind", "Missing required parameter: 'kind'.", "missing_required_parameter"));
  }
  auto kind = billing::parse_credit_kind(e.kind);
  if (!kind) {
    fail(invalid("kind", "'kind' must be one of signup_bonus, referral, promotional, paid, adjustment."));
  }
  auto amount = read_amount(body);
  if (!amount) {
    if (*kind == billing::CreditKind::kSignupBonus) amount = billing::kSignupBonusMicros;
    else if (*kind == billing::CreditKind::kReferral) amount = billing::kReferralBonusMicros;
    else fail(invalid("amount_usd", "Missing required parameter: 'amount_usd'.", "missing_required_parameter"));
  }
  e.amount_micros = *amount;
  e.expires_at = read_expiry(call, body);
  read_string(body, "note", e.note);
  if (e.note.size() > kMaxNoteBytes) fail(invalid("note", "'note' must be at most 500 bytes."));
  read_string(body, "idempotency_key", e.idempotency_key);
  if (e.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    fail(invalid("idempotency_key", "'idempotency_key' must be at most 255 bytes."));
  }
  read_string(body, "grant_id", e.grant_id);

  std::string referred;
  if (read_string(body, "referred_org", referred)) {
    if (*kind != billing::CreditKind::kReferral) fail(invalid("referred_org", "'referred_org' is for kind 'referral' only."));
    auto other = ctx.store().find_org(referred);
    if (!other) fail(invalid("referred_org", "No organization '" + referred + "'."));
    if (other->id == org.id) fail(invalid("referred_org", "An organization cannot refer itself."));
    // One referral bonus per referred organization, however often the call is repeated.
    if (e.idempotency_key.empty()) e.idempotency_key = "referral:" + other->id;
    if (e.note.empty()) e.note = "referral of " + other->name;
  }
  if (*kind == billing::CreditKind::kSignupBonus && e.idempotency_key.empty()) {
    e.idempotency_key = billing::signup_bonus_key(org.id);
  }

  if (e.amount_micros < 0) {
    // A correction draws from one grant of this org, and not below zero.
    if (*kind != billing::CreditKind::kAdjustment) {
      fail(invalid("amount_usd", "Only an 'adjustment' may be negative."));
    }
    if (e.grant_id.empty()) {
      fail(invalid("grant_id", "A negative adjustment must name the grant it corrects in 'grant_id'.",
                   "missing_required_parameter"));
    }
    if (e.expires_at) fail(invalid("expires_at", "A negative adjustment does not expire."));
    auto ledger = ctx.store().list_credits(org.id);
    auto balances = billing::credit_balances(ledger);
    auto it = std::find_if(balances.begin(), balances.end(), [&](const auto& g) { return g.id == e.grant_id; });
    if (it == balances.end()) fail(invalid("grant_id", "No grant '" + e.grant_id + "' in this organization."));
    if (-e.amount_micros > it->remaining_micros) {
      fail(invalid("amount_usd", "The grant has only " + usd(it->remaining_micros).dump() + " USD left.",
                   "insufficient_credit"));
    }
  } else if (!e.grant_id.empty()) {
    fail(invalid("grant_id", "'grant_id' is for negative adjustments only."));
  }
  return e;
}

bool same_request(const store::CreditEntry& a, const store::CreditEntry& b) {
  return a.kind == b.kind && a.amount_micros == b.amount_micros && a.grant_id == b.grant_id;
}

}  // namespace

void grant_signup_bonus(Context& ctx, const Call& call, const store::Org& org) {
  store::CreditEntry e = billing::signup_bonus_entry(org.id, call.now_ms);
  e.id = new_id("crd");
  try {
    // Part of creating the org, whose org.create entry covers it: one audit entry per call.
    ctx.store().add_credit(e, nullptr);
  } catch (const store::StoreError& err) {
    // The organization exists either way; the bonus can be granted again later (same idempotency
    // key, so never twice): POST /orgs/{org}/credits {"kind": "signup_bonus"}.
    spdlog::error("admin: sign-up bonus for {} not granted ({}): {}", org.id, call.http.request_id, err.what());
  }
}

HttpReply credits_collection(Context& ctx, Call& call, const store::Org& org) {
  if (call.http.method == "GET") {
    auto ledger = ctx.store().list_credits(org.id);
    auto balances = billing::credit_balances(ledger);
    std::map<std::string, std::int64_t> remaining;
    std::int64_t promotional = 0, paid = 0;
    for (const auto& g : balances) {
      remaining[g.id] = g.remaining_micros;
      if (!g.usable_at(call.now_ms)) continue;
      (billing::is_promotional(g.kind) ? promotional : paid) += g.remaining_micros;
    }
    json data = json::array();
    for (const auto& e : ledger) {
      auto it = remaining.find(e.id);
      data.push_back(credit_view(e, it == remaining.end() ? std::nullopt : std::optional(it->second)));
    }
    json body = list_body(std::move(data), false);
    body["balance"] = json{{"promotional_usd", usd(promotional)}, {"paid_usd", usd(paid)},
                           {"total_usd", usd(promotional + paid)}};
    return reply(200, body);
  }
  if (call.http.method != "POST") method_not_allowed(call);
  require_operator(call, "grant credits");
  store::CreditEntry e = credit_from_body(ctx, call, org, call.body());
  if (e.id.empty()) e.id = new_id("crd");
  if (e.idempotency_key.empty()) e.idempotency_key = e.id;
  const char* action = e.amount_micros > 0 ? "credit.grant" : "credit.adjust";
  auto audit = audit_entry(call, action, "credit", e.id, org.id, nullptr,
                           credit_view(e, e.amount_micros > 0 ? std::optional(e.amount_micros) : std::nullopt));
  auto result = ctx.store().add_credit(e, &audit);
  if (!result.created && !same_request(result.entry, e)) {
    fail(ApiError{409, "invalid_request_error", "idempotency_key_reused", "idempotency_key",
                  "The idempotency key '" + e.idempotency_key + "' was used for a different credit (" +
                      result.entry.id + ")."});
  }
  const auto& saved = result.entry;
  std::optional<std::int64_t> left;
  if (saved.amount_micros > 0) {
    for (const auto& g : billing::credit_balances(ctx.store().list_credits(org.id))) {
      if (g.id == saved.id) left = g.remaining_micros;
    }
  }
  // A replay answers the first call's credit with 200 instead of 201, and writes nothing.
  return reply(result.created ? 201 : 200, credit_view(saved, left));
}

}  // namespace cic::admin::detail
