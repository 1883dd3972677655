// The `billing:` config section: defaults (where the log goes), values, the errors reported, and
// what the meter makes of it.
#include <gtest/gtest.h>

#include "cic/billing/usage_meter.hpp"
#include "cic/config/config.hpp"

namespace cic::billing {
namespace {

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

std::string yaml(const std::string& extra) {
  return "auth:\n  key_hash_secret: \"0123456789abcdef0123456789abcdef-secret\"\n"
         "regions:\n  - {name: india}\n"
         "models:\n  - {id: m}\n" + extra;
}

std::vector<std::string> issues(const std::string& extra) {
  try {
    config::parse_config(yaml(extra), "test.yaml", no_env);
  } catch (const config::ConfigError& e) {
    std::vector<std::string> out;
    for (const auto& i : e.issues()) out.push_back(i.key + ": " + i.reason);
    return out;
  }
  return {};
}

TEST(BillingConfig, DefaultsPutTheLogNextToTheSqliteDatabase) {
  auto cfg = config::parse_config(yaml(""), "test.yaml", no_env);
  EXPECT_EQ(cfg.billing.wal_dir, "var/usage-wal");  // store.sqlite.path defaults to var/cic.db
  EXPECT_EQ(cfg.billing.wal_max_bytes, 1ull << 30);
  EXPECT_EQ(cfg.billing.wal_segment_bytes, 64ull << 20);
  EXPECT_EQ(cfg.billing.flush_interval, std::chrono::milliseconds(1'000));
  EXPECT_EQ(cfg.billing.flush_batch, 1000u);
  EXPECT_EQ(cfg.billing.group_commit_max_delay, std::chrono::milliseconds(0));
  EXPECT_EQ(cfg.billing.flush_retry_max, std::chrono::milliseconds(5'000));
  EXPECT_EQ(cfg.billing.flush_parallelism, 2u);
  EXPECT_EQ(cfg.billing.month_close_interval, std::chrono::hours(1));
  EXPECT_EQ(cfg.billing.month_close_delay, std::chrono::hours(1));

  auto other = config::parse_config(yaml("store: {sqlite: {path: /data/x/cic.db}}\n"), "test.yaml", no_env);
  EXPECT_EQ(other.billing.wal_dir, "/data/x/usage-wal") << "each database gets its own log";
  auto pg = config::parse_config(yaml("store: {backend: postgres, postgres: {dsn: \"postgresql://h/db\"}}\n"),
                                 "test.yaml", no_env);
  EXPECT_EQ(pg.billing.wal_dir, "var/usage-wal");
}

TEST(BillingConfig, EveryKeyIsRead) {
  auto cfg = config::parse_config(yaml(R"(billing:
  wal_dir: /var/lib/cic/usage-wal
  wal_max_bytes: 268435456
  wal_segment_bytes: 16777216
  flush_interval_ms: 2000
  flush_batch: 500
  drain_batch: 2000
  flush_parallelism: 3
  group_commit_max_delay_ms: 2
  flush_retry_max_ms: 3000
  month_close_interval_ms: 60000
  month_close_delay_ms: 0
)"),
                                  "test.yaml", no_env);
  EXPECT_EQ(cfg.billing.wal_dir, "/var/lib/cic/usage-wal");
  EXPECT_EQ(cfg.billing.wal_max_bytes, 256ull << 20);
  EXPECT_EQ(cfg.billing.wal_segment_bytes, 16ull << 20);
  EXPECT_EQ(cfg.billing.flush_interval, std::chrono::milliseconds(2000));
  EXPECT_EQ(cfg.billing.flush_batch, 500u);
  EXPECT_EQ(cfg.billing.drain_batch, 2000u);
  EXPECT_EQ(cfg.billing.flush_parallelism, 3u);
  EXPECT_EQ(cfg.billing.group_commit_max_delay, std::chrono::milliseconds(2));
  EXPECT_EQ(cfg.billing.flush_retry_max, std::chrono::milliseconds(3000));
  EXPECT_EQ(cfg.billing.month_close_interval, std::chrono::milliseconds(60000));
  EXPECT_EQ(cfg.billing.month_close_delay, std::chrono::milliseconds(0));

  config::StoreConfig store;
  store.sqlite.path = "/var/lib/cic/cic.db";
  const UsageMeterOptions o = meter_options(cfg.billing, store);
  EXPECT_EQ(o.log.dir, "/var/lib/cic/usage-wal");
  EXPECT_EQ(o.log.owner, "sqlite:/var/lib/cic/cic.db");
  EXPECT_EQ(o.log.max_bytes, 256ull << 20);
  EXPECT_EQ(o.log.segment_bytes, 16ull << 20);
  EXPECT_EQ(o.log.group_commit_max_delay, std::chrono::microseconds(2000));
  EXPECT_EQ(o.flush_interval, std::chrono::milliseconds(2000));
  EXPECT_EQ(o.flush_batch, 500u);
  EXPECT_EQ(o.drain_batch, 2000u);
  EXPECT_EQ(o.flush_parallelism, 3u);
  EXPECT_EQ(o.retry_max, std::chrono::milliseconds(3000));
}

TEST(BillingConfig, BadValuesAreAllReported) {
  auto found = issues(R"(billing:
  wal_max_bytes: 1000
  wal_segment_bytes: 1
  flush_interval_ms: 0
  flush_batch: 0
  group_commit_max_delay_ms: 500
  flush_retry_max_ms: 1
  flush_parallelism: 0
  flush_every: 3
  month_close_interval_ms: 10
  month_close_delay_ms: 604800001
)");
  auto has = [&](const std::string& prefix) {
    return std::any_of(found.begin(), found.end(), [&](const std::string& s) { return s.starts_with(prefix); });
  };
  EXPECT_TRUE(has("billing.wal_max_bytes: must be between 1048576 (1 MiB)")) << ::testing::PrintToString(found);
  EXPECT_TRUE(has("billing.wal_segment_bytes: must be between"));
  EXPECT_TRUE(has("billing.flush_interval_ms: must be between"));
  EXPECT_TRUE(has("billing.flush_batch: must be between"));
  EXPECT_TRUE(has("billing.group_commit_max_delay_ms: must be between"));
  EXPECT_TRUE(has("billing.flush_retry_max_ms: must be between"));
  EXPECT_TRUE(has("billing.flush_parallelism: must be between"));
  EXPECT_TRUE(has("billing.flush_every: unknown key")) << ::testing::PrintToString(found);
  EXPECT_TRUE(has("billing.month_close_interval_ms: must be between"));
  EXPECT_TRUE(has("billing.month_close_delay_ms: must be between"));

  EXPECT_FALSE(issues("billing: {wal_max_bytes: 8388608, wal_segment_bytes: 16777216}\n").empty())
      << "a segment larger than the whole log";
  EXPECT_FALSE(issues("billing: {flush_batch: 1000, drain_batch: 10}\n").empty())
      << "draining in smaller batches than normal flushes";
}

}  // namespace
}  // namespace cic::billing
