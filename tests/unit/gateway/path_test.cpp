// parse_api_path and percent_decode.
#include <gtest/gtest.h>

#include <string>

#include "path.hpp"

namespace cic::gateway {
namespace {

using Kind = ParsedPath::Kind;

TEST(ParseApiPath, UnscopedInferenceEndpoints) {
  struct Case {
    const char* path;
    Endpoint endpoint;
    const char* label;
  } cases[] = {
      {"/v1/chat/completions", Endpoint::kChatCompletions, "chat.completions"},
      {"/v1/completions", Endpoint::kCompletions, "completions"},
      {"/v1/embeddings", Endpoint::kEmbeddings, "embeddings"},
  };
  for (const auto& c : cases) {
    ParsedPath p = parse_api_path(c.path);
    EXPECT_EQ(p.kind, Kind::kInference) << c.path;
    EXPECT_EQ(p.endpoint, c.endpoint) << c.path;
    EXPECT_FALSE(p.scoped);
    EXPECT_EQ(p.model, "");
    EXPECT_EQ(p.org, "");
    EXPECT_EQ(p.target, c.path);
    EXPECT_STREQ(p.route_label(), c.label);
  }
}

TEST(ParseApiPath, QueryStringIsIgnored) {
  ParsedPath p = parse_api_path("/v1/chat/completions?foo=bar&x=/v1/embeddings");
  EXPECT_EQ(p.kind, Kind::kInference);
  EXPECT_EQ(p.endpoint, Endpoint::kChatCompletions);
  EXPECT_EQ(p.target, "/v1/chat/completions");
  EXPECT_EQ(parse_api_path("/healthz?verbose=1").kind, Kind::kHealth);
  EXPECT_EQ(parse_api_path("/v1/models?limit=5").kind, Kind::kModels);
  ParsedPath s = parse_api_path("/acme/prod/llama/v1/completions?stream=1");
  EXPECT_EQ(s.kind, Kind::kInference);
  EXPECT_EQ(s.model, "llama");
}

TEST(ParseApiPath, HealthAndReady) {
  ParsedPath h = parse_api_path("/healthz");
  EXPECT_EQ(h.kind, Kind::kHealth);
  EXPECT_STREQ(h.route_label(), "health");
  ParsedPath r = parse_api_path("/readyz");
  EXPECT_EQ(r.kind, Kind::kReady);
  EXPECT_STREQ(r.route_label(), "ready");
}

TEST(ParseApiPath, ModelsListAndCard) {
  ParsedPath list = parse_api_path("/v1/models");
  EXPECT_EQ(list.kind, Kind::kModels);
  EXPECT_EQ(list.model_id, "");
  EXPECT_STREQ(list.route_label(), "models");
  ParsedPath card = parse_api_path("/v1/models/llama-3-8b");
  EXPECT_EQ(card.kind, Kind::kModels);
  EXPECT_EQ(card.model_id, "llama-3-8b");
}

TEST(ParseApiPath, ModelCardIdIsPercentDecoded) {
  EXPECT_EQ(parse_api_path("/v1/models/meta-llama%2FLlama-3-8B").model_id, "meta-llama/Llama-3-8B");
  EXPECT_EQ(parse_api_path("/v1/models/a%2fb").model_id, "a/b");
  EXPECT_EQ(parse_api_path("/v1/models/org/model").model_id, "org/model");  // a raw slash is kept
  EXPECT_EQ(parse_api_path("/v1/models/x%20y%25").model_id, "x y%");
}

TEST(ParseApiPath, ModelCardWithBadEscapeIsUnknown) {
  for (const char* path : {"/v1/models/a%2", "/v1/models/a%", "/v1/models/%zz", "/v1/models/a%g1"}) {
    EXPECT_EQ(parse_api_path(path).kind, Kind::kUnknown) << path;
  }
  EXPECT_EQ(parse_api_path("/v1/models/").kind, Kind::kUnknown);
}

TEST(ParseApiPath, ScopedPaths) {
  ParsedPath p = parse_api_path("/acme/prod/llama-3-8b/v1/chat/completions");
  EXPECT_EQ(p.kind, Kind::kInference);
  EXPECT_EQ(p.endpoint, Endpoint::kChatCompletions);
  EXPECT_TRUE(p.scoped);
  EXPECT_EQ(p.org, "acme");
  EXPECT_EQ(p.environment, "prod");
  EXPECT_EQ(p.model, "llama-3-8b");
  EXPECT_EQ(p.target, "/acme/prod/llama-3-8b/v1/chat/completions");

  ParsedPath e = parse_api_path("/acme/dev/e5/v1/embeddings");
  EXPECT_EQ(e.endpoint, Endpoint::kEmbeddings);
  EXPECT_EQ(e.model, "e5");
  ParsedPath m = parse_api_path("/acme/dev/e5/v1/models");
  EXPECT_EQ(m.kind, Kind::kModels);
  EXPECT_TRUE(m.scoped);
}

TEST(ParseApiPath, ScopedModelMayContainSlashes) {
  ParsedPath p = parse_api_path("/acme/prod/meta-llama/Llama-3-8B-Instruct/v1/completions");
  EXPECT_EQ(p.kind, Kind::kInference);
  EXPECT_EQ(p.endpoint, Endpoint::kCompletions);
  EXPECT_EQ(p.org, "acme");
  EXPECT_EQ(p.environment, "prod");
  EXPECT_EQ(p.model, "meta-llama/Llama-3-8B-Instruct");
  EXPECT_EQ(parse_api_path("/o/e/a/b/c/v1/chat/completions").model, "a/b/c");
}

TEST(ParseApiPath, ScopedSegmentsArePercentDecoded) {
  ParsedPath p = parse_api_path("/my%20org/prod/meta-llama%2FLlama-3/v1/chat/completions");
  EXPECT_EQ(p.kind, Kind::kInference);
  EXPECT_EQ(p.org, "my org");
  EXPECT_EQ(p.model, "meta-llama/Llama-3");
}

TEST(ParseApiPath, ScopedWithBadPartsIsUnknown) {
  for (const char* path : {
           "/acme/prod/v1/chat/completions",       // no model segment
           "/acme/v1/chat/completions",            // no env
           "/acme//llama/v1/chat/completions",     // empty env
           "//prod/llama/v1/chat/completions",     // empty org
           "/acme/prod/llama/v1/nope",             // unknown tail
           "/acme/prod/llama/v2/chat/completions", // not v1
           "/acme/prod/ll%zzama/v1/completions",   // malformed escape in the model
           "/ac%4/prod/llama/v1/completions",      // malformed escape in the org
           "/acme/prod/llama",                     // no /v1/
       }) {
    ParsedPath p = parse_api_path(path);
    EXPECT_EQ(p.kind, Kind::kUnknown) << path;
    EXPECT_FALSE(p.scoped) << path;
    EXPECT_STREQ(p.route_label(), "other") << path;
  }
}

TEST(ParseApiPath, UnknownPaths) {
  for (const char* path : {"", "/", "/v1", "/v1/", "/v1/chat", "/v1/chat/completions/", "/v1/completion",
                           "/V1/completions", "/healthz/", "/health", "/metrics", "v1/completions",
                           "/v1/chat/completions/extra", "/v2/completions"}) {
    ParsedPath p = parse_api_path(path);
    EXPECT_EQ(p.kind, Kind::kUnknown) << path;
    EXPECT_STREQ(p.route_label(), "other") << path;
  }
}

TEST(PercentDecode, DecodesValidEscapes) {
  std::string out;
  EXPECT_TRUE(percent_decode("", out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(percent_decode("plain", out));
  EXPECT_EQ(out, "plain");
  EXPECT_TRUE(percent_decode("%41%62%2F%2f", out));
  EXPECT_EQ(out, "Ab//");
  EXPECT_TRUE(percent_decode("a%20b", out));
  EXPECT_EQ(out, "a b");
  EXPECT_TRUE(percent_decode("%C3%A9", out));
  EXPECT_EQ(out, "\xC3\xA9");
  EXPECT_TRUE(percent_decode("%00", out));
  EXPECT_EQ(out, std::string(1, '\0'));
  EXPECT_TRUE(percent_decode("100%25", out));
  EXPECT_EQ(out, "100%");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  std::string out;
  for (const char* in : {"%", "%4", "a%", "a%4", "%G0", "%0G", "%%", "% 1", "%-1"}) {
    EXPECT_FALSE(percent_decode(in, out)) << in;
  }
}

TEST(PercentDecode, ClearsPreviousOutput) {
  std::string out = "stale";
  EXPECT_TRUE(percent_decode("x", out));
  EXPECT_EQ(out, "x");
}

}  // namespace
}  // namespace cic::gateway
