// The `stripe:` and `alerts:` sections (docs/configuration.md). Both are off by default: Stripe
// reporting while api_key is empty, its webhook while webhook_secret is empty, alerts while
// webhook_url is empty. Secrets are never quoted back in messages.
#include <cmath>

#include "sections.hpp"

namespace cic::config::detail {
namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kHourMs = 60 * kMinuteMs;
constexpr std::int64_t kDayMs = 24 * kHourMs;
// Shorter webhook secrets are guessable offline from one signed request.
constexpr std::size_t kMinWebhookSecretChars = 16;

struct UrlParts {
  std::string scheme;
  std::string host;
};

/// "http(s)://host[:port][/path]" -> scheme and host (brackets of an IPv6 literal dropped);
/// nullopt for anything else, including user info, queries and fragments.
std::optional<UrlParts> split_url(std::string_view text) {
  UrlParts out;
  for (const char* scheme : {"https", "http"}) {
    const std::string prefix = std::string(scheme) + "://";
    if (text.starts_with(prefix)) {
      out.scheme = scheme;
      text.remove_prefix(prefix.size());
      break;
    }
  }
  if (out.scheme.empty()) return std::nullopt;
  if (text.find_first_of("?#@ ") != std::string_view::npos) return std::nullopt;
  std::string_view authority = text.substr(0, text.find('/'));
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
  } else {
    out.host = std::string(authority.substr(0, authority.find(':')));
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

void check_api_base(MapReader& m, const std::string& value) {
  auto url = split_url(value);
  if (!url) {
    m.issue("api_base", "must be an https:// URL such as https://api.stripe.com, got " + quote(value));
  } else if (url->scheme == "http" && !is_loopback_host(url->host)) {
    m.issue("api_base", "must use https:// (plain http:// is allowed only to a loopback address, for a "
                        "local stand-in), got " + quote(value));
  }
}

}  // namespace

void parse_stripe(MapReader& root, StripeConfig& out) {
  MapReader m = root.child("stripe");
  m.read_string("api_key", out.api_key);
  m.read_string("api_base", out.api_base);
  m.read_string("meter_event_name", out.meter_event_name);
  m.read_ms("report_interval_ms", out.report_interval, 100, kDayMs);
  m.read_string("webhook_secret", out.webhook_secret);
  m.read_ms("webhook_tolerance_ms", out.webhook_tolerance, 1'000, kDayMs);
  m.read_ms("timeout_ms", out.timeout, 100, 10 * kMinuteMs);
  m.read_int("max_attempts", out.max_attempts, 1, 10, "attempts");
  m.read_ms("retry_backoff_base_ms", out.retry_backoff_base, 1, kMinuteMs);
  m.read_ms("retry_backoff_max_ms", out.retry_backoff_max, 1, 10 * kMinuteMs);
  m.read_ms("close_delay_ms", out.close_delay, 0, kDayMs);
  m.read_bool("report_open_hours", out.report_open_hours);
  m.read_int("lookback_hours", out.lookback_hours, 1, 816, "hours");

  if (!out.api_key.empty() && !out.api_key.starts_with("sk_") && !out.api_key.starts_with("rk_")) {
    m.issue("api_key", "must be a Stripe secret key (sk_...) or restricted key (rk_...)");
  }
  if (out.meter_event_name.empty() || out.meter_event_name.size() > 100) {
    m.issue("meter_event_name", "must be 1-100 characters (the event_name of a Stripe meter)");
  }
  check_api_base(m, out.api_base);
  if (!out.webhook_secret.empty() && out.webhook_secret.size() < kMinWebhookSecretChars) {
    m.issue("webhook_secret", "must be the endpoint's signing secret (whsec_...), at least 16 characters");
  }
  if (out.retry_backoff_max < out.retry_backoff_base) {
    m.issue("retry_backoff_max_ms", "must not be less than retry_backoff_base_ms");
  }
}

void parse_alerts(MapReader& root, AlertsConfig& out) {
  MapReader m = root.child("alerts");
  m.read_string("webhook_url", out.webhook_url);
  m.read_string("webhook_secret", out.webhook_secret);
  m.read_ms("interval_ms", out.interval, 100, kDayMs);
  m.read_double("spike_factor", out.spike_factor, 1.0, 1'000'000.0);
  double min_usd = static_cast<double>(out.spike_min_micros) / 1'000'000.0;
  m.read_double("spike_min_usd", min_usd, 0.0, 1e9);
  out.spike_min_micros = std::llround(min_usd * 1'000'000.0);
  m.read_int("spike_trailing_days", out.spike_trailing_days, 1, 90, "days");
  m.read_int("credit_expiry_days", out.credit_expiry_days, 1, 365, "days");
  m.read_ms("timeout_ms", out.timeout, 100, 10 * kMinuteMs);
  m.read_int("max_attempts", out.max_attempts, 1, 10, "attempts");
  m.read_ms("retry_backoff_base_ms", out.retry_backoff_base, 1, kMinuteMs);
  m.read_ms("retry_backoff_max_ms", out.retry_backoff_max, 1, 10 * kMinuteMs);

  if (!out.webhook_url.empty() && !split_url(out.webhook_url)) {
    m.issue("webhook_url", "must be an http:// or https:// URL, got " + quote(out.webhook_url));
  }
  if (!out.webhook_url.empty() && out.webhook_secret.size() < kMinWebhookSecretChars) {
    m.issue("webhook_secret", "is required with alerts.webhook_url: at least 16 random characters, usually "
                              "\"${CIC_ALERTS_WEBHOOK_SECRET}\"");
  }
  if (out.retry_backoff_max < out.retry_backoff_base) {
    m.issue("retry_backoff_max_ms", "must not be less than retry_backoff_base_ms");
  }
}

}  // namespace cic::config::detail
