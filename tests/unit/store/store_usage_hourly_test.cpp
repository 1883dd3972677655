// Contract: hourly usage rollups (usage_hourly, migration 0005), maintained by insert_usage in the
// same transaction and counting only records that were new.
#include <map>
#include <thread>
#include <tuple>

#include "migrations.hpp"
#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kBase = 1'700'000'000'000 - 1'700'000'000'000 % kHour;  // an hour boundary

class StoreUsageHourly : public StoreContract {};

// prefix + n, appended piecewise: `"c" + std::to_string(n)` trips a GCC 12 -Wrestrict false positive.
std::string tag(const char* prefix, int n) {
  std::string out = prefix;
  out += std::to_string(n);
  return out;
}
class StoreUsageHourlyUpgrade : public StoreFixture {};

UsageRecord record(const std::string& id, const std::string& org, const std::string& model, std::int64_t at,
                   std::int64_t prompt, std::int64_t completion, std::int64_t cached = 0) {
  UsageRecord r;
  r.request_id = id;
  r.org_id = org;
  r.environment_id = "env_" + org;
  r.api_key_id = "key_1";
  r.model = model;
  r.region = "india";
  r.node_id = "node_1";
  r.endpoint = "chat.completions";
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  r.cached_tokens = cached;
  r.status = 200;
  r.created_at = at;
  return r;
}

/// The rollups computed from every stored usage record: what usage_hourly must equal.
std::map<std::tuple<std::string, std::string, std::string, std::string, std::int64_t>, UsageHourly> expected_from(
    Store& store) {
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::int64_t>, UsageHourly> out;
  for (const UsageRecord& r : store.list_usage(0, 1'000'000)) {
    const std::int64_t hour = r.created_at - r.created_at % kHour;
    UsageHourly& h = out[{r.org_id, r.environment_id, r.model, r.region, hour}];
    h = UsageHourly{r.org_id, r.environment_id, r.model, r.region, hour, h.requests + 1,
                    h.prompt_tokens + r.prompt_tokens, h.completion_tokens + r.completion_tokens,
                    h.cached_tokens + r.cached_tokens};
  }
  return out;
}

void expect_rollups_match_records(Store& store) {
  const auto expected = expected_from(store);
  const auto rows = store.list_usage_hourly({});
  ASSERT_EQ(rows.size(), expected.size());
  for (const UsageHourly& row : rows) {
    auto it = expected.find({row.org_id, row.environment_id, row.model, row.region, row.hour_start});
    ASSERT_NE(it, expected.end()) << row.org_id << " " << row.model << " " << row.hour_start;
    EXPECT_EQ(row.requests, it->second.requests);
    EXPECT_EQ(row.prompt_tokens, it->second.prompt_tokens);
    EXPECT_EQ(row.completion_tokens, it->second.completion_tokens);
    EXPECT_EQ(row.cached_tokens, it->second.cached_tokens);
  }
}

TEST_P(StoreUsageHourly, NewRecordsAreSummedPerKeyAndHour) {
  ASSERT_EQ(store_->insert_usage({record("r1", "o1", "m1", kBase + 10, 100, 10, 5),
                                  record("r2", "o1", "m1", kBase + kHour - 1, 200, 20, 0),
                                  record("r3", "o1", "m1", kBase + kHour, 300, 30, 3),  // next hour
                                  record("r4", "o2", "m1", kBase + 20, 1, 2, 0),
                                  record("r5", "o1", "m2", kBase + 30, 7, 8, 1)}),
            5u);
  const auto rows = store_->list_usage_hourly({});
  ASSERT_EQ(rows.size(), 4u);
  // Ordered by hour, then org, environment, model, region.
  EXPECT_EQ(rows[0].org_id, "o1");
  EXPECT_EQ(rows[0].model, "m1");
  EXPECT_EQ(rows[0].environment_id, "env_o1");
  EXPECT_EQ(rows[0].region, "india");
  EXPECT_EQ(rows[0].hour_start, kBase);
  EXPECT_EQ(rows[0].requests, 2);
  EXPECT_EQ(rows[0].prompt_tokens, 300);
  EXPECT_EQ(rows[0].completion_tokens, 30);
  EXPECT_EQ(rows[0].cached_tokens, 5);
  EXPECT_EQ(rows[1].model, "m2");
  EXPECT_EQ(rows[1].requests, 1);
  EXPECT_EQ(rows[2].org_id, "o2");
  EXPECT_EQ(rows[2].prompt_tokens, 1);
  EXPECT_EQ(rows[3].hour_start, kBase + kHour);
  EXPECT_EQ(rows[3].requests, 1);
  EXPECT_EQ(rows[3].cached_tokens, 3);
}

