#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>

#include "cic/cache/redis_client.hpp"
#include "cic/limits/redis_limiter.hpp"
#include "redis_fallback.hpp"
#include "redis_scripts.hpp"

namespace cic::limits::detail {

/// RedisLimiter's state. Shared with the Redis callbacks in flight, so a reply arriving after the
/// limiter is gone finds it alive (and then sends nothing more to Redis).
class RedisLimiterCore : public std::enable_shared_from_this<RedisLimiterCore> {
 public:
  RedisLimiterCore(const Clock& clock, cache::RedisClient& redis, RedisLimiterOptions options);

  void admit(const AdmissionRequest& request, std::function<void(Admission)> done);
  void settle(const std::string& reservation, const Usage& actual);
  void stop() { stopped_ = true; }

  bool breaker_open() const;
  std::size_t pending_redis_work() const;

 private:
  enum class Breaker { kClosed, kOpen, kProbing };

  /// A reservation held in Redis: where to settle it.
  struct RedisHold {
    ScopeKeys keys;
    std::string id;
    std::chrono::steady_clock::time_point created;
  };
  struct SettleJob {
    ScopeKeys keys;
    std::string id;
    Usage actual;
  };
  struct LocalEntry {
    LocalHold hold;
    std::chrono::steady_clock::time_point created;
  };

  // Admission (redis_limiter.cpp).
  void admit_in_redis(const AdmissionRequest& request, std::string id, ScopeKeys keys, std::int64_t now_ms,
                      std::function<void(Admission)> done);
  void on_admit_reply(const AdmissionRequest& request, const std::string& id, const ScopeKeys& keys,
                      std::int64_t now_ms, const cache::Reply& reply, std::function<void(Admission)>& done);
  Admission decide_locally(const AdmissionRequest& request, const std::string& id, const ScopeKeys& keys);
  std::string new_id();
  void sweep_if_due();

  // Breaker, settles and reconciliation (redis_limiter_sync.cpp).
  bool use_redis();  // false while the breaker is open; may start the probe
  void trip();
  void send_settle(SettleJob job);
  void sync(bool probe);  // sends queued settles and reconciliation; as the probe, closes on success
  void send_batch(const ReconcileBatch& batch, std::function<void(bool)> done);

  const Clock& clock_;
  cache::RedisClient& redis_;
  const RedisLimiterOptions options_;
  const std::int64_t window_ttl_ms_;
  const std::int64_t month_ttl_ms_;
  const std::int64_t reservation_ttl_ms_;
  const std::chrono::milliseconds sync_timeout_;
  cache::Script admit_script_, settle_script_, reconcile_script_;
  RedisFallback fallback_;
  std::atomic<bool> stopped_{false};

  mutable std::mutex mutex_;  // everything below
  Breaker breaker_ = Breaker::kClosed;
  std::chrono::steady_clock::time_point open_until_;
  bool syncing_ = false;  // one sync at a time
  std::unordered_map<std::string, RedisHold> redis_holds_;  // by handle "r:<id>"
  std::unordered_map<std::string, LocalEntry> local_holds_; // by handle "l:<id>"
  std::deque<SettleJob> settles_;        // waiting for Redis
  std::deque<ReconcileBatch> batches_;   // taken from the ledger, not yet applied
  std::mt19937_64 random_;
  std::uint64_t next_id_ = 0;
  std::chrono::steady_clock::time_point next_sweep_;
};

}  // namespace cic::limits::detail
