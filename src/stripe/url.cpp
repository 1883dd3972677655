#include <charconv>

#include "cic/stripe/http.hpp"

namespace cic::stripe {

bool Url::is_loopback() const { return host == "localhost" || host == "::1" || host.starts_with("127."); }

std::optional<Url> parse_url(std::string_view text) {
  Url url;
  if (text.starts_with("https://")) {
    url.scheme = "https";
    url.port = 443;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    url.scheme = "http";
    url.port = 80;
    text.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  if (text.find_first_of("?#@ \r\n") != std::string_view::npos) return std::nullopt;
  const auto slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : text.substr(slash);
  while (path.ends_with("/")) path.remove_suffix(1);
  std::string_view port;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(":")) return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return std::nullopt;
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) return std::nullopt;
    url.port = static_cast<std::uint16_t>(value);
  }
  url.path = std::string(path);
  return url;
}

}  // namespace cic::stripe
