#include "cic/registry/endpoint_policy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <stdexcept>
#include <string_view>

#include "cic/registry/node.hpp"

namespace cic::registry {
namespace {

using Bytes16 = std::array<std::uint8_t, 16>;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ipv4_text(std::uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
         std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

/// Exactly four decimal octets, 0-255, no leading zeros, nothing else.
bool canonical_ipv4(std::string_view s, std::uint32_t& out) {
  std::uint32_t value = 0;
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    std::size_t len = i - start;
    if (len == 0 || len > 3 || (len > 1 && s[start] == '0')) return false;
    unsigned octet = 0;
    for (std::size_t k = start; k < i; ++k) octet = octet * 10 + static_cast<unsigned>(s[k] - '0');
    if (octet > 255) return false;
    value = (value << 8) | octet;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  if (parts != 4) return false;
  out = value;
  return true;
}

bool parse_ipv6(const std::string& s, Bytes16& out) {
  in6_addr addr{};
  if (inet_pton(AF_INET6, s.c_str(), &addr) != 1) return false;
  std::copy(std::begin(addr.s6_addr), std::end(addr.s6_addr), out.begin());
  return true;
}

/// The last label (ignoring one trailing dot) is all digits or 0x-hex: resolvers such as glibc's
/// inet_aton, and URL parsers, would read the host as an IPv4 number.
bool looks_numeric(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  auto dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (std::all_of(last.begin(), last.end(), is_digit)) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    return std::all_of(last.begin() + 2, last.end(), is_hex);
  }
  return false;
}

/// Letters, digits, '-' and '_' in dot-separated labels of 1-63 characters, at most 253 in all;
/// one trailing dot (a fully qualified name) is allowed.
std::optional<std::string> hostname_error(std::string_view host) {
  std::string_view name = host;
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return "invalid host name '" + std::string(host) + "'";
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return "invalid host name '" + std::string(host) + "' (empty label)";
      label = 0;
      continue;
    }
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') {
      return "invalid character '" + std::string(1, c) + "' in host '" + std::string(host) + "'";
    }
    if (++label > 63) return "invalid host name '" + std::string(host) + "' (label too long)";
  }
  if (label == 0) return "invalid host name '" + std::string(host) + "' (empty label)";
  return std::nullopt;
}

bool is_localhost_name(std::string_view host) {
  std::string name;
  for (char c : host) name.push_back(lower(c));
  if (name.ends_with('.')) name.pop_back();
  return name == "localhost" || name.ends_with(".localhost");
}

bool in_v4(std::uint32_t a, std::uint32_t net, int bits) {
  std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (a & mask) == (net & mask);
}

constexpr std::uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

/// Why the IPv4 address `a` is refused (a noun phrase), or nullopt.
std::optional<std::string> ipv4_refusal(std::uint32_t a, const EndpointPolicyOptions& options) {
  if (a == 0) return "unspecified";
  if (in_v4(a, v4(0, 0, 0, 0), 8)) return "in 0.0.0.0/8 (this network)";
  if (in_v4(a, v4(127, 0, 0, 0), 8)) {
    if (options.allow_loopback) return std::nullopt;
    return "loopback (127.0.0.0/8)";
  }
  if (a == v4(169, 254, 169, 254)) return "the cloud metadata address (link-local 169.254.0.0/16)";
  if (in_v4(a, v4(169, 254, 0, 0), 16)) return "link-local (169.254.0.0/16)";
  if (in_v4(a, v4(224, 0, 0, 0), 4)) return "multicast (224.0.0.0/4)";
  if (a == v4(255, 255, 255, 255)) return "the broadcast address";
  if (in_v4(a, v4(240, 0, 0, 0), 4)) return "reserved (240.0.0.0/4)";
  if (in_v4(a, v4(192, 0, 0, 0), 24)) return "reserved for IETF protocol assignments (192.0.0.0/24)";
  if (in_v4(a, v4(192, 0, 2, 0), 24)) return "documentation (192.0.2.0/24)";
  if (in_v4(a, v4(198, 51, 100, 0), 24)) return "documentation (198.51.100.0/24)";
  if (in_v4(a, v4(203, 0, 113, 0), 24)) return "documentation (203.0.113.0/24)";
  if (in_v4(a, v4(198, 18, 0, 0), 15)) return "benchmarking (198.18.0.0/15)";
  if (in_v4(a, v4(192, 88, 99, 0), 24)) return "the deprecated 6to4 relay anycast (192.88.99.0/24)";
  const char* private_range = nullptr;
  if (in_v4(a, v4(10, 0, 0, 0), 8)) private_range = "private (10.0.0.0/8)";
  if (in_v4(a, v4(172, 16, 0, 0), 12)) private_range = "private (172.16.0.0/12)";
  if (in_v4(a, v4(192, 168, 0, 0), 16)) private_range = "private (192.168.0.0/16)";
  if (in_v4(a, v4(100, 64, 0, 0), 10)) private_range = "shared address space (CGNAT, 100.64.0.0/10)";
  if (private_range != nullptr && !options.allow_private) return std::string(private_range);
  return std::nullopt;
}

