#include "cic/limits/redis_limiter.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "cic/limits/windows.hpp"
#include "local_decision.hpp"
#include "redis_limiter_core.hpp"

namespace cic::limits {
namespace detail {
namespace {

constexpr std::int64_t kWindowTtlMs = 2 * kMinuteMillis;
constexpr std::int64_t kMonthTtlMs = 32LL * 24 * 3600 * 1000;
constexpr std::size_t kAdmitReplySize = 2 + kCheckCount;

// The admit script's reply: status, failed check, the ten counters before this request.
bool parse_admit(const cache::Reply& reply, std::array<std::int64_t, kAdmitReplySize>& out) {
  if (reply.kind != cache::Reply::Kind::kArray || reply.elements.size() != kAdmitReplySize) return false;
  for (std::size_t i = 0; i < kAdmitReplySize; ++i) {
    if (reply.elements[i].kind != cache::Reply::Kind::kInteger) return false;
    out[i] = reply.elements[i].integer;
  }
  return out[0] == 0 || out[0] == 1;
}

}  // namespace

RedisLimiterCore::RedisLimiterCore(const Clock& clock, cache::RedisClient& redis, RedisLimiterOptions options)
    : clock_(clock),
      redis_(redis),
      options_(std::move(options)),
      window_ttl_ms_(kWindowTtlMs),
      month_ttl_ms_(kMonthTtlMs),
      reservation_ttl_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(options_.reservation_ttl).count()),
      // Settles and reconciliation are off the request path: they may wait longer than admits.
      sync_timeout_(std::max(options_.redis_timeout * 4, std::chrono::milliseconds(200))),
      admit_script_(redis.load_script(kAdmitScript)),
      settle_script_(redis.load_script(kSettleScript)),
      reconcile_script_(redis.load_script(kReconcileScript)),
      fallback_(clock, options_.replicas, kWindowTtlMs, kMonthTtlMs),
      random_(std::random_device{}()),
      next_sweep_(clock.now() + std::chrono::minutes(1)) {}

// Unique across replicas: 64 random bits per limiter plus a counter.
std::string RedisLimiterCore::new_id() {
  if (next_id_ == 0) next_id_ = random_() | 1;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%llx", static_cast<unsigned long long>(random_()),
                static_cast<unsigned long long>(next_id_++));
  return buf;
}

void RedisLimiterCore::admit(const AdmissionRequest& request, std::function<void(Admission)> done) {
  sweep_if_due();
  const std::int64_t now_ms = clock_.unix_millis();
  std::string id;
  {
    std::lock_guard lock(mutex_);
    id = new_id();
  }
  ScopeKeys keys = scope_keys(options_.key_prefix, id, request.key_id, request.environment_id, request.org_id,
                              minute_window(now_ms), month_window(now_ms));
  if (!stopped_ && use_redis()) {
    admit_in_redis(request, std::move(id), std::move(keys), now_ms, std::move(done));
    return;
  }
  done(decide_locally(request, id, keys));
}

void RedisLimiterCore::admit_in_redis(const AdmissionRequest& request, std::string id, ScopeKeys keys,
                                      std::int64_t now_ms, std::function<void(Admission)> done) {
  std::vector<std::string> args{id,
                                std::to_string(now_ms),
                                std::to_string(asked_tokens(request)),
                                std::to_string(asked_cost(request)),
                                request.priced ? "1" : "0",
                                std::to_string(request.key.concurrency),
                                std::to_string(request.environment.concurrency),
                                std::to_string(request.key.rpm),
                                std::to_string(request.environment.rpm),
                                std::to_string(request.key.tpm),
                                std::to_string(request.environment.tpm),
                                std::to_string(request.environment.monthly_tokens),
                                std::to_string(request.org.monthly_tokens),
                                std::to_string(request.environment.monthly_spend_micros),
                                std::to_string(request.org.monthly_spend_micros),
                                std::to_string(window_ttl_ms_),
                                std::to_string(month_ttl_ms_),
                                std::to_string(reservation_ttl_ms_)};
  std::vector<std::string> key_list(keys.begin(), keys.end());
  redis_.eval(admit_script_, std::move(key_list), std::move(args), options_.redis_timeout,
              [self = shared_from_this(), request, id = std::move(id), keys = std::move(keys), now_ms,
               done = std::move(done)](cache::Reply reply) mutable {
                self->on_admit_reply(request, id, keys, now_ms, reply, done);
              });
}

