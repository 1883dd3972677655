// parse_vllm_metrics / apply: vLLM V1 and V0 /metrics bodies, label filtering, hostile input.
#include <gtest/gtest.h>

#include <string>

#include "cic/registry/vllm_metrics.hpp"

namespace cic::registry {
namespace {

// Shape of a vLLM V1 (about 0.10) body with two data-parallel engines.
constexpr const char* kV1 = R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
# HELP vllm:kv_cache_usage_perc KV-Cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.75
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.99
vllm:gpu_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.99
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12345.0
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 42.5
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 9.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 9.0
vllm:num_requests_running_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7e9
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 1234.0
)";

// Shape of a vLLM V0 (0.6) body: no engine label, the old cache gauge, CRLF line ends.
constexpr const char* kV0 =
    "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\r\n"
    "# TYPE vllm:cache_config_info gauge\r\n"
    "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",gpu_memory_utilization=\"0.9\"} 1.0\r\n"
    "# TYPE vllm:num_requests_running gauge\r\n"
    "vllm:num_requests_running{model_name=\"facebook/opt-125m\"} 5.0\r\n"
    "# TYPE vllm:num_requests_swapped gauge\r\n"
    "vllm:num_requests_swapped{model_name=\"facebook/opt-125m\"} 0.0\r\n"
    "# TYPE vllm:num_requests_waiting gauge\r\n"
    "vllm:num_requests_waiting{model_name=\"facebook/opt-125m\"} 2.0\r\n"
    "# TYPE vllm:gpu_cache_usage_perc gauge\r\n"
    "vllm:gpu_cache_usage_perc{model_name=\"facebook/opt-125m\"} 0.4321\r\n"
    "# TYPE vllm:cpu_cache_usage_perc gauge\r\n"
    "vllm:cpu_cache_usage_perc{model_name=\"facebook/opt-125m\"} 0.9\r\n";

TEST(VllmMetrics, V1SumsEnginesAndPrefersKvCacheUsage) {
  VllmLoad load = parse_vllm_metrics(kV1);
  EXPECT_TRUE(load.has_running);
  EXPECT_TRUE(load.has_waiting);
  EXPECT_TRUE(load.has_kv);
  EXPECT_DOUBLE_EQ(load.running, 7.0);
  EXPECT_DOUBLE_EQ(load.waiting, 1.0);
  EXPECT_DOUBLE_EQ(load.kv_cache_usage, 0.5);  // mean of the engines; the deprecated 0.99 is ignored
}

TEST(VllmMetrics, V0UsesGpuCacheUsageAndCrlf) {
  VllmLoad load = parse_vllm_metrics(kV0);
  EXPECT_DOUBLE_EQ(load.running, 5.0);
  EXPECT_DOUBLE_EQ(load.waiting, 2.0);
  ASSERT_TRUE(load.has_kv);
  EXPECT_DOUBLE_EQ(load.kv_cache_usage, 0.4321);
}

TEST(VllmMetrics, FiltersByModelName) {
  const std::string body =
      "vllm:num_requests_running{model_name=\"a\",engine=\"0\"} 2\n"
      "vllm:num_requests_running{model_name=\"b\",engine=\"0\"} 10\n"
      "vllm:num_requests_running{engine=\"0\"} 100\n"
      "vllm:num_requests_waiting{model_name=\"b\"} 4\n"
      "vllm:kv_cache_usage_perc{model_name=\"a\"} 0.3\n"
      "vllm:kv_cache_usage_perc{model_name=\"b\"} 0.3\n"
      "vllm:num_requests_running{model_name=\"we\\\"ird\\\\name\"} 1000\n";
  VllmLoad all = parse_vllm_metrics(body);
  EXPECT_DOUBLE_EQ(all.running, 1112);

  VllmLoad a = parse_vllm_metrics(body, {.model_name = "a"});
  EXPECT_DOUBLE_EQ(a.running, 2);
  EXPECT_FALSE(a.has_waiting);
  EXPECT_DOUBLE_EQ(a.kv_cache_usage, 0.3);

  VllmLoad b = parse_vllm_metrics(body, {.model_name = "b"});
  EXPECT_DOUBLE_EQ(b.running, 10);
  EXPECT_DOUBLE_EQ(b.waiting, 4);

  VllmLoad weird = parse_vllm_metrics(body, {.model_name = "we\"ird\\name"});
  EXPECT_DOUBLE_EQ(weird.running, 1000);

  VllmLoad none = parse_vllm_metrics(body, {.model_name = "c"});
  EXPECT_FALSE(none.has_running);
  EXPECT_FALSE(none.has_waiting);
  EXPECT_FALSE(none.has_kv);
}

TEST(VllmMetrics, AcceptsUnlabelledSamplesTimestampsAndBlanks) {
  VllmLoad load = parse_vllm_metrics(
      "vllm:num_requests_running 3 1700000000000\n"
      "  vllm:num_requests_waiting\t{ model_name = \"m\" , } \t 2e0\n"
      "vllm:kv_cache_usage_perc{} 1.5\n");  // clamped to 1
  EXPECT_DOUBLE_EQ(load.running, 3);
  EXPECT_DOUBLE_EQ(load.waiting, 2);
  EXPECT_DOUBLE_EQ(load.kv_cache_usage, 1.0);
}

TEST(VllmMetrics, SkipsMalformedAndNonFiniteSamples) {
  const std::string body =
      "vllm:num_requests_running{model_name=\"m\"} NaN\n"
      "vllm:num_requests_running{model_name=\"m\"} +Inf\n"
      "vllm:num_requests_running{model_name=\"m\"} -Inf\n"
      "vllm:num_requests_running{model_name=\"m\"} inf\n"
      "vllm:num_requests_running{model_name=\"m\"} -1\n"
      "vllm:num_requests_running{model_name=\"m\"} 12abc\n"
      "vllm:num_requests_running{model_name=\"m\"}\n"
      "vllm:num_requests_running{model_name=\"m\"} \n"
      "vllm:num_requests_running{model_name=\"m\"}3\n"
      "vllm:num_requests_running{model_name=\"m} 3\n"
      "vllm:num_requests_running{model_name=m} 3\n"
      "vllm:num_requests_running{model_name=\"m\" 3\n"
      "vllm:num_requests_running{1x=\"m\"} 3\n"
      "vllm:num_requests_running{model_name=\"m\",model_name=\"n\"} 3\n"
      "vllm:num_requests_running{model_name=\"m\\"
      "\n"
      "vllm:num_requests_running 3 4 5\n"
      "vllm:num_requests_running 3 notatime\n"
      "vllm:num_requests_running{\n"
      "{}\n"
      "\n"
      "   \n"
      "#\n"
      "vllm:num_requests_running{model_name=\"m\"} 6\n";
  VllmLoad load;
  ASSERT_NO_THROW(load = parse_vllm_metrics(body));
  EXPECT_DOUBLE_EQ(load.running, 6);  // only the last, well-formed line counts
  EXPECT_FALSE(load.has_waiting);
  EXPECT_FALSE(load.has_kv);

  EXPECT_FALSE(parse_vllm_metrics("").has_running);
  EXPECT_FALSE(parse_vllm_metrics(std::string("\0\0\0", 3)).has_running);
  EXPECT_FALSE(parse_vllm_metrics("vllm:kv_cache_usage_perc NaN\n").has_kv);
}

TEST(VllmMetrics, BoundsWorkOnHugeInput) {
  // A 256 KiB line is skipped; the body is read only up to max_bytes.
  std::string body = "vllm:num_requests_running{model_name=\"" + std::string(256 * 1024, 'x') + "\"} 9\n";
  body += "vllm:num_requests_waiting 1\n";
  std::string filler;
  for (int i = 0; i < 20000; ++i) filler += "other_metric{a=\"b\"} 1\n";
  body += filler;
  body += "vllm:num_requests_running 5\n";
  VllmLoad load = parse_vllm_metrics(body);
  EXPECT_DOUBLE_EQ(load.waiting, 1);
  EXPECT_DOUBLE_EQ(load.running, 5);  // the long line did not count

  VllmLoad cut = parse_vllm_metrics(body, {.model_name = {}, .max_bytes = body.size() - 10});
  EXPECT_FALSE(cut.has_running);  // the last line fell beyond the limit (and was cut mid-line)
  EXPECT_DOUBLE_EQ(cut.waiting, 1);
}

TEST(VllmMetrics, ApplyStoresGauges) {
  NodeLoad out;
  apply(parse_vllm_metrics(kV1), out);
  EXPECT_EQ(out.requests_running.load(), 7);  // nothing of this gateway's in flight
  EXPECT_EQ(out.requests_waiting.load(), 1);
  EXPECT_EQ(out.reported_running.load(), 7);
  EXPECT_EQ(out.reported_waiting.load(), 1);
  EXPECT_EQ(out.kv_cache_usage_milli.load(), 500);

  VllmLoad full;
  full.has_kv = true;
  full.kv_cache_usage = 0.9996;
  full.has_running = true;
  full.running = 2.4;
  apply(full, out);
  EXPECT_EQ(out.kv_cache_usage_milli.load(), 1000);
  EXPECT_EQ(out.requests_running.load(), 2);
  EXPECT_EQ(out.requests_waiting.load(), 0);  // absent from this scrape: not left stale

  apply(VllmLoad{}, out);
  EXPECT_EQ(out.requests_running.load(), 0);
  EXPECT_EQ(out.reported_running.load(), 0);
  EXPECT_EQ(out.kv_cache_usage_milli.load(), 0);
}

TEST(VllmMetrics, ApplyLeavesOutThisGatewaysOwnRequests) {
  // kV1: 7 running, 1 waiting on the engine, of which this gateway has some in flight.
  NodeLoad out;
  out.in_flight = 5;
  apply(parse_vllm_metrics(kV1), out);
  EXPECT_EQ(out.reported_running.load(), 7);
  EXPECT_EQ(out.reported_waiting.load(), 1);
  EXPECT_EQ(out.requests_running.load(), 2);  // 5 of the 7 are ours
  EXPECT_EQ(out.requests_waiting.load(), 1);

  out.in_flight = 8;  // ours fill the batch and the queue
  apply(parse_vllm_metrics(kV1), out);
  EXPECT_EQ(out.requests_running.load(), 0);
  EXPECT_EQ(out.requests_waiting.load(), 0);

  out.in_flight = 20;  // more in flight than the engine holds (still connecting, or answered): no negatives
  apply(parse_vllm_metrics(kV1), out);
  EXPECT_EQ(out.requests_running.load(), 0);
  EXPECT_EQ(out.requests_waiting.load(), 0);
  EXPECT_EQ(out.reported_running.load(), 7);

  out.in_flight = -3;  // a counter caught mid-update is taken as 0
  apply(parse_vllm_metrics(kV1), out);
  EXPECT_EQ(out.requests_running.load(), 7);
  EXPECT_EQ(out.requests_waiting.load(), 1);
}

}  // namespace
}  // namespace cic::registry
