// parse_endpoint: scheme, host, port (with defaults), bracketed IPv6.
#include <gtest/gtest.h>

#include <string>

#include "cic/registry/node.hpp"

namespace cic::registry {
namespace {

struct Good {
  const char* endpoint;
  const char* scheme;
  const char* host;
  std::uint16_t port;
};

TEST(ParseEndpoint, AcceptsHostsPortsAndDefaults) {
  const Good cases[] = {
      {"http://10.0.0.1:8000", "http", "10.0.0.1", 8000},
      {"http://node-1.internal:8000", "http", "node-1.internal", 8000},
      {"http://localhost", "http", "localhost", 80},
      {"https://node.example.com", "https", "node.example.com", 443},
      {"https://node.example.com:8443", "https", "node.example.com", 8443},
      {"http://host:1", "http", "host", 1},
      {"http://host:65535", "http", "host", 65535},
      {"http://host:8000/", "http", "host", 8000},
      {"http://host:8000/v1/ignored", "http", "host", 8000},
      {"http://host/v1", "http", "host", 80},
      {"http://[::1]:8000", "http", "::1", 8000},
      {"https://[fe80::1:2]", "https", "fe80::1:2", 443},
      {"http://[2001:db8::7]/path", "http", "2001:db8::7", 80},
  };
  for (const auto& c : cases) {
    NodeAddress a;
    std::string error;
    ASSERT_TRUE(parse_endpoint(c.endpoint, a, error)) << c.endpoint << ": " << error;
    EXPECT_EQ(a.scheme, c.scheme) << c.endpoint;
    EXPECT_EQ(a.host, c.host) << c.endpoint;
    EXPECT_EQ(a.port, c.port) << c.endpoint;
    EXPECT_EQ(error, "") << c.endpoint;
  }
}

TEST(ParseEndpoint, RejectsBadEndpointsWithAReason) {
  struct Bad {
    const char* endpoint;
    const char* error;
  } cases[] = {
      {"10.0.0.1:8000", "endpoint must start with http:// or https://"},
      {"", "endpoint must start with http:// or https://"},
      {"ftp://host", "endpoint must start with http:// or https://"},
      {"HTTP://host", "endpoint must start with http:// or https://"},
      {"http:/host", "endpoint must start with http:// or https://"},
      {"http://", "endpoint has no host"},
      {"http://:8000", "endpoint has no host"},
      {"http:///path", "endpoint has no host"},
      {"http://[]:80", "endpoint has no host"},
      {"http://host:0", "invalid port '0'"},
      {"http://host:65536", "invalid port '65536'"},
      {"http://host:99999999999", "invalid port '99999999999'"},
      {"http://host:-1", "invalid port '-1'"},
      {"http://host:80a", "invalid port '80a'"},
      {"http://host:abc", "invalid port 'abc'"},
      {"http://host: 80", "invalid port ' 80'"},
      {"http://[::1", "unterminated IPv6 address"},
      {"http://[::1]8000", "expected ':' after IPv6 address"},
      {"http://[::1]:0", "invalid port '0'"},
  };
  for (const auto& c : cases) {
    NodeAddress a;
    std::string error;
    EXPECT_FALSE(parse_endpoint(c.endpoint, a, error)) << c.endpoint;
    EXPECT_EQ(error, c.error) << c.endpoint;
  }
}

TEST(NodeState, Names) {
  EXPECT_STREQ(to_string(NodeState::kLaunching), "launching");
  EXPECT_STREQ(to_string(NodeState::kReady), "ready");
  EXPECT_STREQ(to_string(NodeState::kDraining), "draining");
  EXPECT_STREQ(to_string(NodeState::kDrained), "drained");
  EXPECT_STREQ(to_string(NodeState::kDead), "dead");
}

TEST(Node, ServesIsAnExactMatch) {
  Node n;
  n.models = {"llama-3-8b", "org/qwen"};
  EXPECT_TRUE(n.serves("llama-3-8b"));
  EXPECT_TRUE(n.serves("org/qwen"));
  EXPECT_FALSE(n.serves("llama"));
  EXPECT_FALSE(n.serves(""));
}

}  // namespace
}  // namespace cic::registry
