#pragma once
#include <string>
#include <string_view>

namespace cic::auth {

/// Hashes API keys for storage and lookup: lowercase hex HMAC-SHA256 keyed with a server-side
/// secret, so a stolen database alone cannot be used to test guesses offline. Thread-safe.
class KeyHasher {
 public:
  explicit KeyHasher(std::string secret);
  std::string hash(std::string_view key) const;

 private:
  std::string secret_;
};

/// Compares two strings in time that depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cic::auth
