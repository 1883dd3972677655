#pragma once
// Credits: the kinds of the ledger, the balances its rows leave, and the order they are spent in.
// Pure functions over store::CreditEntry rows; no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cic/store/records.hpp"

namespace cic::billing {

enum class CreditKind { kSignupBonus, kReferral, kPromotional, kPaid, kAdjustment };

/// "signup_bonus", "referral", "promotional", "paid", "adjustment" (the ledger's `kind`).
const char* to_string(CreditKind kind);
std::optional<CreditKind> parse_credit_kind(std::string_view text);

/// Credits are spent in two classes, promotional before paid: sign-up bonuses, referral bonuses
/// and promotional grants are promotional; paid credits and (positive) adjustments are paid —
/// an adjustment gives back money, and is spent like money.
bool is_promotional(CreditKind kind);

inline constexpr std::int64_t kSignupBonusMicros = 10'000'000;  // $10, once per org
inline constexpr std::int64_t kReferralBonusMicros = 5'000'000;  // $5 per referral

/// The idempotency key of an org's sign-up bonus: at most one per org, however often it is tried.
std::string signup_bonus_key(std::string_view org_id);

/// The ledger row of an org's sign-up bonus ($10, promotional class, no expiry), keyed by
/// signup_bonus_key so that adding it again writes nothing.
store::CreditEntry signup_bonus_entry(std::string_view org_id, std::int64_t now_ms);

/// A grant and what is left of it.
struct CreditGrant {
  std::string id;
  CreditKind kind = CreditKind::kPromotional;
  std::int64_t granted_micros = 0;
  std::int64_t remaining_micros = 0;
  std::optional<std::int64_t> expires_at;  // unix ms; none = never
  std::int64_t created_at = 0;
  /// Usable at `at_ms`: something left, and not expired (expires_at > at_ms).
  bool usable_at(std::int64_t at_ms) const {
    return remaining_micros > 0 && (!expires_at || *expires_at > at_ms);
  }
};

/// Every grant of a ledger (its positive rows, in ledger order) with its remaining balance:
/// the grant minus the negative rows naming it in `grant_id`. A negative row naming no grant (or
/// an unknown one) draws from the grants in spending order, ignoring expiry. A grant's remaining
/// balance never goes below 0; rows of unknown kind are skipped.
std::vector<CreditGrant> credit_balances(const std::vector<store::CreditEntry>& ledger);

/// The grants usable at `at_ms`, in the order they are spent: promotional before paid; within a
/// class, grants that expire before grants that do not, sooner expiry first; then older first
/// (created_at, then id).
std::vector<CreditGrant> spending_order(std::vector<CreditGrant> grants, std::int64_t at_ms);

}  // namespace cic::billing