std::uint32_t v4_at(const Bytes16& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

bool zero_bytes(const Bytes16& b, std::size_t from, std::size_t to) {
  return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from),
                     b.begin() + static_cast<std::ptrdiff_t>(to), [](std::uint8_t x) { return x == 0; });
}

/// `b` starts with the `bits`-bit prefix `prefix` (given as its leading bytes).
bool in_v6(const Bytes16& b, std::initializer_list<std::uint8_t> prefix, int bits) {
  std::size_t i = 0;
  for (std::uint8_t p : prefix) {
    int take = std::min(bits, 8);
    if (take <= 0) break;
    std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - take));
    if ((b[i] & mask) != (p & mask)) return false;
    bits -= take;
    ++i;
  }
  return true;
}

std::optional<std::string> embedded_refusal(const char* form, std::uint32_t a,
                                            const EndpointPolicyOptions& options) {
  if (auto why = ipv4_refusal(a, options)) {
    return std::string(form) + " form of " + ipv4_text(a) + ", which is " + *why;
  }
  return std::nullopt;
}

/// Why the IPv6 address `b` is refused (a noun phrase), or nullopt.
std::optional<std::string> ipv6_refusal(const Bytes16& b, const EndpointPolicyOptions& options) {
  if (zero_bytes(b, 0, 16)) return "unspecified";
  if (zero_bytes(b, 0, 15) && b[15] == 1) {
    if (options.allow_loopback) return std::nullopt;
    return "loopback (::1)";
  }
  if (zero_bytes(b, 0, 10) && b[10] == 0xff && b[11] == 0xff) {
    return embedded_refusal("the IPv4-mapped", v4_at(b, 12), options);
  }
  if (zero_bytes(b, 0, 12)) return "IPv4-compatible (deprecated ::/96)";
  if (zero_bytes(b, 0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    return "IPv4-translated (::ffff:0:0:0/96)";
  }
  if (in_v6(b, {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) {
    return embedded_refusal("the NAT64 (64:ff9b::/96)", v4_at(b, 12), options);
  }
  if (in_v6(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) {
    if (options.allow_private) return std::nullopt;
    return "local-use NAT64 (64:ff9b:1::/48)";
  }
  if (in_v6(b, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64)) return "discard-only (100::/64)";
  if (in_v6(b, {0xfe, 0x80}, 10)) return "link-local (fe80::/10)";
  if (in_v6(b, {0xfe, 0xc0}, 10)) return "site-local (deprecated fec0::/10)";
  if (in_v6(b, {0xff}, 8)) return "multicast (ff00::/8)";
  if (in_v6(b, {0xfc}, 7)) {
    if (options.allow_private) return std::nullopt;
    return "unique local (private fc00::/7)";
  }
  if (in_v6(b, {0x20, 0x01, 0x0d, 0xb8}, 32)) return "documentation (2001:db8::/32)";
  if (in_v6(b, {0x3f, 0xff, 0x00}, 20)) return "documentation (3fff::/20)";
  if (in_v6(b, {0x20, 0x01, 0x00}, 23)) {
    return "reserved for IETF protocol assignments (2001::/23: Teredo, benchmarking, ORCHID)";
  }
  if (in_v6(b, {0x20, 0x02}, 16)) return embedded_refusal("the 6to4 (2002::/16)", v4_at(b, 2), options);
  if (!in_v6(b, {0x20}, 3)) return "reserved (outside the 2000::/3 global unicast range)";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> EndpointPolicy::check_address(const std::string& ip) const {
  if (ip.find(':') != std::string::npos) {
    Bytes16 bytes{};
    if (!parse_ipv6(ip, bytes)) return "'" + ip + "' is not an IP address";
    if (auto why = ipv6_refusal(bytes, options_)) return "address " + ip + " is " + *why;
    return std::nullopt;
  }
  std::uint32_t a = 0;
  if (!canonical_ipv4(ip, a)) return "'" + ip + "' is not an IP address";
  if (auto why = ipv4_refusal(a, options_)) return "address " + ip + " is " + *why;
  return std::nullopt;
}

std::optional<std::string> EndpointPolicy::check(const std::string& endpoint,
                                                 const Resolver& resolve) const {
  for (char c : endpoint) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return "endpoint contains whitespace, control or non-ASCII characters";
    if (c == '\\') return "endpoint must not contain a backslash";
    if (c == '%') return "endpoint must not contain percent-encoding";
    if (c == '?') return "endpoint must not have a query";
    if (c == '#') return "endpoint must not have a fragment";
  }
  std::string_view rest = endpoint;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else {
    return "endpoint must start with http:// or https://";
  }
  std::string_view authority = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    if (rest.substr(slash) != "/") return "endpoint must not have a path";
  }
  if (authority.find('@') != std::string_view::npos) return "endpoint must not contain userinfo (user@host)";
  if (authority.ends_with(':')) return "endpoint has an empty port";

  NodeAddress address;
  std::string error;
  if (!parse_endpoint(endpoint, address, error)) return error;
  const std::string& host = address.host;

  if (authority.starts_with('[')) {
    Bytes16 bytes{};
    if (!parse_ipv6(host, bytes)) return "'" + host + "' is not an IPv6 address";
    return check_address(host);
  }
  if (host.find(':') != std::string::npos) return "IPv6 address '" + host + "' must be bracketed";
  if (auto bad = hostname_error(host)) return bad;
  if (looks_numeric(host)) {
    std::uint32_t a = 0;
    if (!canonical_ipv4(host, a)) {
      return "host '" + host + "' looks numeric but is not a dotted-quad IPv4 address";
    }
    return check_address(host);
  }
  if (is_localhost_name(host) && !options_.allow_loopback) {
    return "host '" + host + "' is a loopback name";
  }
  if (!resolve) return "no resolver to check host '" + host + "'";
  std::vector<std::string> addresses;
  try {
    addresses = resolve(host);
  } catch (const std::exception& e) {
    return "cannot resolve host '" + host + "': " + e.what();
  } catch (...) {
    return "cannot resolve host '" + host + "'";
  }
  if (addresses.empty()) return "host '" + host + "' does not resolve to any address";
  for (const auto& ip : addresses) {
    if (auto why = check_address(ip)) return "host '" + host + "' resolves to a refused address: " + *why;
  }
  return std::nullopt;
}

EndpointPolicy::Resolver system_resolver() {
  return [](const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
    if (rc != 0) throw std::runtime_error(gai_strerror(rc));
    std::vector<std::string> addresses;
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* src = nullptr;
      if (ai->ai_family == AF_INET) {
        src = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
      } else if (ai->ai_family == AF_INET6) {
        src = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
      } else {
        continue;
      }
      if (inet_ntop(ai->ai_family, src, text, sizeof text) == nullptr) continue;
      std::string ip(text);
      if (std::find(addresses.begin(), addresses.end(), ip) == addresses.end()) addresses.push_back(ip);
    }
    freeaddrinfo(result);
    return addresses;
  };
}

}  // namespace cic::registry
