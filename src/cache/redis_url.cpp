#include "redis_url.hpp"

#include <charconv>

namespace cic::cache::detail {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::optional<RedisEndpoint> parse_redis_url(const std::string& url) {
  static const std::string kScheme = "redis://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) return std::nullopt;
  std::string rest = url.substr(kScheme.size());
  RedisEndpoint e;

  if (auto slash = rest.find('/'); slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest.resize(slash);
    if (!db.empty()) {
      if (!all_digits(db) || db.size() > 4) return std::nullopt;
      std::from_chars(db.data(), db.data() + db.size(), e.db);
    }
  }
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    // Redis 6 ACL users are not supported by hiredis 0.14's AUTH form: only the password counts.
    e.password = colon == std::string::npos ? userinfo : userinfo.substr(colon + 1);
  }
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    e.host = rest.substr(1, close - 1);
    std::string tail = rest.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') return std::nullopt;
      port = tail.substr(1);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    e.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    e.host = rest;
  }
  if (e.host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535) {
      return std::nullopt;
    }
    e.port = port;
  }
  return e;
}

}  // namespace cic::cache::detail
