#pragma once
#include <optional>
#include <string>

namespace cic::cache::detail {

/// The parts of redis://[:password@]host[:port][/db] (also [user:]password, and [v6] hosts).
struct RedisEndpoint {
  std::string host;
  std::string port = "6379";
  std::string password;
  int db = 0;
};

/// nullopt when `url` is not of that form.
std::optional<RedisEndpoint> parse_redis_url(const std::string& url);

}  // namespace cic::cache::detail
