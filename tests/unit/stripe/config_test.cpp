// The `stripe:` and `alerts:` config sections: defaults (everything off), values, and rejections.
#include <gtest/gtest.h>

#include "cic/config/config.hpp"

namespace cic::config {
namespace {

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

const std::string kBase = "auth:\n  key_hash_secret: \"0123456789abcdef0123456789abcdef-secret\"\n";

Config parse(const std::string& extra) { return parse_config(kBase + extra, "test.yaml", no_env); }

std::vector<ConfigIssue> issues(const std::string& extra) {
  try {
    parse(extra);
  } catch (const ConfigError& e) {
    return e.issues();
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << extra;
  return {};
}

bool has_issue(const std::vector<ConfigIssue>& all, const std::string& key, const std::string& fragment) {
  for (const auto& i : all) {
    if (i.key == key && i.reason.find(fragment) != std::string::npos) return true;
  }
  return false;
}

TEST(StripeConfigTest, OffByDefault) {
  const Config c = parse("");
  EXPECT_FALSE(c.stripe.enabled());
  EXPECT_FALSE(c.stripe.webhook_enabled());
  EXPECT_FALSE(c.alerts.enabled());
  EXPECT_EQ(c.stripe.api_base, "https://api.stripe.com");
  EXPECT_EQ(c.stripe.meter_event_name, "cic_tokens");
  EXPECT_EQ(c.stripe.report_interval, std::chrono::milliseconds(60'000));
  EXPECT_EQ(c.stripe.lookback_hours, 816u);
  EXPECT_FALSE(c.stripe.report_open_hours);
  EXPECT_EQ(c.alerts.spike_factor, 10.0);
  EXPECT_EQ(c.alerts.spike_min_micros, 10'000'000);
  EXPECT_EQ(c.alerts.credit_expiry_days, 7u);
}

TEST(StripeConfigTest, ReadsEveryKey) {
  const Config c = parse(R"(
stripe:
  api_key: sk_test_abc
  api_base: "http://127.0.0.1:12111"
  meter_event_name: tokens
  report_interval_ms: 250
  webhook_secret: whsec_0123456789abcdef
  webhook_tolerance_ms: 60000
  timeout_ms: 2000
  max_attempts: 3
  retry_backoff_base_ms: 10
  retry_backoff_max_ms: 100
  close_delay_ms: 0
  report_open_hours: true
  lookback_hours: 48
alerts:
  webhook_url: "https://hooks.example.com/cic"
  webhook_secret: "0123456789abcdef"
  interval_ms: 500
  spike_factor: 5
  spike_min_usd: 2.5
  spike_trailing_days: 14
  credit_expiry_days: 3
  timeout_ms: 1000
  max_attempts: 2
  retry_backoff_base_ms: 5
  retry_backoff_max_ms: 50
)");
  EXPECT_TRUE(c.stripe.enabled());
  EXPECT_TRUE(c.stripe.webhook_enabled());
  EXPECT_EQ(c.stripe.api_base, "http://127.0.0.1:12111");
  EXPECT_EQ(c.stripe.meter_event_name, "tokens");
  EXPECT_EQ(c.stripe.report_interval.count(), 250);
  EXPECT_EQ(c.stripe.webhook_tolerance.count(), 60'000);
  EXPECT_EQ(c.stripe.max_attempts, 3u);
  EXPECT_EQ(c.stripe.close_delay.count(), 0);
  EXPECT_TRUE(c.stripe.report_open_hours);
  EXPECT_EQ(c.stripe.lookback_hours, 48u);
  EXPECT_TRUE(c.alerts.enabled());
  EXPECT_EQ(c.alerts.spike_factor, 5.0);
  EXPECT_EQ(c.alerts.spike_min_micros, 2'500'000);
  EXPECT_EQ(c.alerts.spike_trailing_days, 14u);
  EXPECT_EQ(c.alerts.credit_expiry_days, 3u);
  EXPECT_EQ(c.alerts.retry_backoff_max.count(), 50);
}

TEST(StripeConfigTest, PlainHttpOnlyToLoopback) {
  EXPECT_TRUE(has_issue(issues("stripe: {api_base: \"http://api.stripe.com\"}\n"), "stripe.api_base", "https://"));
  EXPECT_TRUE(has_issue(issues("stripe: {api_base: \"ftp://x\"}\n"), "stripe.api_base", "https://"));
  EXPECT_EQ(parse("stripe: {api_base: \"http://localhost:9\"}\n").stripe.api_base, "http://localhost:9");
  EXPECT_EQ(parse("stripe: {api_base: \"http://[::1]:9\"}\n").stripe.api_base, "http://[::1]:9");
}

TEST(StripeConfigTest, RejectsBadValuesWithoutQuotingSecrets) {
  auto found = issues(R"(
stripe:
  api_key: pk_live_publishable
  webhook_secret: short
  meter_event_name: ""
  lookback_hours: 900
  retry_backoff_base_ms: 100
  retry_backoff_max_ms: 10
  typo_key: 1
alerts:
  webhook_url: "not a url"
)");
  EXPECT_TRUE(has_issue(found, "stripe.api_key", "secret key"));
  EXPECT_TRUE(has_issue(found, "stripe.webhook_secret", "signing secret"));
  EXPECT_TRUE(has_issue(found, "stripe.meter_event_name", "1-100"));
  EXPECT_TRUE(has_issue(found, "stripe.lookback_hours", ""));
  EXPECT_TRUE(has_issue(found, "stripe.retry_backoff_max_ms", "retry_backoff_base_ms"));
  EXPECT_TRUE(has_issue(found, "stripe.typo_key", ""));
  EXPECT_TRUE(has_issue(found, "alerts.webhook_url", "URL"));
  EXPECT_TRUE(has_issue(found, "alerts.webhook_secret", "required"));
  for (const auto& i : found) {
    EXPECT_EQ(i.reason.find("pk_live_publishable"), std::string::npos) << i.to_string();
    EXPECT_EQ(i.reason.find("short"), std::string::npos) << i.to_string();
  }
}

TEST(StripeConfigTest, SecretsComeFromTheEnvironmentAndMayBeAbsent) {
  const Config c = parse(R"(
stripe:
  api_key: "${STRIPE_API_KEY:-}"
  webhook_secret: "${STRIPE_WEBHOOK_SECRET:-}"
)");
  EXPECT_FALSE(c.stripe.enabled());
  EXPECT_FALSE(c.stripe.webhook_enabled());
}

}  // namespace
}  // namespace cic::config
