#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "cic/common/clock.hpp"
#include "cic/limits/limiter.hpp"

namespace cic::cache {
class RedisClient;
}

namespace cic::limits {

namespace detail {
class RedisLimiterCore;
}

struct RedisLimiterOptions {
  /// Prefix of every Redis key the limiter writes (tests use one per case).
  std::string key_prefix = "cic:limits:";
  /// The most an admission waits on Redis (LimitsConfig::redis_timeout).
  std::chrono::milliseconds redis_timeout{25};
  /// After a Redis timeout or error, how long to decide locally before probing again.
  std::chrono::milliseconds breaker_cooldown{1'000};
  /// Replicas sharing the Redis counters: local shares are limit / replicas.
  unsigned replicas = 1;
  /// With Redis unavailable: refuse every request (true) or decide on local shares (false).
  bool fail_closed = false;
  /// Called once for every decision taken without Redis (a metric's counter); any thread.
  std::function<void()> on_fallback;
  /// Backstop for reservations nobody settles: after this their records expire in Redis (the
  /// concurrency slot is released, the worst case stays counted) and are forgotten here.
  std::chrono::minutes reservation_ttl{60};
};

/// The shared limiter: the same scopes, windows and semantics as LocalLimiter (see
/// local_limiter.hpp), counted in Redis so every replica enforces one set of limits.
///
/// Redis: one Lua script admits across every scope atomically (checks in LocalLimiter's order --
/// unpriced, key concurrency, environment concurrency, key rpm, environment rpm, key tpm,
/// environment tpm, environment monthly_tokens, org monthly_tokens, environment spend, org spend
/// -- and holds the worst case in all scopes or changes nothing), a second settles, a third adds
/// what was decided locally while Redis was away. Window and month ids come from the injected
/// Clock (so replicas must agree on wall time; tests drive it). Counters expire: minute windows
/// after 2 minutes, months after 32 days, reservations and concurrency slots after
/// reservation_ttl. The key's and the environment's concurrency are each a sorted set of the
/// open reservation ids scored by admit time: settle removes the id from both, and a slot nobody
/// settled is dropped from both once older than reservation_ttl.
/// Keys: <prefix>k:<key_id>:{conc,rpm:<minute>,tpm:<minute>}, <prefix>e:<env_id>:{conc,
/// rpm:<minute>,tpm:<minute>,tok:<month>,spend:<month>}, <prefix>o:<org_id>:{tok:<month>,
/// spend:<month>}, <prefix>res:<id>.
/// A single Redis server (or a primary), not Redis Cluster.
///
/// Budget and breaker: an admission waits at most redis_timeout on Redis. A timeout or error
/// opens the breaker; for breaker_cooldown every decision is local, then the first call made
/// after it sends one probe (the pending reconciliation and settles, or a PING) while callers
/// keep deciding locally; its success closes the breaker.
///
/// Without Redis (Admission::degraded = true, on_fallback called):
///   fail_closed  every request is refused: Denial::kRate, scope "redis", limit_name
///                "unavailable", retry_after = the rest of the cooldown;
///   otherwise    a LocalLimiter decides with rpm, tpm and concurrency (key and environment)
///                divided by `replicas` (at least 1; the concurrency shares count the requests
///                admitted locally), and monthly token quotas (environment and org) and spend
///                caps get a local share: (remaining at the last Redis answer for that scope, or
///                the whole limit when none was seen this month) / replicas, minus what was taken
///                locally and not yet reconciled. Everything admitted locally (requests, tokens,
///                spend, and the settle corrections) is added to the Redis counters of the same
///                windows and months once Redis answers again (idempotently, in batches), so
///                overshoot stays bounded by the local shares.
///   A monthly share refusing a request that the local rates admitted gives back its tokens
///   and concurrency at once, but its request still counts in the local minute.
///
/// settle: a reservation admitted by Redis is settled in Redis (queued while the breaker is open
/// and sent when it closes; never dropped); one admitted locally is released locally and its
/// correction reconciled. An admission that timed out on Redis may still be applied there later:
/// its reservation is cancelled (settled with zero usage) when Redis is back, and a tombstone
/// keeps a late admission from applying after that. Unknown or repeated settles are no-ops.
///
/// Threads: admit's `done` runs on the Redis client's thread when Redis decided (or timed out),
/// and on the caller's thread, before admit returns, when the breaker is open. It must not
/// block. All methods are thread-safe. The Clock and the RedisClient must outlive the limiter.
class RedisLimiter final : public Limiter {
 public:
  RedisLimiter(const Clock& clock, cache::RedisClient& redis, RedisLimiterOptions options);
  ~RedisLimiter() override;

  void admit(const AdmissionRequest& request, std::function<void(Admission)> done) override;
  void settle(const std::string& reservation, const Usage& actual) override;

  /// True while decisions are local (for tests and metrics).
  bool breaker_open() const;
  /// Settles and reconciliation batches waiting for Redis.
  std::size_t pending_redis_work() const;

 private:
  std::shared_ptr<detail::RedisLimiterCore> core_;
};

}  // namespace cic::limits
