#include "address.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

#include "diagnostics.hpp"

namespace cic::config::detail {
namespace {

bool is_ipv4(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

bool is_ipv6(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool is_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.') {
      if (label == 0 || label > 63 || host[i - 1] == '-' || host[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(host[i]);
    if (!std::isalnum(c) && c != '-') return false;
    ++label;
  }
  return true;
}

std::optional<unsigned> parse_port(std::string_view text) {
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || port > 65535) {
    return std::nullopt;
  }
  return port;
}

// Splits "host:port" / "[v6]:port"; the host keeps its brackets so callers can tell v6 apart.
bool split_host_port(std::string_view text, std::string_view& host, std::string_view& port) {
  std::size_t colon;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return false;
  }
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  return !host.empty();
}

}  // namespace

std::optional<ListenAddress> parse_listen(std::string_view text, std::string& error) {
  std::string_view host;
  std::string_view port_text;
  if (!split_host_port(text, host, port_text)) {
    error = "expected host:port such as 127.0.0.1:8080, [::1]:8080 or localhost:8080";
    return std::nullopt;
  }
  const auto port = parse_port(port_text);
  if (!port) {
    error = "port must be a number from 0 to 65535 (0 picks a free port)";
    return std::nullopt;
  }
  ListenAddress address;
  address.port = static_cast<std::uint16_t>(*port);
  if (host.front() == '[') {
    address.host = std::string(host.substr(1, host.size() - 2));
    if (!is_ipv6(address.host)) {
      error = "the host in brackets is not an IPv6 address";
      return std::nullopt;
    }
  } else if (host == "localhost") {
    address.host = "127.0.0.1";
  } else {
    address.host = std::string(host);
    if (!is_ipv4(address.host)) {
      error = "host must be an IPv4 address, [IPv6] or localhost (listeners do not resolve "
              "names)";
      return std::nullopt;
    }
  }
  return address;
}

bool check_endpoint(std::string_view text, std::string& error) {
  std::string_view rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    rest = text.substr(8);
  } else {
    error = "expected a URL starting with http:// or https://";
    return false;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    error = "expected scheme://host:port without a path (the gateway appends /v1/...)";
    return false;
  }
  std::string_view host;
  std::string_view port_text;
  if (!split_host_port(rest, host, port_text)) {
    error = "expected scheme://host:port with an explicit port, e.g. http://10.0.0.5:8000";
    return false;
  }
  const auto port = parse_port(port_text);
  if (!port || *port == 0) {
    error = "port must be a number from 1 to 65535, got " + quote(std::string(port_text));
    return false;
  }
  // "999.1.1.1" is a well-formed host name but was surely meant as an (invalid) IPv4 address.
  const bool numeric = host.find_first_not_of("0123456789.") == std::string_view::npos;
  const bool host_ok = host.front() == '['
                           ? is_ipv6(std::string(host.substr(1, host.size() - 2)))
                           : is_ipv4(std::string(host)) || (!numeric && is_hostname(host));
  if (!host_ok) {
    error = quote(std::string(host)) + " is not a valid host name or IP address";
    return false;
  }
  return true;
}

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || !std::isalnum(static_cast<unsigned char>(id[0]))) {
    return false;
  }
  for (char c : id) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace cic::config::detail
