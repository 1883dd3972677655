#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace cic::limits::detail {

/// Lua run by RedisLimiter. Keys of admit and settle, in this order (kKeyCount):
///   res, key concurrency, env concurrency (sorted sets of reservation ids, scored by admit time),
///   key rpm, env rpm, key tpm, env tpm (minute windows), env tokens, org tokens, env spend,
///   org spend (months). From key concurrency on, the same order as the admit checks.
inline constexpr std::size_t kKeyCount = 11;
enum KeyIndex : std::size_t {
  kRes = 0, kKeyConc, kEnvConc, kKeyRpm, kEnvRpm, kKeyTpm, kEnvTpm, kEnvTokens, kOrgTokens, kEnvSpend, kOrgSpend
};
/// The admit script's checks after unpriced: one per key above after res.
inline constexpr std::size_t kCheckCount = kKeyCount - 1;
using ScopeKeys = std::array<std::string, kKeyCount>;

/// Counter keys of a request's scopes in the given minute window and month.
ScopeKeys scope_keys(const std::string& prefix, const std::string& reservation_id, const std::string& key_id,
                     const std::string& environment_id, const std::string& org_id, std::int64_t minute,
                     std::int64_t month);

/// ARGV: id, now_ms, tokens, cost, priced(0|1), 10 limits (check order: key concurrency, env
/// concurrency, key rpm, env rpm, key tpm, env tpm, env monthly tokens, org monthly tokens, env
/// spend, org spend), window_ttl_ms, month_ttl_ms, reservation_ttl_ms.
/// Returns {status, failed_check, used x10}: status 1 admitted, 0 denied, -1 the reservation id
/// was already settled or cancelled (nothing done); failed_check 0 = unpriced, 1..10 = the check,
/// 11 = none; used = the counters before this request, in check order (for the concurrency sets,
/// the slots still open after expired ones were dropped).
extern const char* const kAdmitScript;

/// ARGV: id, actual_tokens, actual_cost, tombstone_ttl_ms. Returns 1 when settled now, 0 when
/// already settled (or not admitted yet: the tombstone then keeps a late admit from applying).
extern const char* const kSettleScript;

/// KEYS: the batch's marker key, then counters; ARGV: marker_ttl_ms, then (delta, ttl_ms) per
/// counter. Adds each delta (never below 0), sets the TTL where the counter has none. A marker
/// seen before makes it a no-op, so a retried batch is counted once. Returns 1 applied, 0 repeat.
extern const char* const kReconcileScript;

}  // namespace cic::limits::detail
