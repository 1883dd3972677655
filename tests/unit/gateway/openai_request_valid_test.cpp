// parse_openai_request: accepted bodies, what is extracted, and what is forwarded.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "openai_request.hpp"

namespace cic::gateway {
namespace {

using nlohmann::json;

OpenAiRequest ok(Endpoint endpoint, const std::string& body, const std::string& path_model = {}) {
  auto result = parse_openai_request(endpoint, body, path_model);
  if (auto* e = std::get_if<ApiError>(&result)) {
    ADD_FAILURE() << "rejected " << body << ": " << e->param << ": " << e->message;
    return {};
  }
  return std::get<OpenAiRequest>(result);
}

TEST(OpenAiRequestValid, MinimalChat) {
  const std::string body = R"({"model":"llama-3-8b","messages":[{"role":"user","content":"hi"}]})";
  OpenAiRequest r = ok(Endpoint::kChatCompletions, body);
  EXPECT_EQ(r.endpoint, Endpoint::kChatCompletions);
  EXPECT_EQ(r.model, "llama-3-8b");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.client_include_usage);
  EXPECT_FALSE(r.client_continuous_usage);
  EXPECT_EQ(r.max_tokens, 0);
  EXPECT_EQ(r.user, "");
  EXPECT_EQ(r.estimated_prompt_tokens, 5);  // (2 content + 16 framing) / 4 + 1
  EXPECT_EQ(r.upstream_body, body);
}

TEST(OpenAiRequestValid, MinimalCompletions) {
  const std::string body = R"({"model":"m","prompt":"abcdefgh"})";
  OpenAiRequest r = ok(Endpoint::kCompletions, body);
  EXPECT_EQ(r.endpoint, Endpoint::kCompletions);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.estimated_prompt_tokens, 3);  // 8 / 4 + 1
  EXPECT_EQ(r.upstream_body, body);
}

TEST(OpenAiRequestValid, MinimalEmbeddings) {
  const std::string body = R"({"model":"e5","input":"abcd"})";
  OpenAiRequest r = ok(Endpoint::kEmbeddings, body);
  EXPECT_EQ(r.endpoint, Endpoint::kEmbeddings);
  EXPECT_EQ(r.model, "e5");
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.estimated_prompt_tokens, 2);
  EXPECT_EQ(r.upstream_body, body);
}

TEST(OpenAiRequestValid, NonStreamBodiesAreForwardedByteIdentical) {
  // Whitespace, key order, escapes, unknown fields and number spelling must all survive.
  const std::string bodies[] = {
      "{ \"messages\" : [ {\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"q\\\"\"} ],\n  \"model\":\"m\", "
      "\"temperature\": 0.70, \"vendor_field\": {\"x\": [1, 2.50e0]} }",
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":false,"max_tokens":16,"user":"u1"})",
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":null,"stream_options":null})",
  };
  for (const std::string& body : bodies) {
    EXPECT_EQ(ok(Endpoint::kChatCompletions, body).upstream_body, body);
  }
  const std::string compl_body = "{\"prompt\": [\"a\", \"b\"], \"model\": \"m\", \"echo\": true}";
  EXPECT_EQ(ok(Endpoint::kCompletions, compl_body).upstream_body, compl_body);
  const std::string embed_body = "{\"input\": [[1, 2], [3]], \"model\": \"m\", \"stream\": false}";
  EXPECT_EQ(ok(Endpoint::kEmbeddings, embed_body).upstream_body, embed_body);
}

TEST(OpenAiRequestValid, MaxTokensBoundsAreInclusive) {
  const std::string head = R"({"model":"m","messages":[{"role":"user"}],)";
  EXPECT_EQ(ok(Endpoint::kChatCompletions, head + R"("max_tokens":1})").max_tokens, 1);
  EXPECT_EQ(ok(Endpoint::kChatCompletions, head + R"("max_tokens":100000000})").max_tokens, 100'000'000);
  EXPECT_EQ(ok(Endpoint::kChatCompletions, head + R"("max_tokens":null})").max_tokens, 0);
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":"x","max_tokens":77})").max_tokens, 77);
}

TEST(OpenAiRequestValid, MaxCompletionTokensWinsOverMaxTokens) {
  OpenAiRequest r = ok(Endpoint::kChatCompletions,
                       R"({"model":"m","messages":[{"role":"user"}],"max_tokens":10,"max_completion_tokens":20})");
  EXPECT_EQ(r.max_tokens, 20);
  r = ok(Endpoint::kChatCompletions, R"({"model":"m","messages":[{"role":"user"}],"max_completion_tokens":30})");
  EXPECT_EQ(r.max_tokens, 30);
}

