#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cic::auth {

/// Remembers when each key was last used so `last_used_at` is written in batches by a timer,
/// never by a write per request. Thread-safe.
class LastUsedTracker {
 public:
  void record(const std::string& key_id, std::int64_t unix_ms);
  /// Everything recorded since the last drain.
  std::vector<std::pair<std::string, std::int64_t>> drain();

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::int64_t> pending_;
};

}  // namespace cic::auth