void RedisLimiterCore::on_admit_reply(const AdmissionRequest& request, const std::string& id, const ScopeKeys& keys,
                                      std::int64_t now_ms, const cache::Reply& reply,
                                      std::function<void(Admission)>& done) {
  std::array<std::int64_t, kAdmitReplySize> r{};
  if (!parse_admit(reply, r)) {
    // Timed out or failed. A timed-out admission may still run in Redis later: cancel it there
    // (the tombstone also stops it from applying after the cancel).
    trip();
    {
      std::lock_guard lock(mutex_);
      settles_.push_back({keys, id, Usage{0, 0}});
    }
    done(decide_locally(request, id, keys));
    return;
  }
  const bool admitted = r[0] == 1;
  const std::int64_t* used = &r[2];
  ScopeCounters key, env, org;
  key.in_flight = used[0];
  env.in_flight = used[1];
  key.requests = used[2];
  env.requests = used[3];
  key.tokens = used[4];
  env.tokens = used[5];
  env.month_tokens = used[6];
  org.month_tokens = used[7];
  env.month_spend = used[8];
  org.month_spend = used[9];
  const Instant instant{minute_window(now_ms), month_window(now_ms), until_minute_end(now_ms),
                        until_month_end(now_ms)};
  // The script decided; the same pure function as LocalLimiter words the answer (denial fields,
  // retry_after, headers), from the counters the script saw.
  Admission a = decide(request, key, env, org, instant);
  if (a.admitted != admitted) {  // only if the script and decide() ever disagreed
    Admission fixed;
    fixed.admitted = admitted;
    fixed.headers = a.headers;
    if (!admitted) {
      fixed.denial = Denial::kRate;
      fixed.scope = "redis";
      fixed.limit_name = "script";
      fixed.retry_after = instant.minute_left;
    }
    a = std::move(fixed);
  }

  const std::int64_t tokens = admitted ? asked_tokens(request) : 0;
  const std::int64_t cost = admitted ? asked_cost(request) : 0;
  const std::int64_t month = instant.month;
  if (request.environment.monthly_tokens > 0) {
    fallback_.remember_remaining(keys[kEnvTokens], month, request.environment.monthly_tokens - used[6] - tokens);
  }
  if (request.org.monthly_tokens > 0) {
    fallback_.remember_remaining(keys[kOrgTokens], month, request.org.monthly_tokens - used[7] - tokens);
  }
  if (request.environment.monthly_spend_micros > 0) {
    fallback_.remember_remaining(keys[kEnvSpend], month, request.environment.monthly_spend_micros - used[8] - cost);
  }
  if (request.org.monthly_spend_micros > 0) {
    fallback_.remember_remaining(keys[kOrgSpend], month, request.org.monthly_spend_micros - used[9] - cost);
  }
  if (admitted) {
    a.reservation = "r:" + id;
    std::lock_guard lock(mutex_);
    redis_holds_[a.reservation] = RedisHold{keys, id, clock_.now()};
  }
  done(std::move(a));
}

Admission RedisLimiterCore::decide_locally(const AdmissionRequest& request, const std::string& id,
                                           const ScopeKeys& keys) {
  if (options_.on_fallback) options_.on_fallback();
  Admission a;
  if (options_.fail_closed) {
    a.denial = Denial::kRate;
    a.scope = "redis";
    a.limit_name = "unavailable";
    std::lock_guard lock(mutex_);
    auto left = std::chrono::ceil<std::chrono::milliseconds>(open_until_ - clock_.now());
    a.retry_after = std::max(left, std::chrono::milliseconds(1));
  } else {
    LocalHold hold;
    a = fallback_.admit(request, keys, hold);
    if (a.admitted) {
      a.reservation = "l:" + id;
      std::lock_guard lock(mutex_);
      local_holds_[a.reservation] = LocalEntry{std::move(hold), clock_.now()};
    }
  }
  a.degraded = true;
  return a;
}

// Reservations nobody settled (a bug elsewhere): forgotten after reservation_ttl, as their
// records expire in Redis and LocalLimiter reclaims its own.
void RedisLimiterCore::sweep_if_due() {
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  if (now < next_sweep_) return;
  next_sweep_ = now + std::chrono::minutes(1);
  const auto cutoff = now - options_.reservation_ttl;
  std::erase_if(redis_holds_, [&](const auto& e) { return e.second.created < cutoff; });
  std::erase_if(local_holds_, [&](const auto& e) { return e.second.created < cutoff; });
}

bool RedisLimiterCore::breaker_open() const {
  std::lock_guard lock(mutex_);
  return breaker_ != Breaker::kClosed;
}

std::size_t RedisLimiterCore::pending_redis_work() const {
  std::lock_guard lock(mutex_);
  return settles_.size() + batches_.size() + (fallback_.ledger_empty() ? 0 : 1);
}

}  // namespace detail

RedisLimiter::RedisLimiter(const Clock& clock, cache::RedisClient& redis, RedisLimiterOptions options)
    : core_(std::make_shared<detail::RedisLimiterCore>(clock, redis, std::move(options))) {}

RedisLimiter::~RedisLimiter() { core_->stop(); }

void RedisLimiter::admit(const AdmissionRequest& request, std::function<void(Admission)> done) {
  core_->admit(request, std::move(done));
}

void RedisLimiter::settle(const std::string& reservation, const Usage& actual) { core_->settle(reservation, actual); }

bool RedisLimiter::breaker_open() const { return core_->breaker_open(); }

std::size_t RedisLimiter::pending_redis_work() const { return core_->pending_redis_work(); }

}  // namespace cic::limits
