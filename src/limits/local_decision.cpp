#include "local_decision.hpp"

#include <algorithm>
#include <array>

namespace cic::limits::detail {
namespace {

constexpr std::chrono::milliseconds kConcurrencyRetry{1'000};

// One limit a request must fit in: used + asked <= limit, skipped when limit is 0.
struct Check {
  Denial denial;
  const char* scope;
  const char* limit_name;
  std::int64_t limit;
  std::int64_t used;
  std::int64_t asked;
  std::chrono::milliseconds retry_after;
};

// Written as asked > limit - used: both counters are non-negative, so this cannot overflow.
bool exceeds(const Check& c) { return c.limit > 0 && c.asked > c.limit - c.used; }

Admission deny(const Check& c) {
  Admission a;
  a.denial = c.denial;
  a.scope = c.scope;
  a.limit_name = c.limit_name;
  a.limit_value = c.limit;
  a.retry_after = c.retry_after;
  return a;
}

struct RateFigure {
  std::int64_t limit = 0;
  std::int64_t remaining = 0;
};

// The most constrained of the key's and the environment's limit of one kind: the smallest
// remaining after `asked` is taken; the key wins ties. limit 0 when neither applies.
RateFigure tightest(std::int64_t key_limit, std::int64_t key_used, std::int64_t env_limit, std::int64_t env_used,
                    std::int64_t asked) {
  RateFigure best;
  bool found = false;
  for (auto [limit, used] : std::array<std::array<std::int64_t, 2>, 2>{{{key_limit, key_used}, {env_limit, env_used}}}) {
    if (limit <= 0) continue;
    const std::int64_t remaining = std::max<std::int64_t>(0, limit - used - asked);
    if (!found || remaining < best.remaining) best = {limit, remaining};
    found = true;
  }
  return best;
}

RateHeaders headers_for(const AdmissionRequest& r, const ScopeCounters& key, const ScopeCounters& env, bool admitted,
                        const Instant& now) {
  RateFigure requests = tightest(r.key.rpm, key.requests, r.environment.rpm, env.requests, admitted ? 1 : 0);
  RateFigure tokens = tightest(r.key.tpm, key.tokens, r.environment.tpm, env.tokens, admitted ? asked_tokens(r) : 0);
  RateHeaders h;
  h.present = requests.limit > 0 || tokens.limit > 0;
  if (requests.limit > 0) {
    h.limit_requests = requests.limit;
    h.remaining_requests = requests.remaining;
    h.reset_requests = now.minute_left;
  }
  if (tokens.limit > 0) {
    h.limit_tokens = tokens.limit;
    h.remaining_tokens = tokens.remaining;
    h.reset_tokens = now.minute_left;
  }
  return h;
}

// A model without a price cannot be held against a spend cap; the first scope with one refuses.
bool refuse_unpriced(const AdmissionRequest& r, Admission& out) {
  if (r.priced) return false;
  const char* scope = nullptr;
  std::int64_t cap = 0;
  if (r.environment.monthly_spend_micros > 0) {
    scope = "environment";
    cap = r.environment.monthly_spend_micros;
  } else if (r.org.monthly_spend_micros > 0) {
    scope = "org";
    cap = r.org.monthly_spend_micros;
  } else {
    return false;
  }
  out = deny({Denial::kUnpriced, scope, "monthly_spend", cap, 0, 0, std::chrono::milliseconds(0)});
  return true;
}

}  // namespace

std::int64_t asked_tokens(const AdmissionRequest& request) { return std::max<std::int64_t>(0, request.tokens); }

std::int64_t asked_cost(const AdmissionRequest& request) { return std::max<std::int64_t>(0, request.cost_micros); }

Admission decide(const AdmissionRequest& r, const ScopeCounters& key, const ScopeCounters& env,
                 const ScopeCounters& org, const Instant& now) {
  Admission out;
  if (!refuse_unpriced(r, out)) {
    const std::int64_t tokens = asked_tokens(r);
    const std::int64_t cost = asked_cost(r);
    // The order in which denials are reported: the first limit the request does not fit in.
    const std::array<Check, 10> checks{{
        {Denial::kConcurrency, "key", "concurrency", r.key.concurrency, key.in_flight, 1, kConcurrencyRetry},
        {Denial::kConcurrency, "environment", "concurrency", r.environment.concurrency, env.in_flight, 1,
         kConcurrencyRetry},
        {Denial::kRate, "key", "rpm", r.key.rpm, key.requests, 1, now.minute_left},
        {Denial::kRate, "environment", "rpm", r.environment.rpm, env.requests, 1, now.minute_left},
        {Denial::kRate, "key", "tpm", r.key.tpm, key.tokens, tokens, now.minute_left},
        {Denial::kRate, "environment", "tpm", r.environment.tpm, env.tokens, tokens, now.minute_left},
        {Denial::kQuota, "environment", "monthly_tokens", r.environment.monthly_tokens, env.month_tokens, tokens,
         now.month_left},
        {Denial::kQuota, "org", "monthly_tokens", r.org.monthly_tokens, org.month_tokens, tokens, now.month_left},
        {Denial::kSpend, "environment", "monthly_spend", r.environment.monthly_spend_micros, env.month_spend, cost,
         now.month_left},
        {Denial::kSpend, "org", "monthly_spend", r.org.monthly_spend_micros, org.month_spend, cost, now.month_left},
    }};
    auto refused = std::find_if(checks.begin(), checks.end(), exceeds);
    if (refused != checks.end()) {
      out = deny(*refused);
    } else {
      out.admitted = true;
    }
  }
  out.headers = headers_for(r, key, env, out.admitted, now);
  return out;
}

}  // namespace cic::limits::detail
