// EndpointPolicy: the SSRF guard on node endpoints. Resolution is injected, so no test needs DNS
// except the one that exercises system_resolver() on "localhost".
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "cic/registry/endpoint_policy.hpp"

namespace cic::registry {
namespace {

/// A fake DNS: known names map to fixed answers, unknown names fail like getaddrinfo does.
struct FakeDns {
  std::map<std::string, std::vector<std::string>> records{
      {"node.example.com", {"93.184.216.34", "2606:2800:220:1::1"}},
      {"node.example.com.", {"93.184.216.34"}},
      {"node-1.example.com", {"8.8.4.4"}},
      {"v6only.example.com", {"2606:4700:4700::1111"}},
      {"mapped-public.example.com", {"::ffff:8.8.8.8"}},
      {"localhost", {"127.0.0.1", "::1"}},
      {"gpu.internal", {"10.1.2.3"}},
      {"gpu6.internal", {"fd12:3456::7"}},
      // DNS tricks: names an attacker controls that point inside.
      {"metadata.attacker.test", {"169.254.169.254"}},
      {"metadata6.attacker.test", {"::ffff:169.254.169.254"}},
      {"rebind.attacker.test", {"93.184.216.34", "127.0.0.1"}},
      {"rebind-last.attacker.test", {"8.8.8.8", "1.1.1.1", "169.254.169.254"}},
      {"rebind6.attacker.test", {"93.184.216.34", "::ffff:127.0.0.1"}},
      {"internal.attacker.test", {"10.1.2.3"}},
      {"cgnat.attacker.test", {"100.64.1.1"}},
      {"linklocal6.attacker.test", {"2606:4700::1111", "fe80::1"}},
      {"ula.attacker.test", {"fd00::1"}},
      {"zero.attacker.test", {"0.0.0.0"}},
      {"loopback6.attacker.test", {"::1"}},
      {"127.0.0.1.nip.io", {"127.0.0.1"}},
      {"odd-answer.attacker.test", {"0177.0.0.1"}},
      {"garbage.attacker.test", {"not-an-ip"}},
      {"scoped.attacker.test", {"fe80::1%eth0"}},
      {"empty.attacker.test", {}},
  };
  int calls = 0;

