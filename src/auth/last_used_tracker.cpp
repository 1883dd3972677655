#include "cic/auth/last_used_tracker.hpp"

#include <algorithm>

namespace cic::auth {

void LastUsedTracker::record(const std::string& key_id, std::int64_t unix_ms) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = pending_.try_emplace(key_id, unix_ms);
  if (!inserted) it->second = std::max(it->second, unix_ms);
}

std::vector<std::pair<std::string, std::int64_t>> LastUsedTracker::drain() {
  std::unordered_map<std::string, std::int64_t> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(pending_);
  }
  return {taken.begin(), taken.end()};
}

}  // namespace cic::auth