TEST_P(StoreUsageHourly, ReplayedBatchesChangeNothing) {
  std::vector<UsageRecord> batch;
  for (int i = 0; i < 300; ++i) {
    batch.push_back(record(tag("r", i), tag("o", i % 3), i % 2 ? "m1" : "m2",
                           kBase + i * 60'000, 10 + i, 20 + i, i % 7));
  }
  ASSERT_EQ(store_->insert_usage(batch), 300u);
  const auto before = store_->list_usage_hourly({});
  for (int replay = 0; replay < 3; ++replay) {
    EXPECT_EQ(store_->insert_usage(batch), 0u);
    const auto after = store_->list_usage_hourly({});
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].requests, before[i].requests);
      EXPECT_EQ(after[i].prompt_tokens, before[i].prompt_tokens);
      EXPECT_EQ(after[i].completion_tokens, before[i].completion_tokens);
      EXPECT_EQ(after[i].cached_tokens, before[i].cached_tokens);
    }
  }
  expect_rollups_match_records(*store_);
}

TEST_P(StoreUsageHourly, MixedBatchAddsOnlyTheNewRecords) {
  ASSERT_EQ(store_->insert_usage({record("a", "o1", "m1", kBase, 100, 10)}), 1u);
  // "a" again with different numbers (ignored: the stored one wins), "b" new, "b" repeated
  // inside the batch (the first one wins).
  EXPECT_EQ(store_->insert_usage({record("a", "o1", "m1", kBase, 999, 999), record("b", "o1", "m1", kBase + 5, 1, 2),
                                  record("b", "o1", "m1", kBase + 5, 50, 50)}),
            1u);
  const auto rows = store_->list_usage_hourly({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].requests, 2);
  EXPECT_EQ(rows[0].prompt_tokens, 101);
  EXPECT_EQ(rows[0].completion_tokens, 12);
  expect_rollups_match_records(*store_);
}

TEST_P(StoreUsageHourly, FiltersOnEveryKeyAndAHalfOpenHourRange) {
  ASSERT_EQ(store_->insert_usage({record("r1", "o1", "m1", kBase, 1, 1), record("r2", "o1", "m1", kBase + kHour, 2, 2),
                                  record("r3", "o1", "m1", kBase + 2 * kHour, 3, 3),
                                  record("r4", "o2", "m2", kBase + kHour, 4, 4)}),
            4u);
  EXPECT_EQ(store_->list_usage_hourly({.org_id = "o1"}).size(), 3u);
  EXPECT_EQ(store_->list_usage_hourly({.environment_id = "env_o2"}).size(), 1u);
  EXPECT_EQ(store_->list_usage_hourly({.model = "m2"}).size(), 1u);
  EXPECT_EQ(store_->list_usage_hourly({.region = "india"}).size(), 4u);
  EXPECT_TRUE(store_->list_usage_hourly({.region = "usa"}).empty());
  EXPECT_TRUE(store_->list_usage_hourly({.org_id = "nobody"}).empty());

  // [from, to) on the hour's start.
  auto middle = store_->list_usage_hourly({.from_ms = kBase + kHour, .to_ms = kBase + 2 * kHour});
  ASSERT_EQ(middle.size(), 2u);
  EXPECT_EQ(middle[0].org_id, "o1");
  EXPECT_EQ(middle[1].org_id, "o2");
  EXPECT_EQ(store_->list_usage_hourly({.from_ms = kBase + 1}).size(), 3u);
  EXPECT_EQ(store_->list_usage_hourly({.to_ms = kBase + 1}).size(), 1u);
  auto combined = store_->list_usage_hourly({.org_id = "o1", .model = "m1", .from_ms = kBase + kHour});
  ASSERT_EQ(combined.size(), 2u);
  EXPECT_EQ(combined[0].hour_start, kBase + kHour);
  EXPECT_EQ(combined[1].hour_start, kBase + 2 * kHour);
  EXPECT_EQ(combined[1].prompt_tokens, 3);
}