  EndpointPolicy::Resolver resolver() {
    return [this](const std::string& host) {
      ++calls;
      auto it = records.find(host);
      if (it == records.end()) throw std::runtime_error("Name or service not known");
      return it->second;
    };
  }
};

struct Refused {
  const char* endpoint;
  const char* reason;  // a substring of the error
};

// Refused with the default options (no loopback, no private).
const Refused kRefused[] = {
    // Cloud metadata, in every spelling.
    {"http://169.254.169.254", "cloud metadata"},
    {"http://169.254.169.254:80", "cloud metadata"},
    {"http://169.254.169.254/", "cloud metadata"},
    {"http://169.254.169.254/latest/meta-data/", "must not have a path"},
    {"http://[::ffff:169.254.169.254]", "IPv4-mapped form of 169.254.169.254"},
    {"http://[::ffff:a9fe:a9fe]", "IPv4-mapped form of 169.254.169.254"},
    {"http://[64:ff9b::a9fe:a9fe]", "NAT64 (64:ff9b::/96) form of 169.254.169.254"},
    {"http://[2002:a9fe:a9fe::1]", "6to4 (2002::/16) form of 169.254.169.254"},
    {"http://2852039166", "looks numeric"},
    {"http://0xa9fea9fe", "looks numeric"},
    {"http://0251.0376.0251.0376", "looks numeric"},
    {"http://169.254.43518", "looks numeric"},
    {"http://169.254.1.1", "link-local"},
    {"http://[fe80::1]", "link-local (fe80::/10)"},
    {"http://[fe80::1%25eth0]", "percent-encoding"},
    {"http://[febf:ffff::1]", "link-local (fe80::/10)"},
    // Loopback.
    {"http://127.0.0.1:8000", "loopback (127.0.0.0/8)"},
    {"http://127.255.255.254", "loopback (127.0.0.0/8)"},
    {"http://[::1]:8000", "loopback (::1)"},
    {"http://[0:0:0:0:0:0:0:1]", "loopback (::1)"},
    {"http://[::ffff:127.0.0.1]", "IPv4-mapped form of 127.0.0.1"},
    {"http://[::ffff:7f00:1]", "IPv4-mapped form of 127.0.0.1"},
    {"http://[::127.0.0.1]", "IPv4-compatible"},
    {"http://[::ffff:0:7f00:1]", "IPv4-translated"},
    {"http://localhost", "loopback name"},
    {"http://localhost:8000/", "loopback name"},
    {"http://LocalHost.", "loopback name"},
    {"http://api.localhost", "loopback name"},
    // Odd literal spellings that resolvers read as 127.0.0.1.
    {"http://2130706433", "looks numeric"},
    {"http://0177.0.0.1", "looks numeric"},
    {"http://0x7f.1", "looks numeric"},
    {"http://0x7f000001", "looks numeric"},
    {"http://0X7F.0.0.1", "looks numeric"},
    {"http://127.1", "looks numeric"},
    {"http://127.0.1", "looks numeric"},
    {"http://127.000.000.001", "looks numeric"},
    {"http://127.0.0.1.", "looks numeric"},
    {"http://127.0.0.1.0", "looks numeric"},
    {"http://1.0x7f", "looks numeric"},
    {"http://0x", "looks numeric"},
    {"http://256.0.0.1", "looks numeric"},
    {"http://::1", "must be bracketed"},
    {"http://[127.0.0.1]", "is not an IPv6 address"},
    {"http://[localhost]", "is not an IPv6 address"},
    // Unspecified and "this network".
    {"http://0.0.0.0", "unspecified"},
    {"http://0.0.0.0:8000", "unspecified"},
    {"http://0", "looks numeric"},
    {"http://[::]", "unspecified"},
    {"http://[::ffff:0.0.0.0]", "IPv4-mapped form of 0.0.0.0"},
    {"http://0.1.2.3", "this network"},
    // Private and CGNAT.
    {"http://10.0.0.1", "private (10.0.0.0/8)"},
    {"http://10.255.255.255", "private (10.0.0.0/8)"},
    {"http://172.16.0.1", "private (172.16.0.0/12)"},
    {"http://172.31.255.255", "private (172.16.0.0/12)"},
    {"http://192.168.1.1", "private (192.168.0.0/16)"},
    {"http://100.64.0.1", "CGNAT"},
    {"http://100.127.255.254", "CGNAT"},
    {"http://[fd00::1]", "unique local"},
    {"http://[fc00::1]", "unique local"},
    {"http://[::ffff:10.0.0.1]", "IPv4-mapped form of 10.0.0.1"},
    {"http://[64:ff9b:1::a00:1]", "local-use NAT64"},
    // Multicast, broadcast, reserved, documentation, benchmarking.
    {"http://224.0.0.1", "multicast (224.0.0.0/4)"},
    {"http://239.255.255.250", "multicast (224.0.0.0/4)"},
    {"http://[ff02::1]", "multicast (ff00::/8)"},
    {"http://[ff05::1:3]", "multicast (ff00::/8)"},
    {"http://255.255.255.255", "broadcast"},
    {"http://240.0.0.1", "reserved (240.0.0.0/4)"},
    {"http://254.1.2.3", "reserved (240.0.0.0/4)"},
    {"http://192.0.0.170", "IETF protocol assignments (192.0.0.0/24)"},
    {"http://192.0.2.10", "documentation (192.0.2.0/24)"},
    {"http://198.51.100.7", "documentation (198.51.100.0/24)"},
    {"http://203.0.113.9", "documentation (203.0.113.0/24)"},
    {"http://198.18.0.1", "benchmarking"},
    {"http://198.19.255.254", "benchmarking"},
    {"http://192.88.99.1", "6to4 relay anycast"},
    {"http://[2001:db8::1]", "documentation (2001:db8::/32)"},
    {"http://[3fff::1]", "documentation (3fff::/20)"},
    {"http://[2001::1]", "2001::/23"},
    {"http://[2001:2::1]", "2001::/23"},
    {"http://[fec0::1]", "site-local"},
    {"http://[100::1]", "discard-only"},
    {"http://[4000::1]", "outside the 2000::/3"},
    {"http://[::2]", "IPv4-compatible"},
    // Userinfo, path, query, fragment and other URL confusions.
    {"http://user@1.1.1.1", "userinfo"},
    {"http://user:pass@1.1.1.1:80", "userinfo"},
    {"http://1.1.1.1@169.254.169.254", "userinfo"},
    {"http://node.example.com@127.0.0.1:8000", "userinfo"},
    {"http://1.1.1.1\\@169.254.169.254", "backslash"},
    {"http://1.1.1.1/v1", "must not have a path"},
    {"http://1.1.1.1//", "must not have a path"},
    {"http://1.1.1.1?x=1", "query"},
    {"http://1.1.1.1/?", "query"},
    {"http://1.1.1.1#frag", "fragment"},
    {"http://ex%61mple.com", "percent-encoding"},
    {"http://1.1.1.1 ", "whitespace"},
    {"http://1.1.1.1\t", "whitespace"},
    {"http://exa mple.com", "whitespace"},
    {"http://1.1.1.1\r\nHost: x", "whitespace"},
    {"http://b\xc3\xbc" "cher.example", "non-ASCII"},
    {"http://node..example.com", "empty label"},
    {"http://.example.com", "empty label"},
    {"http://a:b:80", "must be bracketed"},
    {"http://1.1.1.1:", "empty port"},
    {"http://1.1.1.1:0", "invalid port '0'"},
    {"http://1.1.1.1:65536", "invalid port"},
    {"http://", "no host"},
    {"http://:8000", "no host"},
    {"ftp://1.1.1.1", "http:// or https://"},
    {"file:///etc/passwd", "http:// or https://"},
    {"gopher://1.1.1.1:70", "http:// or https://"},
    {"HTTP://1.1.1.1", "http:// or https://"},
    {"//1.1.1.1", "http:// or https://"},
    {"1.1.1.1:80", "http:// or https://"},
    // Names whose DNS answers point inside (rebinding tricks included).
    {"http://metadata.attacker.test", "cloud metadata"},
    {"http://metadata6.attacker.test", "IPv4-mapped form of 169.254.169.254"},
    {"http://rebind.attacker.test", "address 127.0.0.1 is loopback"},
    {"http://rebind-last.attacker.test", "cloud metadata"},
    {"http://rebind6.attacker.test:8000", "IPv4-mapped form of 127.0.0.1"},
    {"http://internal.attacker.test", "private (10.0.0.0/8)"},
    {"http://cgnat.attacker.test", "CGNAT"},
    {"http://linklocal6.attacker.test", "link-local (fe80::/10)"},
    {"http://ula.attacker.test", "unique local"},
    {"http://zero.attacker.test", "unspecified"},
    {"http://loopback6.attacker.test", "loopback (::1)"},
    {"http://127.0.0.1.nip.io", "loopback (127.0.0.0/8)"},
    {"http://odd-answer.attacker.test", "'0177.0.0.1' is not an IP address"},
    {"http://garbage.attacker.test", "'not-an-ip' is not an IP address"},
    {"http://scoped.attacker.test", "is not an IP address"},
    {"http://empty.attacker.test", "does not resolve to any address"},
    {"http://nxdomain.attacker.test", "cannot resolve host 'nxdomain.attacker.test': Name or service"},
};

TEST(EndpointPolicy, RefusesInternalAddressesAndDnsTricks) {
  FakeDns dns;
  EndpointPolicy policy;
  int refused = 0;
  for (const auto& c : kRefused) {
    auto error = policy.check(c.endpoint, dns.resolver());
    ASSERT_TRUE(error.has_value()) << c.endpoint << " was accepted";
    EXPECT_NE(error->find(c.reason), std::string::npos)
        << c.endpoint << ": '" << *error << "' does not mention '" << c.reason << "'";
    ++refused;
  }
  std::cout << "[ refused  ] " << refused << " endpoints (internal addresses, odd spellings, DNS tricks)"
            << std::endl;
  RecordProperty("refused", refused);
  EXPECT_GE(refused, 30);
}

// These stay refused whatever the options: no option opens metadata, link-local, multicast,
// broadcast, unspecified, reserved ranges or the odd literal spellings.
TEST(EndpointPolicy, RefusesTheAlwaysRefusedEvenWithEveryOption) {
  FakeDns dns;
  EndpointPolicy policy({.allow_loopback = true, .allow_private = true});
  const char* always[] = {
      "http://169.254.169.254",         "http://[::ffff:169.254.169.254]", "http://[fe80::1]",
      "http://0.0.0.0",                 "http://[::]",                     "http://224.0.0.1",
      "http://[ff02::1]",               "http://255.255.255.255",          "http://240.0.0.1",
      "http://192.0.0.170",             "http://192.0.2.1",                "http://198.18.0.1",
      "http://[2001:db8::1]",           "http://[::127.0.0.1]",            "http://2130706433",
      "http://0177.0.0.1",              "http://0x7f.1",                   "http://127.1",
      "http://user@127.0.0.1",          "http://metadata.attacker.test",   "http://linklocal6.attacker.test",
      "http://rebind-last.attacker.test", "http://zero.attacker.test",     "http://10.0.0.1/admin",
  };
  int refused = 0;
  for (const char* endpoint : always) {
    EXPECT_TRUE(policy.check(endpoint, dns.resolver()).has_value()) << endpoint << " was accepted";
    ++refused;
  }
  std::cout << "[ refused  ] " << refused << " endpoints with allow_loopback and allow_private" << std::endl;
}

TEST(EndpointPolicy, AcceptsPublicAddressesAndNamesResolvingToThem) {
  FakeDns dns;
  EndpointPolicy policy;
  const char* accepted[] = {
      "http://1.1.1.1",
      "http://8.8.8.8:8000",
      "https://8.8.8.8",
      "https://93.184.216.34:8443/",
      "http://11.0.0.1",        // just past 10/8
      "http://172.15.255.255",  // just before 172.16/12
      "http://172.32.0.1",      // just past 172.16/12
      "http://192.169.0.1",     // just past 192.168/16
      "http://100.63.255.255",  // just before 100.64/10
      "http://100.128.0.1",     // just past 100.64/10
      "http://169.253.255.255", // just before 169.254/16
      "http://169.255.0.1",     // just past 169.254/16
      "http://198.17.255.255",  // just before 198.18/15
      "http://198.20.0.1",      // just past 198.18/15
      "http://223.255.255.254", // just before multicast
      "http://126.255.255.255", // just before loopback
      "http://128.0.0.1",       // just past loopback
      "http://[2606:4700:4700::1111]",
      "https://[2a00:1450:4001:82b::200e]:8443/",
      "http://[::ffff:8.8.8.8]",
      "http://[64:ff9b::808:808]",
      "http://[2002:808:808::1]",
      "http://node.example.com",
      "https://node.example.com:8443",
      "http://node.example.com.",
      "http://node-1.example.com:8000/",
      "http://NODE-1.example.com",  // names are looked up as given; the fake is case-sensitive
      "http://v6only.example.com",
      "http://mapped-public.example.com",
  };
  dns.records["NODE-1.example.com"] = {"8.8.4.4"};
  for (const char* endpoint : accepted) {
    auto error = policy.check(endpoint, dns.resolver());
    EXPECT_FALSE(error.has_value()) << endpoint << ": " << error.value_or("");
  }
}

TEST(EndpointPolicy, LiteralAddressesAreJudgedWithoutTheResolver) {
  FakeDns dns;
  EndpointPolicy policy;
  EXPECT_FALSE(policy.check("http://1.1.1.1:8000", dns.resolver()).has_value());
  EXPECT_FALSE(policy.check("http://[2606:4700:4700::1111]:8000", dns.resolver()).has_value());
  EXPECT_TRUE(policy.check("http://127.0.0.1", dns.resolver()).has_value());
  EXPECT_TRUE(policy.check("http://2130706433", dns.resolver()).has_value());
  EXPECT_EQ(dns.calls, 0);
  EXPECT_FALSE(policy.check("http://node.example.com", dns.resolver()).has_value());
  EXPECT_EQ(dns.calls, 1);
  // No resolver at all: literals still work, names are refused.
  EXPECT_FALSE(policy.check("http://1.1.1.1", EndpointPolicy::Resolver{}).has_value());
  auto error = policy.check("http://node.example.com", EndpointPolicy::Resolver{});
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(*error, "no resolver to check host 'node.example.com'");
}

TEST(EndpointPolicy, LoopbackOnlyWithAllowLoopback) {
  FakeDns dns;
  const char* loopback[] = {
      "http://127.0.0.1:8000",      "http://127.1.2.3",    "http://[::1]:8000",
      "http://[::ffff:127.0.0.1]",  "http://localhost:8000", "http://api.localhost",
      "http://loopback6.attacker.test", "http://rebind.attacker.test",
  };
  dns.records["api.localhost"] = {"127.0.0.1"};
  EndpointPolicy strict;
  EndpointPolicy loop({.allow_loopback = true});
  EndpointPolicy priv({.allow_private = true});
  for (const char* endpoint : loopback) {
    EXPECT_TRUE(strict.check(endpoint, dns.resolver()).has_value()) << endpoint;
    EXPECT_TRUE(priv.check(endpoint, dns.resolver()).has_value()) << endpoint;
    auto error = loop.check(endpoint, dns.resolver());
    EXPECT_FALSE(error.has_value()) << endpoint << ": " << error.value_or("");
  }
  // allow_loopback opens loopback only.
  EXPECT_TRUE(loop.check("http://10.0.0.1", dns.resolver()).has_value());
  EXPECT_TRUE(loop.check("http://[fd00::1]", dns.resolver()).has_value());
  EXPECT_TRUE(loop.check("http://169.254.169.254", dns.resolver()).has_value());
  EXPECT_TRUE(loop.check("http://0.0.0.0", dns.resolver()).has_value());
}

TEST(EndpointPolicy, PrivateOnlyWithAllowPrivate) {
  FakeDns dns;
  const char* private_endpoints[] = {
      "http://10.0.0.1:8000",     "http://172.16.0.1",      "http://172.31.255.254",
      "http://192.168.1.20:8000", "http://100.64.0.1",      "http://100.127.255.254",
      "http://[fd12:3456::7]",    "http://[fc00::1]",       "http://[::ffff:192.168.0.1]",
      "http://[64:ff9b:1::a00:1]", "http://gpu.internal:8000", "http://gpu6.internal",
      "http://cgnat.attacker.test",
  };
  EndpointPolicy strict;
  EndpointPolicy loop({.allow_loopback = true});
  EndpointPolicy priv({.allow_private = true});
  for (const char* endpoint : private_endpoints) {
    EXPECT_TRUE(strict.check(endpoint, dns.resolver()).has_value()) << endpoint;
    EXPECT_TRUE(loop.check(endpoint, dns.resolver()).has_value()) << endpoint;
    auto error = priv.check(endpoint, dns.resolver());
    EXPECT_FALSE(error.has_value()) << endpoint << ": " << error.value_or("");
  }
  // allow_private opens private ranges only.
  EXPECT_TRUE(priv.check("http://127.0.0.1", dns.resolver()).has_value());
  EXPECT_TRUE(priv.check("http://localhost", dns.resolver()).has_value());
  EXPECT_TRUE(priv.check("http://169.254.169.254", dns.resolver()).has_value());
  EXPECT_TRUE(priv.check("http://[fe80::1]", dns.resolver()).has_value());
  // A name with one private and one loopback answer needs both options.
  dns.records["mixed.internal"] = {"10.0.0.5", "127.0.0.1"};
  EXPECT_TRUE(priv.check("http://mixed.internal", dns.resolver()).has_value());
  EXPECT_TRUE(loop.check("http://mixed.internal", dns.resolver()).has_value());
  EndpointPolicy both({.allow_loopback = true, .allow_private = true});
  EXPECT_FALSE(both.check("http://mixed.internal", dns.resolver()).has_value());
}

TEST(EndpointPolicy, ErrorMessagesNameTheHostAndAddress) {
  FakeDns dns;
  EndpointPolicy policy;
  EXPECT_EQ(policy.check("http://rebind.attacker.test", dns.resolver()).value_or(""),
            "host 'rebind.attacker.test' resolves to a refused address: address 127.0.0.1 is loopback "
            "(127.0.0.0/8)");
  EXPECT_EQ(policy.check("http://169.254.169.254", dns.resolver()).value_or(""),
            "address 169.254.169.254 is the cloud metadata address (link-local 169.254.0.0/16)");
  EXPECT_EQ(policy.check("http://0x7f.1", dns.resolver()).value_or(""),
            "host '0x7f.1' looks numeric but is not a dotted-quad IPv4 address");
  EXPECT_EQ(policy.check("http://[::ffff:169.254.169.254]", dns.resolver()).value_or(""),
            "address ::ffff:169.254.169.254 is the IPv4-mapped form of 169.254.169.254, which is the "
            "cloud metadata address (link-local 169.254.0.0/16)");
}

TEST(EndpointPolicy, CheckAddressTakesBareAddresses) {
  EndpointPolicy policy;
  EXPECT_FALSE(policy.check_address("8.8.8.8").has_value());
  EXPECT_FALSE(policy.check_address("2606:4700:4700::1111").has_value());
  EXPECT_TRUE(policy.check_address("127.0.0.1").has_value());
  EXPECT_TRUE(policy.check_address("::1").has_value());
  EXPECT_EQ(policy.check_address("[::1]").value_or(""), "'[::1]' is not an IP address");
  EXPECT_EQ(policy.check_address("08.8.8.8").value_or(""), "'08.8.8.8' is not an IP address");
  EXPECT_EQ(policy.check_address("").value_or(""), "'' is not an IP address");
}

TEST(SystemResolver, ResolvesLocalhostFromTheHostsFile) {
  auto addresses = system_resolver()("localhost");
  ASSERT_FALSE(addresses.empty());
  for (const auto& ip : addresses) EXPECT_TRUE(ip == "127.0.0.1" || ip == "::1") << ip;
  EndpointPolicy loop({.allow_loopback = true});
  EXPECT_FALSE(loop.check("http://localhost:8000", system_resolver()).has_value());
  EXPECT_TRUE(EndpointPolicy().check("http://localhost:8000", system_resolver()).has_value());
}

}  // namespace
}  // namespace cic::registry
