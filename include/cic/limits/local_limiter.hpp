#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cic/common/clock.hpp"
#include "cic/limits/limiter.hpp"

namespace cic::limits {

namespace detail {

/// The counters LocalLimiter keeps for one scope: only its current minute and month.
struct ScopeCounters {
  std::int64_t minute = -1;  // window id of `requests` and `tokens` (keys and environments)
  std::int64_t requests = 0;
  std::int64_t tokens = 0;
  std::int64_t month = -1;  // month id of `month_tokens` and `month_spend` (environments and orgs)
  std::int64_t month_tokens = 0;
  std::int64_t month_spend = 0;
  std::int64_t in_flight = 0;  // open reservations: a key's or environment's concurrency; > 0 pins the entry
};

}  // namespace detail

struct LocalLimiterOptions {
  /// Backstop for a reservation nobody settles (the gateway always settles, also on errors and cut
  /// streams; this only bounds the damage of a bug). Once a reservation is older than this, its
  /// concurrency slots (key and environment) are released and its worst case stays counted as if
  /// it had been used; a later settle of it is a no-op. Longer than any request the gateway lets run.
  std::chrono::minutes stale_reservation_after{60};
};

/// The embedded limiter: counts every scope in this process's memory, so each replica enforces the
/// limits on its own (the Redis limiter shares them). No I/O; `admit` calls `done` before it
/// returns, on the caller's thread.
///
/// Scopes and what is counted in each (a limit of 0 means none; usage is counted regardless, so a
/// limit raised mid-window or mid-month sees the usage so far):
///   key          rpm, tpm, concurrency
///   environment  rpm, tpm, concurrency (in flight across all its keys), monthly_tokens,
///                monthly_spend_micros
///   org          monthly_tokens, monthly_spend_micros (shared by every environment of the org;
///                monthly_tokens is the org's quota, e.g. a free plan's monthly free tokens)
/// Rates use fixed one-minute windows, id = floor(unix_ms / 60000) of the Clock's wall time;
/// quotas and spend caps use UTC calendar months (windows.hpp). A wall clock stepping back keeps
/// counting into the newer window rather than reopening an old one.
///
/// admit: atomic across scopes. If the request fits every scope ("fits" = used + asked <= limit)
/// it holds its worst case in all of them -- requests +1, tokens += request.tokens, spend +=
/// request.cost_micros (the org's monthly tokens and spend included), key and environment
/// concurrency +1 -- and returns a reservation. Otherwise nothing changes and the first denial is
/// returned in this order:
///   unpriced   model without a price while the environment or the org has a spend cap
///              (Denial::kUnpriced, limit_name "monthly_spend", retry_after 0: waiting cannot help,
///              so it is reported before anything that would suggest waiting)
///   key concurrency, environment concurrency (kConcurrency, limit_name "concurrency",
///              retry_after 1 s)
///   key rpm, environment rpm, key tpm, environment tpm (kRate, retry_after = end of the minute;
///              also for a request asking more tokens than the whole tpm limit)
///   environment monthly_tokens, org monthly_tokens (kQuota, limit_name "monthly_tokens"),
///              environment spend, org spend (kSpend) (retry_after = end of the UTC month)
///
/// Headers (on admissions and denials): the request-rate scope with the smallest remaining among
/// key and environment rpm, and likewise for tpm (the key wins ties): its limit, what remains
/// after this request (on a denial nothing was taken, so what remains now), never below 0, and
/// the time until the minute ends. Fields of a kind with no limit stay 0; `present` is false when
/// neither rpm nor tpm applies.
///
/// settle: releases the concurrency slots (key and environment) and moves the token and spend
/// counters of the windows and months the reservation was counted in by (actual - reserved),
/// never below 0, so they end up counting the real usage; windows that have ended since are left
/// alone. An unknown, stale or already settled reservation is a no-op.
///
/// Memory: each scope keeps only its current minute and month. A key is forgotten once its minute
/// has ended and nothing of it is in flight; an environment or org once its month has ended too
/// (or neither its monthly tokens nor its spend counts anything this month). So memory is bounded
/// by the keys active in the last minute, the environments and orgs active this month, and the
/// requests in flight. Each shard is swept once per minute, by the first admit that touches it.
///
/// Thread-safe; every call may come from any thread. State is split into shards, each under its
/// own mutex held for a few hash lookups; an admission locks the shards of its scopes in index
/// order, so it is atomic without a global lock.
class LocalLimiter final : public Limiter {
 public:
  explicit LocalLimiter(const Clock& clock, LocalLimiterOptions options = {});
  ~LocalLimiter() override;

  void admit(const AdmissionRequest& request, std::function<void(Admission)> done) override;
  void settle(const std::string& reservation, const Usage& actual) override;

  /// The synchronous form of admit (what admit calls).
  Admission admit_now(const AdmissionRequest& request);

  /// Scopes currently held in memory (keys + environments + orgs), for tests and metrics.
  std::size_t tracked_scopes() const;
  /// Reservations admitted and not yet settled or reclaimed.
  std::size_t open_reservations() const;

 private:
  enum ScopeKind : std::uint8_t { kKey = 0, kEnvironment = 1, kOrg = 2 };

  using Counters = detail::ScopeCounters;

  struct alignas(64) Shard {  // own cache lines: threads locking neighbours must not collide
    mutable std::mutex mutex;
    std::array<std::unordered_map<std::string, Counters>, 3> scopes;  // by ScopeKind
    std::atomic<std::int64_t> swept_minute{-1};
  };

  /// What settle needs: where the worst case was counted. The Counters pointers stay valid while
  /// the reservation is open, because in_flight > 0 keeps their entries from being swept.
  struct Reservation {
    std::array<Counters*, 3> counters{};
    std::array<std::uint32_t, 3> shard{};
    std::array<std::int64_t, 3> minute{};
    std::array<std::int64_t, 3> month{};
    std::int64_t tokens = 0;
    std::int64_t cost_micros = 0;
    std::int64_t created_minute = 0;
  };

  struct alignas(64) ReservationShard {
    mutable std::mutex mutex;
    std::unordered_map<std::uint64_t, Reservation> open;
    std::atomic<std::int64_t> swept_minute{-1};
  };

  static constexpr std::size_t kShards = 64;

  std::uint32_t shard_index(ScopeKind kind, const std::string& id) const;
  void sweep_if_due(Shard& shard, std::int64_t minute, std::int64_t month);
  void reclaim_stale_if_due(ReservationShard& shard, std::int64_t minute);
  void release(const Reservation& reservation, const Usage* actual);
  std::string remember(const Reservation& reservation, std::int64_t minute, std::int64_t month);

  const Clock& clock_;
  const LocalLimiterOptions options_;
  std::atomic<std::uint64_t> next_reservation_{1};
  mutable std::array<Shard, kShards> shards_;
  mutable std::array<ReservationShard, kShards> reservations_;
};

}  // namespace cic::limits
