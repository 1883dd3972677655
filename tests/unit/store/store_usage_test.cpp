// Contract: models, nodes and usage records; persistence and concurrency.
#include <algorithm>
#include <random>
#include <thread>

#include "store_fixture.hpp"

namespace cic::store::testing {
namespace {

std::vector<UsageRecord> usage_batch(int first, int count, std::int64_t base_time = 1'700'000'000'000) {
  std::vector<UsageRecord> out;
  for (int i = first; i < first + count; ++i) {
    out.push_back(make_usage("req_" + std::to_string(i), base_time + i, i));
  }
  return out;
}

TEST_P(StoreContract, ModelsUpsertThenList) {
  store_->upsert_model(Model{"qwen-2-7b", "qwen", "chat", 32768});
  store_->upsert_model(Model{"llama-3-8b", "llama", "completion", 4096});
  store_->upsert_model(Model{"llama-3-8b", "llama", "chat", 8192});  // second upsert updates

  auto models = store_->list_models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].id, "llama-3-8b");  // ordered by id
  EXPECT_EQ(models[0].family, "llama");
  EXPECT_EQ(models[0].kind, "chat");
  EXPECT_EQ(models[0].context_length, 8192);
  EXPECT_EQ(models[1].id, "qwen-2-7b");
  EXPECT_EQ(models[1].context_length, 32768);
}

TEST_P(StoreContract, NodesUpsertThenList) {
  Node node{"node_1", "aws", "eu-west-1", "g5.xlarge", {"llama-3-8b"}, "http://10.0.0.1:8000",
            true, 1'006'000, 2500, "launching", 1000};
  store_->upsert_node(node);
  store_->upsert_node(Node{"node_0", "gcp", "us-central1", "a2-highgpu-1g", {}, "http://10.0.0.2:8000",
                           false, 3'670'000, 4000, "ready", 900});
  node.state = "ready";
  node.models = {"llama-3-8b", "qwen-2-7b"};
  node.spot = false;
  node.updated_at = 2000;
  store_->upsert_node(node);

  auto nodes = store_->list_nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].id, "node_0");
  EXPECT_TRUE(nodes[0].models.empty());
  const Node& n = nodes[1];
  EXPECT_EQ(n.id, "node_1");
  EXPECT_EQ(n.provider, "aws");
  EXPECT_EQ(n.region, "eu-west-1");
  EXPECT_EQ(n.instance_type, "g5.xlarge");
  EXPECT_EQ(n.models, (std::vector<std::string>{"llama-3-8b", "qwen-2-7b"}));
  EXPECT_EQ(n.endpoint, "http://10.0.0.1:8000");
  EXPECT_FALSE(n.spot);
  EXPECT_EQ(n.price_per_hour_micros, 1'006'000);
  EXPECT_EQ(n.capacity_tokens_per_sec, 2500);
  EXPECT_EQ(n.state, "ready");
  EXPECT_EQ(n.updated_at, 2000);
}

TEST_P(StoreContract, InsertUsageIsIdempotentOnRequestId) {
  auto batch = usage_batch(0, 1000);
  EXPECT_EQ(store_->insert_usage(batch), 1000u);
  EXPECT_EQ(store_->insert_usage(batch), 0u);
  EXPECT_EQ(store_->insert_usage(batch), 0u);
  EXPECT_EQ(store_->count_usage(), 1000u);
  EXPECT_EQ(store_->insert_usage({}), 0u);
}

TEST_P(StoreContract, MixedBatchReturnsOnlyTheNewCount) {
  ASSERT_EQ(store_->insert_usage(usage_batch(0, 10)), 10u);
  auto mixed = usage_batch(5, 10);                     // 5..9 exist, 10..14 are new
  mixed.push_back(make_usage("req_12", 1, 12));         // a duplicate inside the batch itself
  EXPECT_EQ(store_->insert_usage(mixed), 5u);
  EXPECT_EQ(store_->count_usage(), 15u);
}

TEST_P(StoreContract, ListUsageIsOldestFirstFromSinceWithLimit) {
  auto batch = usage_batch(0, 50, 10'000);
  std::shuffle(batch.begin(), batch.end(), std::mt19937(42));
  ASSERT_EQ(store_->insert_usage(batch), 50u);

  auto page = store_->list_usage(10'020, 10);
  ASSERT_EQ(page.size(), 10u);
  for (std::size_t i = 0; i < page.size(); ++i) {
    EXPECT_EQ(page[i].created_at, 10'020 + static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(store_->list_usage(10'045, 100).size(), 5u);
  EXPECT_TRUE(store_->list_usage(20'000, 100).empty());
  EXPECT_TRUE(store_->list_usage(0, 0).empty());

  // Every field survives the round trip.
  const UsageRecord want = make_usage("req_20", 10'020, 20);
  const UsageRecord& got = page[0];
  EXPECT_EQ(got.request_id, want.request_id);
  EXPECT_EQ(got.org_id, want.org_id);
  EXPECT_EQ(got.environment_id, want.environment_id);
  EXPECT_EQ(got.api_key_id, want.api_key_id);
  EXPECT_EQ(got.model, want.model);
  EXPECT_EQ(got.region, want.region);
  EXPECT_EQ(got.node_id, want.node_id);
  EXPECT_EQ(got.endpoint, want.endpoint);
  EXPECT_EQ(got.prompt_tokens, want.prompt_tokens);
  EXPECT_EQ(got.completion_tokens, want.completion_tokens);
  EXPECT_EQ(got.cached_tokens, want.cached_tokens);
  EXPECT_EQ(got.latency_ms, want.latency_ms);
  EXPECT_EQ(got.ttft_ms, want.ttft_ms);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.streamed, want.streamed);
  EXPECT_EQ(got.cancelled, want.cancelled);
  EXPECT_EQ(page[1].streamed, true);  // req_21: odd n streams
}

TEST_P(StoreContract, UsageWithoutCreatedAtGetsTheCurrentTime) {
  ASSERT_EQ(store_->insert_usage({make_usage("req_now", 0)}), 1u);
  auto rows = store_->list_usage(1, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_GT(rows[0].created_at, 1'600'000'000'000);
}

TEST_P(StoreContract, DataSurvivesClosingAndReopening) {
  auto [org, env] = make_org_env(*store_, "acme");
  ASSERT_EQ(store_->insert_usage(usage_batch(0, 20)), 20u);
  reopen();
  store_->migrate();
  EXPECT_TRUE(store_->find_org("acme").has_value());
  EXPECT_TRUE(store_->get_environment(env.id).has_value());
  EXPECT_EQ(store_->count_usage(), 20u);
}

TEST_P(StoreContract, ConcurrentInsertUsageFromFourThreads) {
  // Each thread writes 20 batches of 50; neighbouring threads overlap by half, so the same
  // request ids race against each other. Exactly one insert of each id may report it as new.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  std::vector<std::size_t> inserted(kThreads, 0);
  std::vector<std::exception_ptr> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int b = 0; b < kPerThread / 50; ++b) {
          inserted[t] += store_->insert_usage(usage_batch(t * kPerThread / 2 + b * 50, 50));
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
  const std::size_t distinct = (kThreads + 1) * kPerThread / 2;
  std::size_t total = 0;
  for (auto n : inserted) total += n;
  EXPECT_EQ(total, distinct);
  EXPECT_EQ(store_->count_usage(), distinct);
}

}  // namespace
}  // namespace cic::store::testing
