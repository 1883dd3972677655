// readiness_request / readiness_answer_ok: the Asio-free half of the health module.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cic/health/health_monitor.hpp"

namespace cic::health {
namespace {

using nlohmann::json;

TEST(ReadinessRequest, ChatAsksForOneToken) {
  auto [path, body] = readiness_request("llama-3-8b", "chat");
  EXPECT_EQ(path, "/v1/chat/completions");
  EXPECT_EQ(json::parse(body),
            json::parse(R"({"model":"llama-3-8b","messages":[{"role":"user","content":"ping"}],"max_tokens":1})"));
}

TEST(ReadinessRequest, CompletionAsksForOneToken) {
  auto [path, body] = readiness_request("m", "completion");
  EXPECT_EQ(path, "/v1/completions");
  EXPECT_EQ(json::parse(body), json::parse(R"({"model":"m","prompt":"ping","max_tokens":1})"));
}

TEST(ReadinessRequest, EmbeddingEmbedsOneWord) {
  auto [path, body] = readiness_request("bge", "embedding");
  EXPECT_EQ(path, "/v1/embeddings");
  EXPECT_EQ(json::parse(body), json::parse(R"({"model":"bge","input":"ping"})"));
}

TEST(ReadinessRequest, ModelIdIsEscaped) {
  auto [path, body] = readiness_request("org/m\"x\\y", "chat");
  EXPECT_EQ(json::parse(body)["model"], "org/m\"x\\y");
}

TEST(ReadinessRequest, UnknownKindGivesNothing) {
  auto [path, body] = readiness_request("m", "rerank");
  EXPECT_EQ(path, "");
  EXPECT_EQ(body, "");
}

TEST(ReadinessAnswer, ChoicesOrDataMustBeNonEmptyArrays) {
  EXPECT_TRUE(readiness_answer_ok(R"({"id":"x","choices":[{"index":0,"message":{"content":" a"}}]})"));
  EXPECT_TRUE(readiness_answer_ok(R"({"object":"list","data":[{"embedding":[0.1]}]})"));
  EXPECT_FALSE(readiness_answer_ok(R"({"choices":[]})"));
  EXPECT_FALSE(readiness_answer_ok(R"({"data":[]})"));
  EXPECT_FALSE(readiness_answer_ok(R"({"choices":{"0":1}})"));
  EXPECT_FALSE(readiness_answer_ok(R"({"error":{"message":"boom","code":500}})"));
  EXPECT_FALSE(readiness_answer_ok(R"([{"choices":[1]}])"));
  EXPECT_FALSE(readiness_answer_ok(""));
  EXPECT_FALSE(readiness_answer_ok("{\"choices\":[1"));
  EXPECT_FALSE(readiness_answer_ok("hello world"));
}

TEST(ProbeKindNames, AreStable) {
  EXPECT_STREQ(to_string(ProbeKind::kLiveness), "liveness");
  EXPECT_STREQ(to_string(ProbeKind::kReadiness), "readiness");
  EXPECT_STREQ(to_string(ProbeKind::kMetrics), "metrics");
}

}  // namespace
}  // namespace cic::health
