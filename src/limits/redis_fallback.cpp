#include "redis_fallback.hpp"

#include <algorithm>
#include <limits>

#include "cic/limits/windows.hpp"

namespace cic::limits::detail {
namespace {

// A spend cap the LocalLimiter cannot reach: it keeps refusing unpriced models (in its order,
// with its headers) while the monthly shares below do the real spend check.
constexpr std::int64_t kUnreachable = std::numeric_limits<std::int64_t>::max() / 4;

Admission deny_month(Denial denial, const char* scope, const char* name, std::int64_t limit,
                     std::chrono::milliseconds retry, const RateHeaders& headers) {
  Admission a;
  a.denial = denial;
  a.scope = scope;
  a.limit_name = name;
  a.limit_value = limit;
  a.retry_after = retry;
  a.headers = headers;
  return a;
}

}  // namespace

RedisFallback::RedisFallback(const Clock& clock, unsigned replicas, std::int64_t window_ttl_ms,
                             std::int64_t month_ttl_ms)
    : clock_(clock), replicas_(std::max(1u, replicas)), window_ttl_ms_(window_ttl_ms), month_ttl_ms_(month_ttl_ms), local_(clock) {}

// 0 stays "no limit"; a positive limit never becomes 0 (which would lift it).
std::int64_t RedisFallback::share(std::int64_t limit) const {
  return limit <= 0 ? 0 : std::max<std::int64_t>(1, limit / replicas_);
}

bool RedisFallback::fits_month_locked(const std::string& key, std::int64_t limit, std::int64_t asked) const {
  if (limit <= 0) return true;
  auto r = remaining_.find(key);
  const std::int64_t base = r != remaining_.end() ? r->second : limit;
  auto u = unreconciled_.find(key);
  const std::int64_t taken = u != unreconciled_.end() ? u->second : 0;
  return asked <= std::max<std::int64_t>(0, base) / replicas_ - taken;
}

void RedisFallback::add_locked(const std::string& key, std::int64_t delta, std::int64_t ttl_ms) {
  if (delta == 0) return;
  Entry& e = ledger_[key];
  e.delta += delta;
  e.ttl_ms = ttl_ms;
  if ((unreconciled_[key] += delta) == 0) unreconciled_.erase(key);
}

Admission RedisFallback::admit(const AdmissionRequest& request, const ScopeKeys& keys, LocalHold& hold) {
  AdmissionRequest shares = request;
  shares.key.rpm = share(request.key.rpm);
  shares.key.tpm = share(request.key.tpm);
  shares.key.concurrency = share(request.key.concurrency);
  shares.environment.concurrency = share(request.environment.concurrency);
  shares.environment.rpm = share(request.environment.rpm);
  shares.environment.tpm = share(request.environment.tpm);
  shares.environment.monthly_tokens = 0;  // the monthly shares below decide these
  shares.org.monthly_tokens = 0;
  shares.environment.monthly_spend_micros = request.environment.monthly_spend_micros > 0 ? kUnreachable : 0;
  shares.org.monthly_spend_micros = request.org.monthly_spend_micros > 0 ? kUnreachable : 0;

  const std::int64_t tokens = std::max<std::int64_t>(0, request.tokens);
  const std::int64_t cost = std::max<std::int64_t>(0, request.cost_micros);
  std::lock_guard lock(mutex_);
  Admission a = local_.admit_now(shares);
  if (!a.admitted) {
    if (a.denial == Denial::kUnpriced) {
      a.limit_value = a.scope == "org" ? request.org.monthly_spend_micros : request.environment.monthly_spend_micros;
    }
    return a;
  }

  const auto month_left = until_month_end(clock_.unix_millis());
  Admission refused;
  if (!fits_month_locked(keys[kEnvTokens], request.environment.monthly_tokens, tokens)) {
    refused = deny_month(Denial::kQuota, "environment", "monthly_tokens", request.environment.monthly_tokens,
                         month_left, a.headers);
  } else if (!fits_month_locked(keys[kOrgTokens], request.org.monthly_tokens, tokens)) {
    refused = deny_month(Denial::kQuota, "org", "monthly_tokens", request.org.monthly_tokens, month_left, a.headers);
  } else if (!fits_month_locked(keys[kEnvSpend], request.environment.monthly_spend_micros, cost)) {
    refused = deny_month(Denial::kSpend, "environment", "monthly_spend", request.environment.monthly_spend_micros,
                         month_left, a.headers);
  } else if (!fits_month_locked(keys[kOrgSpend], request.org.monthly_spend_micros, cost)) {
    refused = deny_month(Denial::kSpend, "org", "monthly_spend", request.org.monthly_spend_micros, month_left,
                         a.headers);
  }
  if (refused.denial != Denial::kNone) {
    local_.settle(a.reservation, Usage{0, 0});  // gives back tokens and the concurrency slots
    return refused;
  }

  add_locked(keys[kKeyRpm], 1, window_ttl_ms_);
  add_locked(keys[kEnvRpm], 1, window_ttl_ms_);
  add_locked(keys[kKeyTpm], tokens, window_ttl_ms_);
  add_locked(keys[kEnvTpm], tokens, window_ttl_ms_);
  add_locked(keys[kEnvTokens], tokens, month_ttl_ms_);
  add_locked(keys[kOrgTokens], tokens, month_ttl_ms_);
  add_locked(keys[kEnvSpend], cost, month_ttl_ms_);
  add_locked(keys[kOrgSpend], cost, month_ttl_ms_);
  hold = LocalHold{a.reservation, keys, tokens, cost};
  return a;
}

void RedisFallback::settle(const LocalHold& hold, const Usage& actual) {
  const std::int64_t dt = std::max<std::int64_t>(0, actual.tokens) - hold.tokens;
  const std::int64_t dc = std::max<std::int64_t>(0, actual.cost_micros) - hold.cost;
  std::lock_guard lock(mutex_);
  local_.settle(hold.local_reservation, actual);
  add_locked(hold.keys[kKeyTpm], dt, window_ttl_ms_);
  add_locked(hold.keys[kEnvTpm], dt, window_ttl_ms_);
  add_locked(hold.keys[kEnvTokens], dt, month_ttl_ms_);
  add_locked(hold.keys[kOrgTokens], dt, month_ttl_ms_);
  add_locked(hold.keys[kEnvSpend], dc, month_ttl_ms_);
  add_locked(hold.keys[kOrgSpend], dc, month_ttl_ms_);
}

void RedisFallback::remember_remaining(const std::string& key, std::int64_t month, std::int64_t remaining) {
  std::lock_guard lock(mutex_);
  if (month < remaining_month_) return;
  if (month > remaining_month_) {
    remaining_.clear();
    remaining_month_ = month;
  }
  remaining_[key] = remaining;
}

ReconcileBatch RedisFallback::take_batch(std::size_t max_keys, const std::string& id) {
  ReconcileBatch batch;
  batch.id = id;
  std::lock_guard lock(mutex_);
  for (auto it = ledger_.begin(); it != ledger_.end() && batch.keys.size() < max_keys;) {
    if (it->second.delta != 0) {
      batch.keys.push_back(it->first);
      batch.deltas.push_back(it->second.delta);
      batch.ttls_ms.push_back(it->second.ttl_ms);
    }
    it = ledger_.erase(it);
  }
  return batch;
}

void RedisFallback::batch_applied(const ReconcileBatch& batch) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < batch.keys.size(); ++i) {
    const std::string& key = batch.keys[i];
    if (auto u = unreconciled_.find(key); u != unreconciled_.end() && (u->second -= batch.deltas[i]) == 0) {
      unreconciled_.erase(u);
    }
    if (auto r = remaining_.find(key); r != remaining_.end()) r->second -= batch.deltas[i];
  }
}

bool RedisFallback::ledger_empty() const {
  std::lock_guard lock(mutex_);
  return ledger_.empty();
}

}  // namespace cic::limits::detail
