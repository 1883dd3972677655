// Per-key value rules: listeners, ranges, TLS files, store, secret, logging.
#include "config_test_support.hpp"

namespace cic::config::test {
namespace {

class ValuesTest : public ConfigTest {};

TEST_F(ValuesTest, ListenAcceptsIpv4Ipv6AndLocalhost) {
  Config config = parse(minimal_yaml() + R"(
server: {listen: "[::1]:8443"}
admin: {listen: "localhost:0"}
)");
  EXPECT_EQ(config.server.listen.host, "::1");
  EXPECT_EQ(config.server.listen.port, 8443);
  EXPECT_EQ(config.admin.listen.host, "127.0.0.1");
  EXPECT_EQ(config.admin.listen.port, 0);
  config = parse(minimal_yaml() + "server: {listen: \"0.0.0.0:65535\"}\n");
  EXPECT_EQ(config.server.listen.port, 65535);
}

TEST_F(ValuesTest, ListenRejectsMalformedAddresses) {
  const auto issues = issues_of(minimal_yaml() + R"(
server: {listen: "127.0.0.1"}
admin: {listen: "127.0.0.1:70000"}
)");
  EXPECT_TRUE(has_issue(issues, "server.listen", "expected host:port"));
  EXPECT_TRUE(has_issue(issues, "admin.listen", "0 to 65535"));
  EXPECT_TRUE(has_issue(issues_of(minimal_yaml() + "server: {listen: \"example.com:80\"}\n"),
                        "server.listen", "IPv4 address, [IPv6] or localhost"));
  EXPECT_TRUE(has_issue(issues_of(minimal_yaml() + "server: {listen: \"[nope]:80\"}\n"),
                        "server.listen", "not an IPv6 address, got \"[nope]:80\""));
  EXPECT_TRUE(has_issue(issues_of(minimal_yaml() + "server: {listen: \"1.2.3:80\"}\n"),
                        "server.listen", "IPv4"));
}

TEST_F(ValuesTest, AdminMustNotShareTheApiListener) {
  const auto issues = issues_of(minimal_yaml() + R"(
server: {listen: "127.0.0.1:9000"}
admin: {listen: "127.0.0.1:9000"}
)");
  EXPECT_TRUE(has_issue(issues, "admin.listen", "same address as server.listen"));
}

TEST_F(ValuesTest, ThreadsRange) {
  EXPECT_EQ(parse(minimal_yaml() + "server: {threads: 256}\n").server.threads, 256u);
  EXPECT_TRUE(has_issue(issues_of(minimal_yaml() + "server: {threads: 257}\n"), "server.threads",
                        "between 0 and 256"));
  EXPECT_TRUE(has_issue(issues_of(minimal_yaml() + "server: {threads: -1}\n"), "server.threads",
                        "between 0 and 256"));
}

TEST_F(ValuesTest, SizesAndTimeoutsMustBeSane) {
  const auto issues = issues_of(minimal_yaml() + R"(
server:
  limits: {max_body_bytes: 512, max_header_bytes: 0, read_timeout_ms: 0, idle_timeout_ms: -5}
  shutdown_grace_ms: 0
upstream: {max_response_bytes: 10, connect_timeout_ms: 0, max_attempts: 0}
)");
  EXPECT_TRUE(has_issue(issues, "server.limits.max_body_bytes", "between 1024 (1 KiB) and"));
  EXPECT_TRUE(has_issue(issues, "server.limits.max_header_bytes", "got 0"));
  EXPECT_TRUE(has_issue(issues, "server.limits.read_timeout_ms", "ms"));
  EXPECT_TRUE(has_issue(issues, "server.limits.idle_timeout_ms", "got -5"));
  EXPECT_TRUE(has_issue(issues, "server.shutdown_grace_ms", "between 1 and 3600000 ms"));
  EXPECT_TRUE(has_issue(issues, "upstream.max_response_bytes", "between"));
  EXPECT_TRUE(has_issue(issues, "upstream.connect_timeout_ms", "between"));
  EXPECT_TRUE(has_issue(issues, "upstream.max_attempts", "between 1 and 3"));
  EXPECT_EQ(issues.size(), 8u);
  EXPECT_TRUE(has_issue(issues_of("auth: {key_hash_secret: \"" + std::string(kSecret) +
                                  "\", cache_ttl_ms: 0}\n"),
                        "auth.cache_ttl_ms", "between 1 and 86400000 ms"));
}

TEST_F(ValuesTest, MaxBodyBytesUpperBoundIsOneGiB) {
  EXPECT_EQ(parse(minimal_yaml() + "server: {limits: {max_body_bytes: 1073741824}}\n")
                .server.limits.max_body_bytes,
            1073741824u);
  EXPECT_TRUE(has_issue(
      issues_of(minimal_yaml() + "server: {limits: {max_body_bytes: 1073741825}}\n"),
      "server.limits.max_body_bytes", "and 1073741824 (1 GiB) bytes"));
}

TEST_F(ValuesTest, MillisecondKeysFillDurations) {
  const Config config = parse(minimal_yaml() + R"(
server: {limits: {read_timeout_ms: 1500}, shutdown_grace_ms: 2500}
upstream: {stream_idle_timeout_ms: 7000}
)");
  EXPECT_EQ(config.server.limits.read_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(config.server.shutdown_grace, std::chrono::milliseconds(2500));
  EXPECT_EQ(config.upstream.stream_idle_timeout, std::chrono::milliseconds(7000));
}

TEST_F(ValuesTest, TlsNeedsBothFiles) {
  const std::string readable = source_dir() + "/config/dev.yaml";
  const auto issues = issues_of(minimal_yaml() + "server: {tls: {cert_file: \"" + readable + "\"}}\n");
  EXPECT_TRUE(has_issue(issues, "server.tls.key_file", "both cert_file and key_file"));
}

TEST_F(ValuesTest, TlsFilesMustBeReadable) {
  const std::string readable = source_dir() + "/config/dev.yaml";
  const auto issues = issues_of(minimal_yaml() + "admin: {tls: {cert_file: \"" + readable +
                                "\", key_file: /nonexistent/admin.key}}\n");
  EXPECT_TRUE(has_issue(issues, "admin.tls.key_file", "/nonexistent/admin.key\" does not exist"));
  ASSERT_EQ(issues.size(), 1u);
}

TEST_F(ValuesTest, TlsWithReadableFilesIsEnabled) {
  const std::string readable = source_dir() + "/config/dev.yaml";
  const Config config = parse(minimal_yaml() + "server: {tls: {cert_file: \"" + readable +
                              "\", key_file: \"" + readable + "\"}}\n");
  EXPECT_TRUE(config.server.tls.enabled());
  EXPECT_FALSE(config.admin.tls.enabled());
}

TEST_F(ValuesTest, PostgresNeedsADsn) {
  const auto issues = issues_of(minimal_yaml() + "store: {backend: postgres}\n");
  EXPECT_TRUE(has_issue(issues, "store.postgres.dsn", "is required when store.backend is postgres"));
  const Config config = parse(minimal_yaml() +
                              "store: {backend: postgres, postgres: {dsn: \"postgresql://x/db\", "
                              "pool_size: 16}, blocking_threads: 6}\n");
  EXPECT_EQ(config.store.postgres.pool_size, 16u);
  EXPECT_EQ(config.store.blocking_threads, 6u);
}

TEST_F(ValuesTest, UnknownBackendListsTheChoices) {
  EXPECT_TRUE(has_issue(issues_of(minimal_yaml() + "store: {backend: mysql}\n"), "store.backend",
                        "expected one of sqlite, postgres, got \"mysql\""));
}

TEST_F(ValuesTest, KeyHashSecretIsRequiredAndLong) {
  EXPECT_TRUE(has_issue(issues_of("logging: {level: info}\n"), "auth.key_hash_secret",
                        "is required"));
  const auto issues = issues_of("auth: {key_hash_secret: \"0123456789abcdef0123456789abcde\"}\n");
  EXPECT_TRUE(has_issue(issues, "auth.key_hash_secret", "at least 32 characters"));
  EXPECT_TRUE(has_issue(issues, "auth.key_hash_secret", "got 31 characters"));
}

TEST_F(ValuesTest, LoggingLevelAndFormatFromTheLists) {
  const auto issues = issues_of(minimal_yaml() + "logging: {level: verbose, format: xml}\n");
  EXPECT_TRUE(has_issue(issues, "logging.level", "trace, debug, info, warn, error"));
  EXPECT_TRUE(has_issue(issues, "logging.format", "expected one of json, text, got \"xml\""));
  const Config config = parse(minimal_yaml() + "logging: {level: trace, format: text}\n");
  EXPECT_EQ(config.logging.level, "trace");
}

}  // namespace
}  // namespace cic::config::test
