#include "cic/billing/credits.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace cic::billing {

namespace {

struct KindName {
  CreditKind kind;
  const char* name;
};

constexpr KindName kKinds[] = {
    {CreditKind::kSignupBonus, "signup_bonus"}, {CreditKind::kReferral, "referral"},
    {CreditKind::kPromotional, "promotional"},  {CreditKind::kPaid, "paid"},
    {CreditKind::kAdjustment, "adjustment"},
};

// Spending order ignoring usability: class, expiring first (soonest first), created_at, id.
bool spent_before(const CreditGrant& a, const CreditGrant& b) {
  const bool a_promo = is_promotional(a.kind);
  const bool b_promo = is_promotional(b.kind);
  if (a_promo != b_promo) return a_promo;
  const std::int64_t never = std::numeric_limits<std::int64_t>::max();
  const std::int64_t a_exp = a.expires_at.value_or(never);
  const std::int64_t b_exp = b.expires_at.value_or(never);
  if (a_exp != b_exp) return a_exp < b_exp;
  if (a.created_at != b.created_at) return a.created_at < b.created_at;
  return a.id < b.id;
}

}  // namespace

const char* to_string(CreditKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

std::optional<CreditKind> parse_credit_kind(std::string_view text) {
  for (const auto& k : kKinds) {
    if (text == k.name) return k.kind;
  }
  return std::nullopt;
}

bool is_promotional(CreditKind kind) {
  return kind == CreditKind::kSignupBonus || kind == CreditKind::kReferral || kind == CreditKind::kPromotional;
}

std::string signup_bonus_key(std::string_view org_id) { return "signup_bonus:" + std::string(org_id); }

store::CreditEntry signup_bonus_entry(std::string_view org_id, std::int64_t now_ms) {
  store::CreditEntry e;
  e.org_id = std::string(org_id);
  e.kind = to_string(CreditKind::kSignupBonus);
  e.amount_micros = kSignupBonusMicros;
  e.created_at = now_ms;
  e.note = "sign-up bonus";
  e.idempotency_key = signup_bonus_key(org_id);
  return e;
}

std::vector<CreditGrant> credit_balances(const std::vector<store::CreditEntry>& ledger) {
  std::vector<CreditGrant> grants;
  std::map<std::string, std::size_t> index;
  for (const auto& row : ledger) {
    auto kind = parse_credit_kind(row.kind);
    if (!kind || row.amount_micros <= 0) continue;
    index.emplace(row.id, grants.size());
    grants.push_back(CreditGrant{row.id, *kind, row.amount_micros, row.amount_micros, row.expires_at, row.created_at});
  }
  std::vector<std::int64_t> unattributed;  // debits naming no known grant, in ledger order
  for (const auto& row : ledger) {
    if (row.amount_micros >= 0 || !parse_credit_kind(row.kind)) continue;
    const std::int64_t debit = -row.amount_micros;
    auto it = index.find(row.grant_id);
    if (it == index.end()) {
      unattributed.push_back(debit);
      continue;
    }
    CreditGrant& g = grants[it->second];
    g.remaining_micros = std::max<std::int64_t>(0, g.remaining_micros - debit);
  }
  if (!unattributed.empty()) {
    std::vector<CreditGrant*> order;
    for (auto& g : grants) order.push_back(&g);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return spent_before(*a, *b); });
    for (std::int64_t debit : unattributed) {
      for (CreditGrant* g : order) {
        const std::int64_t take = std::min(debit, g->remaining_micros);
        g->remaining_micros -= take;
        debit -= take;
        if (debit == 0) break;
      }
    }
  }
  return grants;
}

std::vector<CreditGrant> spending_order(std::vector<CreditGrant> grants, std::int64_t at_ms) {
  std::erase_if(grants, [&](const CreditGrant& g) { return !g.usable_at(at_ms); });
  std::stable_sort(grants.begin(), grants.end(), spent_before);
  return grants;
}

}  // namespace cic::billing
