#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cic::registry {

/// What an endpoint may point at beyond the public internet.
struct EndpointPolicyOptions {
  /// Accept 127.0.0.0/8, ::1 (and ::ffff:127.x.y.z) and the names localhost / *.localhost.
  bool allow_loopback = false;
  /// Accept 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 (ULA), 64:ff9b:1::/48.
  bool allow_private = false;
};

/// Keeps the node table from becoming an SSRF relay: nodes are registered over the admin API and by
/// node agents, and the gateway then sends client traffic to whatever endpoint they name.
///
/// An endpoint is accepted only if it is `http://` or `https://`, has a host and an explicit or
/// default port, no userinfo, no path other than "" or "/", no query or fragment, no percent
/// encoding, whitespace or backslashes, and EVERY address its host resolves to is allowed. Refused
/// always: unspecified, "this network" 0/8, link-local (169.254/16 — the cloud metadata address —
/// and fe80::/10), multicast, broadcast and 240/4, the IETF/documentation/benchmark ranges,
/// deprecated IPv6 forms (site-local, IPv4-compatible, IPv4-translated, Teredo and the rest of
/// 2001::/23) and any IPv6 address outside 2000::/3 not listed above. IPv4 embedded in IPv6
/// (::ffff:a.b.c.d, 64:ff9b::/96 NAT64, 2002::/16 6to4) is judged as that IPv4 address.
///
/// Hosts that look numeric (the last label is all digits or 0x-hex, e.g. `2130706433`,
/// `0177.0.0.1`, `0x7f.1`, `127.1`) must be canonical dotted-quad IPv4; IPv6 literals must be
/// bracketed. Literal addresses are judged without calling the resolver.
///
/// The check runs when the node is registered. It does not pin the addresses: a name whose DNS
/// answer changes afterwards is connected to wherever it then points, so names under an untrusted
/// party's control should be registered as literal addresses.
class EndpointPolicy {
 public:
  using Options = EndpointPolicyOptions;
  /// Returns the textual IPv4/IPv6 addresses of `host` (empty if it has none). May throw; the
  /// exception's message is reported as the reason the endpoint is refused.
  using Resolver = std::function<std::vector<std::string>(const std::string& host)>;

  EndpointPolicy() = default;
  explicit EndpointPolicy(Options options) : options_(options) {}

  const Options& options() const { return options_; }

  /// nullopt if `endpoint` is acceptable, otherwise why it is refused.
  std::optional<std::string> check(const std::string& endpoint, const Resolver& resolve) const;

  /// nullopt if the textual IP address `ip` (no brackets) is acceptable, otherwise why not.
  std::optional<std::string> check_address(const std::string& ip) const;

 private:
  Options options_;
};

/// Resolves with getaddrinfo (every A and AAAA record, no AI_ADDRCONFIG filtering). BLOCKING: it
/// waits on DNS, so callers must run the check on the blocking pool, never on an event loop
/// thread. Throws std::runtime_error with gai_strerror's text when resolution fails.
EndpointPolicy::Resolver system_resolver();

}  // namespace cic::registry
