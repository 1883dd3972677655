#include "cic/auth/key_cache.hpp"

#include <algorithm>
#include <functional>

#include "cic/auth/key_hasher.hpp"

namespace cic::auth {

bool KeyIdentity::model_enabled(const std::string& model) const {
  return std::find(models.begin(), models.end(), model) != models.end();
}

KeyCache::KeyCache(const Clock& clock, std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl,
                   std::size_t max_entries)
    : clock_(clock),
      ttl_(ttl),
      negative_ttl_(negative_ttl),
      max_entries_(std::max<std::size_t>(1, max_entries)) {}

KeyCache::Shard& KeyCache::shard_for(const std::string& hash) const {
  return shards_[std::hash<std::string>{}(hash) % kShards];
}

KeyCache::Entry KeyCache::get(const std::string& hash) const {
  Shard& shard = shard_for(hash);
  std::lock_guard lock(shard.mutex);
  auto it = shard.slots.find(hash);
  if (it == shard.slots.end() || it->second.expires <= clock_.now()) return {};
  if (!it->second.identity) return {State::kInvalid, nullptr};
  // The map is keyed by hash already; comparing again in constant time costs nothing and keeps a
  // hash-collision bug in the map from ever authenticating the wrong key.
  if (!constant_time_equal(it->second.identity->key_hash, hash)) return {};
  return {State::kValid, it->second.identity};
}

std::shared_ptr<const KeyIdentity> KeyCache::get_stale(const std::string& hash, std::chrono::milliseconds max_age) const {
  Shard& shard = shard_for(hash);
  std::lock_guard lock(shard.mutex);
  auto it = shard.slots.find(hash);
  if (it == shard.slots.end() || !it->second.identity) return nullptr;
  if (it->second.expires + max_age <= clock_.now()) return nullptr;
  if (!constant_time_equal(it->second.identity->key_hash, hash)) return nullptr;
  return it->second.identity;
}

void KeyCache::insert(const std::string& hash, Slot slot, std::optional<std::uint64_t> seen_generation) {
  Shard& shard = shard_for(hash);
  std::lock_guard lock(shard.mutex);
  // Checked under the shard lock; invalidate()/clear() bump the generation before they take the
  // locks, so an answer read before an invalidation can never land after it.
  if (seen_generation && *seen_generation != generation_.load(std::memory_order_acquire)) return;
  auto existing = shard.slots.find(hash);
  if (existing != shard.slots.end()) {
    existing->second = std::move(slot);
    return;
  }
  // Reserve the slot first, so that inserts racing in different shards cannot together pass the
  // bound; an insert over budget makes room in its own shard (expired entries, then any).
  if (size_.fetch_add(1, std::memory_order_relaxed) >= max_entries_) {
    auto now = clock_.now();
    std::size_t erased = std::erase_if(shard.slots, [&](const auto& kv) { return kv.second.expires <= now; });
    size_.fetch_sub(erased, std::memory_order_relaxed);
    if (size_.load(std::memory_order_relaxed) > max_entries_) {
      if (shard.slots.empty()) {
        size_.fetch_sub(1, std::memory_order_relaxed);  // the other shards hold the budget
        return;
      }
      shard.slots.erase(shard.slots.begin());
      size_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  shard.slots.emplace(hash, std::move(slot));
}

void KeyCache::put_valid(std::shared_ptr<const KeyIdentity> identity, std::optional<std::uint64_t> seen_generation) {
  std::string hash = identity->key_hash;
  insert(hash, Slot{std::move(identity), clock_.now() + ttl_}, seen_generation);
}

void KeyCache::put_invalid(const std::string& hash, std::optional<std::uint64_t> seen_generation) {
  insert(hash, Slot{nullptr, clock_.now() + negative_ttl_}, seen_generation);
}

void KeyCache::invalidate(const std::string& hash) {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  Shard& shard = shard_for(hash);
  std::lock_guard lock(shard.mutex);
  size_.fetch_sub(shard.slots.erase(hash), std::memory_order_relaxed);
}

void KeyCache::clear() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    size_.fetch_sub(shard.slots.size(), std::memory_order_relaxed);
    shard.slots.clear();
  }
}

std::size_t KeyCache::size() const {
  std::size_t n = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.slots.size();
  }
  return n;
}

}  // namespace cic::auth
