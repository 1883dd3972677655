#include "sections.hpp"

#include "address.hpp"

namespace cic::config::detail {
namespace {

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;
constexpr std::int64_t kGiB = 1024 * kMiB;
constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;
// Below this a secret is guessable offline from a leaked hash table.
constexpr std::size_t kMinSecretChars = 32;
constexpr std::size_t kMinTokenChars = 24;

void read_listen(MapReader& m, ListenAddress& out) {
  std::string text;
  m.read_string("listen", text);
  if (text.empty()) return;
  std::string error;
  if (auto address = parse_listen(text, error)) {
    out = *address;
  } else {
    m.issue("listen", error + ", got " + quote(text));
  }
}

void read_tls(MapReader& parent, TlsConfig& out) {
  MapReader m = parent.child("tls");
  m.read_string("cert_file", out.cert_file);
  m.read_string("key_file", out.key_file);
  check_tls(out, m.path(), m.ctx().diag);
}

}  // namespace

void parse_server(MapReader& root, ServerConfig& out) {
  MapReader m = root.child("server");
  read_listen(m, out.listen);
  m.read_int("threads", out.threads, 0, 256, "threads");
  read_tls(m, out.tls);
  {
    MapReader limits = m.child("limits");
    limits.read_int("max_header_bytes", out.limits.max_header_bytes, kKiB, kMiB, "bytes");
    limits.read_int("max_body_bytes", out.limits.max_body_bytes, kKiB, kGiB, "bytes");
    limits.read_ms("read_timeout_ms", out.limits.read_timeout, 100, kHourMs);
    limits.read_ms("idle_timeout_ms", out.limits.idle_timeout, 100, kHourMs);
    limits.read_int("max_connections", out.limits.max_connections, 1, 1'000'000, "connections");
  }
  m.read_ms("shutdown_grace_ms", out.shutdown_grace, 1, kHourMs);
}

void parse_admin(MapReader& root, AdminConfig& out) {
  MapReader m = root.child("admin");
  read_listen(m, out.listen);
  read_tls(m, out.tls);
  m.read_string("operator_token", out.operator_token);
  if (!out.operator_token.empty() && out.operator_token.size() < kMinTokenChars) {
    m.issue("operator_token", "must be at least 24 characters long, got " +
                                  std::to_string(out.operator_token.size()) + " characters");
  }
}

void parse_store(MapReader& root, StoreConfig& out) {
  MapReader m = root.child("store");
  m.read_enum("backend", out.backend,
              {{"sqlite", StoreConfig::Backend::kSqlite},
               {"postgres", StoreConfig::Backend::kPostgres}});
  {
    MapReader sqlite = m.child("sqlite");
    sqlite.read_string("path", out.sqlite.path);
    if (out.backend == StoreConfig::Backend::kSqlite && out.sqlite.path.empty()) {
      sqlite.issue("path", "must not be empty when store.backend is sqlite");
    }
  }
  {
    MapReader postgres = m.child("postgres");
    postgres.read_string("dsn", out.postgres.dsn);
    postgres.read_int("pool_size", out.postgres.pool_size, 1, 256, "connections");
    if (out.backend == StoreConfig::Backend::kPostgres && out.postgres.dsn.empty()) {
      // The value itself is a secret: say what is missing, never what was found.
      postgres.issue("dsn", "is required when store.backend is postgres, e.g. "
                            "\"${CIC_POSTGRES_DSN}\" with postgresql://user@host:5432/db");
    }
  }
  m.read_int("blocking_threads", out.blocking_threads, 1, 256, "threads");
}

void parse_auth(MapReader& root, AuthConfig& out) {
  MapReader m = root.child("auth");
  m.read_string("key_hash_secret", out.key_hash_secret);
  if (out.key_hash_secret.empty()) {
    m.issue("key_hash_secret", "is required: at least 32 random characters, usually "
                               "\"${CIC_KEY_HASH_SECRET}\" (generate one with "
                               "`openssl rand -hex 32`)");
  } else if (out.key_hash_secret.size() < kMinSecretChars) {
    m.issue("key_hash_secret", "must be at least 32 characters long, got " +
                                   std::to_string(out.key_hash_secret.size()) + " characters");
  }
  m.read_ms("cache_ttl_ms", out.cache_ttl, 1, kDayMs);
  m.read_ms("negative_cache_ttl_ms", out.negative_cache_ttl, 1, kDayMs);
  m.read_ms("stale_if_error_ms", out.stale_if_error, 0, 7 * kDayMs);
  m.read_ms("last_used_flush_interval_ms", out.last_used_flush_interval, 100, kDayMs);
}

void parse_upstream(MapReader& root, UpstreamConfig& out) {
  MapReader m = root.child("upstream");
  m.read_ms("connect_timeout_ms", out.connect_timeout, 1, 10 * 60'000);
  m.read_ms("first_byte_timeout_ms", out.first_byte_timeout, 1, kHourMs);
  m.read_ms("stream_idle_timeout_ms", out.stream_idle_timeout, 1, kHourMs);
  m.read_ms("request_timeout_ms", out.request_timeout, 1, kDayMs);
  m.read_int("max_idle_connections_per_node", out.max_idle_connections_per_node, 1, 100'000,
             "connections");
  m.read_int("max_response_bytes", out.max_response_bytes, kKiB, 4 * kGiB, "bytes");
  m.read_int("max_attempts", out.max_attempts, 1, 3, "attempts");
}

void parse_bootstrap(MapReader& root, BootstrapConfig& out) {
  MapReader m = root.child("bootstrap");
  m.read_bool("enabled", out.enabled);
  m.read_string("org", out.org);
  m.read_string("email", out.email);
  m.read_string("plan", out.plan);
  m.read_enum("environment", out.environment,
              {{"dev", std::string("dev")}, {"staging", std::string("staging")},
               {"prod", std::string("prod")}});
  m.read_string("region", out.region);
  m.read_string_list("models", out.models);
  m.read_string("api_key_file", out.api_key_file);
  if (!out.enabled) return;  // a disabled bootstrap block may be left half-filled
  if (!is_valid_id(out.org)) m.issue("org", "must be a name of [A-Za-z0-9._-], got " + quote(out.org));
  if (out.email.find('@') == std::string::npos) {
    m.issue("email", "must be an e-mail address, got " + quote(out.email));
  }
  if (out.plan.empty()) m.issue("plan", "must not be empty when bootstrap is enabled");
  if (out.api_key_file.empty()) {
    m.issue("api_key_file", "must not be empty when bootstrap is enabled");
  }
}

void parse_limits(MapReader& root, LimitsConfig& out) {
  MapReader m = root.child("limits");
  m.read_enum("backend", out.backend,
              {{"local", LimitsConfig::Backend::kLocal}, {"redis", LimitsConfig::Backend::kRedis}});
  {
    MapReader redis = m.child("redis");
    redis.read_string("url", out.redis_url);
    redis.read_ms("timeout_ms", out.redis_timeout, 1, 10'000);
    redis.read_ms("breaker_cooldown_ms", out.breaker_cooldown, 10, 600'000);
    if (out.backend == LimitsConfig::Backend::kRedis && !out.redis_url.starts_with("redis://")) {
      redis.issue("url", "is required when limits.backend is redis, as redis://host:port");
    }
  }
  m.read_int("replicas", out.replicas, 1, 1000, "replicas");
  m.read_bool("fail_closed", out.fail_closed);
}

void parse_logging(MapReader& root, LoggingConfig& out) {
  MapReader m = root.child("logging");
  m.read_enum("level", out.level,
              {{"trace", std::string("trace")}, {"debug", std::string("debug")},
               {"info", std::string("info")}, {"warn", std::string("warn")},
               {"error", std::string("error")}});
  m.read_enum("format", out.format,
              {{"json", std::string("json")}, {"text", std::string("text")}});
}

}  // namespace cic::config::detail
