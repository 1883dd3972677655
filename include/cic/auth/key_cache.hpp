#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cic/auth/key_identity.hpp"
#include "cic/common/clock.hpp"

namespace cic::auth {

/// In-memory cache of key hash -> identity on the hot path, with positive and negative entries and
/// a TTL for each. Sharded so that event-loop threads rarely contend. Thread-safe.
class KeyCache {
 public:
  enum class State { kMiss, kValid, kInvalid };
  struct Entry {
    State state = State::kMiss;
    std::shared_ptr<const KeyIdentity> identity;  // set when kValid
  };

  KeyCache(const Clock& clock, std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl,
           std::size_t max_entries = 100'000);

  Entry get(const std::string& hash) const;
  /// Changes on every invalidate() and clear(). A caller that looked a key up in the store passes
  /// the generation it saw before the lookup to put_*: if the cache was invalidated meanwhile
  /// (a revocation, say), the possibly stale answer is not cached.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  /// A valid entry whose TTL has passed but is younger than `max_age` past it: what the hot path
  /// falls back to when the store cannot answer, so known keys keep working through an outage.
  std::shared_ptr<const KeyIdentity> get_stale(const std::string& hash, std::chrono::milliseconds max_age) const;
  void put_valid(std::shared_ptr<const KeyIdentity> identity, std::optional<std::uint64_t> seen_generation = {});
  void put_invalid(const std::string& hash, std::optional<std::uint64_t> seen_generation = {});
  void invalidate(const std::string& hash);
  void clear();
  std::size_t size() const;

 private:
  struct Slot {
    std::shared_ptr<const KeyIdentity> identity;  // null = negative entry
    std::chrono::steady_clock::time_point expires;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Slot> slots;
  };
  static constexpr std::size_t kShards = 16;

  Shard& shard_for(const std::string& hash) const;
  void insert(const std::string& hash, Slot slot, std::optional<std::uint64_t> seen_generation);

  const Clock& clock_;
  std::chrono::milliseconds ttl_;
  std::chrono::milliseconds negative_ttl_;
  std::size_t max_entries_;
  std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> generation_{0};
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace cic::auth