TEST(OpenAiRequestValid, SamplingBoundsAreInclusive) {
  const std::string head = R"({"model":"m","messages":[{"role":"user"}],)";
  for (std::string tail : {R"("temperature":0})", R"("temperature":2})", R"("temperature":2.0})", R"("top_p":0})",
                           R"("top_p":1})", R"("presence_penalty":-2})", R"("frequency_penalty":2})",
                           R"("temperature":null})", R"("n":1,"stream":true})", R"("n":3})"}) {
    ok(Endpoint::kChatCompletions, head + tail);
  }
}

TEST(OpenAiRequestValid, StopMayBeAStringNullOrUpToFourStrings) {
  const std::string head = R"({"model":"m","prompt":"p",)";
  for (std::string tail : {R"("stop":"\n"})", R"("stop":null})", R"("stop":[]})", R"("stop":["a","b","c","d"]})"}) {
    ok(Endpoint::kCompletions, head + tail);
  }
}

TEST(OpenAiRequestValid, ChatContentMayBeNullOrParts) {
  OpenAiRequest r = ok(Endpoint::kChatCompletions,
                       R"({"model":"m","messages":[{"role":"assistant","content":null},)"
                       R"({"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"system"}]})");
  EXPECT_EQ(r.model, "m");
  // 3 * 16 framing + the dumped parts array ([{"text":"hi","type":"text"}] = 29 bytes).
  EXPECT_EQ(r.estimated_prompt_tokens, (48 + 29) / 4 + 1);
}

TEST(OpenAiRequestValid, PromptAndInputShapes) {
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":["abcd","ab"]})").estimated_prompt_tokens, 3);
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":[1,2,3]})").estimated_prompt_tokens, 3);
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":[[1,2],[3]]})").estimated_prompt_tokens, 3);
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":""})").estimated_prompt_tokens, 1);
  EXPECT_EQ(ok(Endpoint::kEmbeddings, R"({"model":"m","input":["a","b"]})").estimated_prompt_tokens, 2);
  EXPECT_EQ(ok(Endpoint::kEmbeddings, R"({"model":"m","input":[5,6,7,8]})").estimated_prompt_tokens, 4);
}

TEST(OpenAiRequestValid, EmbeddingsEncodingFormats) {
  ok(Endpoint::kEmbeddings, R"({"model":"m","input":"x","encoding_format":"float"})");
  ok(Endpoint::kEmbeddings, R"({"model":"m","input":"x","encoding_format":"base64"})");
  ok(Endpoint::kEmbeddings, R"({"model":"m","input":"x","encoding_format":null})");
}

TEST(OpenAiRequestValid, UserIsCapturedWhenAString) {
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":"x","user":"alice"})").user, "alice");
  EXPECT_EQ(ok(Endpoint::kCompletions, R"({"model":"m","prompt":"x","user":7})").user, "");
}

TEST(OpenAiRequestPathModel, FillsAMissingModelAndRewritesTheBody) {
  OpenAiRequest r = ok(Endpoint::kChatCompletions, R"({"messages":[{"role":"user","content":"hi"}]})", "org/llama-3");
  EXPECT_EQ(r.model, "org/llama-3");
  json up = json::parse(r.upstream_body);
  EXPECT_EQ(up["model"], "org/llama-3");
  EXPECT_EQ(up["messages"][0]["content"], "hi");
  EXPECT_FALSE(up.contains("stream_options"));
}

TEST(OpenAiRequestPathModel, FillsANullModel) {
  OpenAiRequest r = ok(Endpoint::kEmbeddings, R"({"model":null,"input":"x"})", "e5");
  EXPECT_EQ(r.model, "e5");
  EXPECT_EQ(json::parse(r.upstream_body)["model"], "e5");
}

TEST(OpenAiRequestPathModel, MatchingModelKeepsTheBodyByteIdentical) {
  const std::string body = R"({ "model" : "m",  "prompt":"x" })";
  OpenAiRequest r = ok(Endpoint::kCompletions, body, "m");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.upstream_body, body);
}

TEST(OpenAiRequestEndpoint, NamesAndUpstreamPaths) {
  EXPECT_STREQ(to_string(Endpoint::kChatCompletions), "chat.completions");
  EXPECT_STREQ(to_string(Endpoint::kCompletions), "completions");
  EXPECT_STREQ(to_string(Endpoint::kEmbeddings), "embeddings");
  EXPECT_STREQ(upstream_path(Endpoint::kChatCompletions), "/v1/chat/completions");
  EXPECT_STREQ(upstream_path(Endpoint::kCompletions), "/v1/completions");
  EXPECT_STREQ(upstream_path(Endpoint::kEmbeddings), "/v1/embeddings");
}

}  // namespace
}  // namespace cic::gateway
