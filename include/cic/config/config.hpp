#pragma once
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cic::config {

using std::chrono::milliseconds;

/// "host:port" as written in config; port 0 asks the OS for a free port.
struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

struct TlsConfig {
  std::string cert_file;  // PEM; TLS is on when both files are set
  std::string key_file;
  bool enabled() const { return !cert_file.empty() && !key_file.empty(); }
};

struct ServerLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  milliseconds read_timeout{30'000};    // whole request (headers + body) must arrive within this
  milliseconds idle_timeout{75'000};    // keep-alive connection idle between requests
  std::size_t max_connections = 10'000;
};

/// `server:` — the client-facing OpenAI API listener.
struct ServerConfig {
  ListenAddress listen{"127.0.0.1", 8080};
  unsigned threads = 0;  // 0 = number of cores
  TlsConfig tls;
  ServerLimits limits;
  milliseconds shutdown_grace{30'000};  // SIGTERM: in-flight requests and streams get this long
};

/// `admin:` — operator listener: metrics, health and the admin REST API (/admin/v1/).
struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 9090};
  TlsConfig tls;
  /// Bearer token of the operator (may do everything); usually "${CIC_ADMIN_TOKEN}". Kept only
  /// as an HMAC in memory. Empty disables the admin REST API (metrics and health stay).
  std::string operator_token;
};

/// Request and token rates; 0 means unlimited.
struct RateLimits {
  std::int64_t rpm = 0;
  std::int64_t tpm = 0;
  std::int64_t concurrency = 0;
};

/// `plans:` entry. When the section is absent, free, pro and enterprise are built in.
struct PlanConfig {
  std::string name;
  RateLimits default_limits;  // an environment's limits when it sets none
  RateLimits max_limits;      // the most an org admin may set (0 = unlimited)
  /// Tokens a month that cost nothing: the free allowance of the month's bill.
  std::int64_t monthly_free_tokens = 0;
  /// Hard cap on the org's tokens a month, all environments together (0 = none): requests past
  /// it are refused with 429 insufficient_quota. Separate from the allowance, so a plan can
  /// include tokens and bill what is used beyond them.
  std::int64_t monthly_token_quota = 0;
};

struct SqliteConfig {
  std::string path = "var/cic.db";
};

struct PostgresConfig {
  std::string dsn;  // e.g. postgresql://user@host:5432/db ; usually "${CIC_POSTGRES_DSN}"
  unsigned pool_size = 4;
};

/// `store:` — where orgs, keys, nodes and usage live.
struct StoreConfig {
  enum class Backend { kSqlite, kPostgres };
  Backend backend = Backend::kSqlite;
  SqliteConfig sqlite;
  PostgresConfig postgres;
  unsigned blocking_threads = 4;  // the thread pool that runs store calls off the event loop
};

/// `auth:` — API key hashing and the key cache of the hot path.
struct AuthConfig {
  std::string key_hash_secret;  // HMAC-SHA256 key for stored key hashes; >= 32 chars
  milliseconds cache_ttl{30'000};
  milliseconds negative_cache_ttl{5'000};
  /// When the store cannot answer, a key cached as valid keeps working this long past its TTL.
  milliseconds stale_if_error{3'600'000};
  milliseconds last_used_flush_interval{10'000};
};

/// `upstream:` — how the gateway talks to model nodes.
struct UpstreamConfig {
  milliseconds connect_timeout{2'000};
  milliseconds first_byte_timeout{60'000};   // request sent -> response headers
  milliseconds stream_idle_timeout{60'000};  // gap between two chunks of a stream
  milliseconds request_timeout{600'000};     // whole non-streaming response
  std::size_t max_idle_connections_per_node = 512;  // per node and per loop thread
  std::size_t max_response_bytes = 64 * 1024 * 1024;
  unsigned max_attempts = 3;  // first try + retries on another node, before any byte is sent
};

/// `routing:` rule — the strategy of the pools it matches. An empty region or model matches any.
struct RoutingRule {
  std::string region;
  std::string model;
  std::string strategy;
};

/// `routing:` — how a node is chosen within a region's pool, and how failed attempts are retried.
struct RoutingConfig {
  /// Strategy of pools no rule matches: round_robin, least_connections, latency_weighted,
  /// cost_optimized, load_aware or prefix_affinity.
  std::string default_strategy = "load_aware";
  /// First matching rule wins.
  std::vector<RoutingRule> rules;
  /// Retries in progress may be at most this share of the requests in flight (Envoy's retry budget).
  double retry_budget_ratio = 0.2;
  /// ... but this many concurrent retries are always allowed (a lone request may still retry).
  unsigned min_retry_concurrency = 3;
  /// Pause before retry k (1, 2, ...): uniformly random in [0, min(base x 2^(k-1), max)] ("full jitter").
  milliseconds retry_backoff_base{25};
  milliseconds retry_backoff_max{250};
  /// Retry-After (seconds, rounded up) of a 503 when no node can take a request.
  milliseconds no_capacity_retry_after{5'000};

  /// The strategy for the pool of `model` in `region`.
  const std::string& strategy_for(const std::string& region, const std::string& model) const;
};

/// Every strategy name the routing section accepts (kept equal to scheduler::strategy_names()).
const std::vector<std::string>& routing_strategy_names();

/// `health:` — active probes of every node, and passive ejection from real traffic.
struct HealthConfig {
  milliseconds interval{5'000};             // liveness: GET /health on every node
  milliseconds timeout{2'000};              // of one probe (connect + answer)
  milliseconds readiness_interval{60'000};  // readiness: a one-token inference, also on join
  milliseconds metrics_interval{5'000};     // scrape of the node's /metrics; 0 = off
  unsigned unhealthy_threshold = 1;         // failed liveness probes in a row that take a node out
  unsigned healthy_threshold = 1;           // good probes in a row that bring it back
  /// Passive: this many failed requests in a row eject a node for a backoff period
  /// (eject_base x 2^k, at most eject_max), never more than max_ejected_share of a pool at once.
  unsigned consecutive_failures = 3;
  milliseconds eject_base{5'000};
  milliseconds eject_max{60'000};
  double max_ejected_share = 0.5;
};

/// `registry:` — nodes added over the admin API and by node agents.
struct RegistryConfig {
  /// Endpoints on loopback (127/8, ::1, localhost) / private networks (10/8, 172.16/12,
  /// 192.168/16, 100.64/10, fc00::/7) may be registered. Off by default: the node table must not
  /// become a relay into the operator's own network. Nodes in this file are trusted as written.
  bool allow_loopback_endpoints = false;
  bool allow_private_endpoints = false;
  /// An agent-registered node that has not sent a heartbeat for this long is marked dead.
  milliseconds heartbeat_timeout{30'000};
  /// How long a drained or dead node stays listed before it is forgotten; 0 = until deleted.
  milliseconds forget_after{0};
};

/// `billing:` — usage metering: the write-ahead log every usage record goes to before its
/// response completes, and the flusher that copies it to the store (docs/billing.md).
struct BillingConfig {
  /// Directory of the log; "" = `usage-wal` next to the SQLite file (var/usage-wal with the
  /// default store path), or `var/usage-wal` with PostgreSQL. Resolved when the file is loaded.
  std::string wal_dir;
  std::uint64_t wal_max_bytes = 1ull << 30;      // backlog at which billable requests get 503
  std::uint64_t wal_segment_bytes = 64ull << 20;  // segment files are rotated at this size
  milliseconds flush_interval{1'000};             // a record reaches the store within this
  std::size_t flush_batch = 1000;                 // ... or as soon as this many are waiting
  std::size_t drain_batch = 5000;                 // a backlog (after an outage) goes this many at a time
  unsigned flush_parallelism = 2;                 // batches inserted at once (own store connections)
  /// Group commit: records arriving during an fsync share the next one; with a delay, at most one
  /// fsync per this interval under load (an idle log still writes at once). 0 = no floor.
  milliseconds group_commit_max_delay{0};
  milliseconds flush_retry_max{5'000};  // failed inserts are retried with backoff up to this
  /// Closing months (billing::close_due_months): a pass every month_close_interval; a month is
  /// closed once it ended month_close_delay ago (its last usage records have reached the store).
  milliseconds month_close_interval{3'600'000};
  milliseconds month_close_delay{3'600'000};
};

/// `regions:` entry.
struct RegionConfig {
  std::string name;                   // india, usa, europe, apac, ...
  std::string display_name;
  std::vector<std::string> fallback;  // other regions in order of proximity
};

/// `models:` entry — the catalog.
struct ModelConfig {
  enum class Kind { kChat, kCompletion, kEmbedding };
  std::string id;
  std::string family;
  Kind kind = Kind::kChat;
  std::int64_t context_length = 8192;
  std::int64_t default_max_tokens = 256;  // used for budgeting when a request sets none
  /// Prices in micro-dollars per 1M tokens; a model without `price` is unpriced (< 0) and cannot
  /// pass a spend cap.
  std::int64_t input_micros_per_million = -1;
  std::int64_t output_micros_per_million = -1;
  std::int64_t cached_input_micros_per_million = -1;
  bool priced() const { return input_micros_per_million >= 0 && output_micros_per_million >= 0; }

  /// `regional_prices:` entry — the model's price in one region, replacing `price` there (micro-
  /// dollars per 1M tokens; cached input defaults to the regional input price).
  struct RegionalPrice {
    std::string region;
    std::int64_t input_micros_per_million = 0;
    std::int64_t output_micros_per_million = 0;
    std::int64_t cached_input_micros_per_million = 0;
  };
  /// At most one entry per region; only on a model that has a `price`.
  std::vector<RegionalPrice> regional_prices;

  /// `reference_price:` — what the same tokens cost at OpenAI's list price for a comparable model
  /// (`reference_model`, e.g. "gpt-4o-mini"), for "savings vs OpenAI" on invoices. Micro-dollars
  /// per 1M tokens; < 0 = no reference (the model is left out of the comparison).
  std::string reference_model;
  std::int64_t reference_input_micros_per_million = -1;
  std::int64_t reference_output_micros_per_million = -1;
  std::int64_t reference_cached_input_micros_per_million = -1;
  bool has_reference_price() const {
    return reference_input_micros_per_million >= 0 && reference_output_micros_per_million >= 0;
  }
};

/// `limits:` — where rate limits, quotas and spend caps are counted.
struct LimitsConfig {
  enum class Backend { kLocal, kRedis };
  Backend backend = Backend::kLocal;
  std::string redis_url;              // redis://host:port (backend redis)
  milliseconds redis_timeout{25};     // the most a request waits on Redis
  milliseconds breaker_cooldown{1000};// after a failure, how long to stay on local shares before probing
  unsigned replicas = 1;              // replicas sharing Redis: local fallback shares = limit / replicas
  bool fail_closed = false;           // with Redis unavailable: refuse (true) or fall back (false)
};

/// `nodes:` entry — statically configured model nodes (vLLM or cic-node-sim).
struct NodeConfig {
  std::string id;
  std::string region;
  std::string endpoint;  // http://host:port
  std::vector<std::string> models;
  std::string provider = "static";
  std::string instance_type;
  bool spot = false;
  double price_per_hour = 0;
  std::int64_t capacity_tokens_per_sec = 0;

  /// price_per_hour in integer micro-dollars, rounded (0.17 is not exactly representable).
  std::int64_t price_per_hour_micros() const { return std::llround(price_per_hour * 1'000'000.0); }
};

/// `bootstrap:` — on first start, create a demo org, environment and key (dev only).
struct BootstrapConfig {
  bool enabled = false;
  std::string org = "demo";
  std::string email = "demo@example.com";
  std::string plan = "free";
  std::string environment = "dev";
  std::string region = "india";
  std::vector<std::string> models;  // empty = every model in the catalog
  std::string api_key_file = "var/dev-api-key";  // the key is written here (0600) once
};

/// `logging:`
struct LoggingConfig {
  std::string level = "info";  // trace, debug, info, warn, error
  std::string format = "json"; // json | text
};

/// `stripe:` — usage reported to Stripe's metered billing, and Stripe's webhooks (docs/billing.md,
/// "Stripe and alerts"). Reporting is off while api_key is empty; the webhook endpoint is off
/// while webhook_secret is empty.
struct StripeConfig {
  std::string api_key;  // sk_... / rk_..., usually "${STRIPE_API_KEY:-}"
  /// https://...; plain http only to a loopback address (a local stand-in in tests).
  std::string api_base = "https://api.stripe.com";
  std::string meter_event_name = "cic_tokens";  // the event_name of the Stripe meter (tokens)
  milliseconds report_interval{60'000};
  std::string webhook_secret;  // whsec_..., usually "${STRIPE_WEBHOOK_SECRET:-}"
  milliseconds webhook_tolerance{300'000};  // how old a signed webhook may be
  milliseconds timeout{10'000};             // one HTTP exchange with Stripe
  unsigned max_attempts = 4;                // per meter event and pass (429 / 5xx / no answer)
  milliseconds retry_backoff_base{500};     // full jitter, doubling up to retry_backoff_max
  milliseconds retry_backoff_max{20'000};
  milliseconds close_delay{300'000};        // an hour is reported once it ended this long ago
  bool report_open_hours = false;           // tests/demos: report the running hour as it grows
  unsigned lookback_hours = 816;            // 34 days: Stripe refuses timestamps past 35
  bool enabled() const { return !api_key.empty(); }
  bool webhook_enabled() const { return !webhook_secret.empty(); }
};

/// `alerts:` — budget, spike, credit and payment alerts POSTed as signed JSON webhooks. Off while
/// webhook_url is empty.
struct AlertsConfig {
  std::string webhook_url;
  std::string webhook_secret;  // HMAC-SHA256 key of X-CIC-Signature; required with a URL
  milliseconds interval{60'000};
  double spike_factor = 10.0;                   // a day's spend over this x the trailing average
  std::int64_t spike_min_micros = 10'000'000;   // ... and at least this much (spike_min_usd)
  unsigned spike_trailing_days = 7;
  unsigned credit_expiry_days = 7;              // warn this long before a credit grant expires
  milliseconds timeout{10'000};
  unsigned max_attempts = 4;
  milliseconds retry_backoff_base{500};
  milliseconds retry_backoff_max{20'000};
  bool enabled() const { return !webhook_url.empty(); }
};

struct Config {
  std::string source_file;  // the file this was loaded from
  ServerConfig server;
  AdminConfig admin;
  StoreConfig store;
  AuthConfig auth;
  UpstreamConfig upstream;
  std::vector<RegionConfig> regions;
  std::vector<ModelConfig> models;
  std::vector<NodeConfig> nodes;
  std::vector<PlanConfig> plans;
  LimitsConfig limits;
  RoutingConfig routing;
  HealthConfig health;
  RegistryConfig registry;
  BillingConfig billing;
  BootstrapConfig bootstrap;
  LoggingConfig logging;
  StripeConfig stripe;
  AlertsConfig alerts;

  const ModelConfig* find_model(const std::string& id) const;
  const RegionConfig* find_region(const std::string& name) const;
  const PlanConfig* find_plan(const std::string& name) const;
};

/// One problem found in a config file: "<file>: <key>: <reason>".
struct ConfigIssue {
  std::string file;
  std::string key;  // dotted path, e.g. "server.limits.max_body_bytes" or "nodes[2].endpoint"
  std::string reason;
  std::string to_string() const { return file + ": " + key + ": " + reason; }
};

/// Thrown by load_config with every issue found (not just the first).
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<ConfigIssue> issues);
  const std::vector<ConfigIssue>& issues() const { return issues_; }

 private:
  std::vector<ConfigIssue> issues_;
};

/// Looks up an environment variable; injectable so tests need not touch the real environment.
using EnvLookup = std::optional<std::string> (*)(const std::string& name);
std::optional<std::string> real_env(const std::string& name);

/// Reads, expands ${VAR} / ${VAR:-default} from the environment, validates and returns the config.
/// Unknown keys, wrong types, out-of-range values and dangling references (a node in an unknown
/// region, a model that is not in the catalog) are all reported. Blocking (reads a file).
Config load_config(const std::string& path, EnvLookup env = real_env);

/// Same, from YAML text; `file_name` is used in messages.
Config parse_config(const std::string& yaml_text, const std::string& file_name, EnvLookup env = real_env);

const char* to_string(ModelConfig::Kind kind);

}  // namespace cic::config