TEST_P(StoreUsageHourly, AwkwardTextSurvivesTheBatchPath) {
  // PostgreSQL sends a batch as array literals: quotes, backslashes, commas, braces and spaces
  // must come back as they went in.
  const std::string weird = "a \"quoted\", {braced} \\ back\\slash, NULL, ''";
  UsageRecord r = record("id with \"quotes\" and \\", weird, "model,{x}", kBase, 1, 2);
  r.region = "";
  r.node_id = "NULL";
  ASSERT_EQ(store_->insert_usage({r, record("plain", "o1", "m1", kBase, 3, 4)}), 2u);
  const auto stored = store_->list_usage(0, 10);
  ASSERT_EQ(stored.size(), 2u);
  const UsageRecord& back = stored[0].request_id == "plain" ? stored[1] : stored[0];
  EXPECT_EQ(back.request_id, r.request_id);
  EXPECT_EQ(back.org_id, weird);
  EXPECT_EQ(back.model, "model,{x}");
  EXPECT_EQ(back.region, "");
  EXPECT_EQ(back.node_id, "NULL");
  const auto rows = store_->list_usage_hourly({.org_id = weird});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].model, "model,{x}");
  EXPECT_EQ(store_->insert_usage({r}), 0u);
}

TEST_P(StoreUsageHourly, RecordWithoutCreatedAtCountsInTheCurrentHour) {
  ASSERT_EQ(store_->insert_usage({record("now", "o1", "m1", 0, 5, 6)}), 1u);
  const auto rows = store_->list_usage_hourly({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour_start % kHour, 0);
  EXPECT_EQ(rows[0].hour_start, store_->list_usage(0, 1)[0].created_at / kHour * kHour);
}

TEST_P(StoreUsageHourly, ConcurrentOverlappingBatchesCountEachRecordOnce) {
  // Four writers (as four replicas replaying overlapping logs) race on the same ids and rollups.
  constexpr int kThreads = 4;
  std::vector<std::exception_ptr> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int b = 0; b < 10; ++b) {
          std::vector<UsageRecord> batch;
          for (int i = 0; i < 100; ++i) {
            const int n = (t * 500 + b * 100 + i) % 2000;
            batch.push_back(record(tag("c", n), tag("o", n % 2), "m1", kBase + (n % 3) * kHour,
                                   n, 2 * n, n % 5));
          }
          store_->insert_usage(batch);
        }
      } catch (...) {
        failures[t] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& f : failures) {
    if (f) std::rethrow_exception(f);
  }
  std::int64_t requests = 0;
  for (const auto& row : store_->list_usage_hourly({})) requests += row.requests;
  EXPECT_EQ(requests, static_cast<std::int64_t>(store_->count_usage()));
  expect_rollups_match_records(*store_);
}

TEST_P(StoreUsageHourlyUpgrade, Version4RecordsAreRolledUpByTheMigration) {
  const char* applied_type = is_postgres() ? "BIGINT" : "INTEGER";
  std::string sql = std::string("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at ") +
                    applied_type + " NOT NULL);\n";
  for (const Migration& m : is_postgres() ? postgres_migrations() : sqlite_migrations()) {
    if (m.version > 4) break;
    sql += std::string(m.sql) + "\nINSERT INTO schema_migrations (version, applied_at) VALUES (" +
           std::to_string(m.version) + ", 1);\n";
  }
  exec_raw(sql);
  ASSERT_EQ(store_->schema_version(), 4);
  exec_raw("INSERT INTO usage_records (request_id, org_id, environment_id, api_key_id, model, region, endpoint,"
           " prompt_tokens, completion_tokens, cached_tokens, status, created_at) VALUES"
           " ('old1', 'o1', 'e1', 'k1', 'm1', 'india', 'chat.completions', 10, 20, 1, 200, " +
           std::to_string(kBase + 5) +
           "), ('old2', 'o1', 'e1', 'k1', 'm1', 'india', 'chat.completions', 30, 40, 2, 200, " +
           std::to_string(kBase + 50) + ")");
  store_->migrate();
  const auto rows = store_->list_usage_hourly({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].hour_start, kBase);
  EXPECT_EQ(rows[0].requests, 2);
  EXPECT_EQ(rows[0].prompt_tokens, 40);
  EXPECT_EQ(rows[0].completion_tokens, 60);
  EXPECT_EQ(rows[0].cached_tokens, 3);
  // The old records are in, so replaying them adds nothing.
  EXPECT_EQ(store_->insert_usage({record("old1", "o1", "m1", kBase + 5, 10, 20)}), 0u);
  EXPECT_EQ(store_->list_usage_hourly({})[0].requests, 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreUsageHourly, ::testing::Values(kSqlite, kPostgres), backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, StoreUsageHourlyUpgrade, ::testing::Values(kSqlite, kPostgres), backend_name);

}  // namespace
}  // namespace cic::store::testing
