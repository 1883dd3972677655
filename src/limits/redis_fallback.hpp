#pragma once
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/limits/limiter.hpp"
#include "cic/limits/local_limiter.hpp"
#include "redis_scripts.hpp"

namespace cic::limits::detail {

/// Counter increments decided locally, to be added to Redis under one idempotency marker.
struct ReconcileBatch {
  std::string id;
  std::vector<std::string> keys;
  std::vector<std::int64_t> deltas;
  std::vector<std::int64_t> ttls_ms;
};

/// A reservation admitted locally while Redis was away.
struct LocalHold {
  std::string local_reservation;  // LocalLimiter's handle
  ScopeKeys keys;                 // where its usage is reconciled
  std::int64_t tokens = 0;
  std::int64_t cost = 0;
};

/// The degraded mode of RedisLimiter: a LocalLimiter on rate and concurrency shares, monthly
/// shares of what Redis last said remained, and the ledger of everything taken locally that
/// Redis has not been told yet. Thread-safe (one mutex; a decision takes microseconds).
class RedisFallback {
 public:
  RedisFallback(const Clock& clock, unsigned replicas, std::int64_t window_ttl_ms, std::int64_t month_ttl_ms);

  /// Decides `request` locally. When admitted, `hold` receives what settle needs.
  Admission admit(const AdmissionRequest& request, const ScopeKeys& keys, LocalHold& hold);
  /// Releases a local reservation and records its correction for reconciliation.
  void settle(const LocalHold& hold, const Usage& actual);

  /// Remembers, from a Redis answer, what remains in `month` of a monthly counter. Entries of
  /// older months are forgotten when a newer month is seen.
  void remember_remaining(const std::string& key, std::int64_t month, std::int64_t remaining);

  /// Moves up to `max_keys` ledger entries into a new batch (empty when there is nothing).
  ReconcileBatch take_batch(std::size_t max_keys, const std::string& id);
  /// The batch reached Redis: its amounts are no longer unreconciled and no longer remain.
  void batch_applied(const ReconcileBatch& batch);
  bool ledger_empty() const;

 private:
  struct Entry {
    std::int64_t delta = 0;
    std::int64_t ttl_ms = 0;
  };
  void add_locked(const std::string& key, std::int64_t delta, std::int64_t ttl_ms);
  std::int64_t share(std::int64_t limit) const;
  bool fits_month_locked(const std::string& key, std::int64_t limit, std::int64_t asked) const;

  const Clock& clock_;
  const unsigned replicas_;
  const std::int64_t window_ttl_ms_;
  const std::int64_t month_ttl_ms_;
  LocalLimiter local_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> ledger_;                 // not yet in a batch
  std::unordered_map<std::string, std::int64_t> unreconciled_;    // ledger + batches in flight
  std::unordered_map<std::string, std::int64_t> remaining_;       // at the last Redis answer
  std::int64_t remaining_month_ = -1;                             // the month remaining_ is of
};

}  // namespace cic::limits::detail
