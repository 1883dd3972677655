// parse_openai_request for streams: the node is always asked for usage on every chunk, while the
// request remembers what the client itself asked for.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "openai_request.hpp"

namespace cic::gateway {
namespace {

using nlohmann::json;

struct StreamCase {
  const char* name;
  Endpoint endpoint;
  std::string stream_options;  // JSON, or empty for none
  bool include_usage;
  bool continuous_usage;
};

std::string body_for(const StreamCase& c) {
  std::string body = c.endpoint == Endpoint::kChatCompletions
                         ? R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":9,"stream":true)"
                         : R"({"model":"m","prompt":"hi","max_tokens":9,"stream":true)";
  if (!c.stream_options.empty()) body += ",\"stream_options\":" + c.stream_options;
  return body + "}";
}

const StreamCase kCases[] = {
    {"ChatNoOptions", Endpoint::kChatCompletions, "", false, false},
    {"ChatNullOptions", Endpoint::kChatCompletions, "null", false, false},
    {"ChatEmptyOptions", Endpoint::kChatCompletions, "{}", false, false},
    {"ChatIncludeUsage", Endpoint::kChatCompletions, R"({"include_usage":true})", true, false},
    {"ChatIncludeUsageFalse", Endpoint::kChatCompletions, R"({"include_usage":false})", false, false},
    {"ChatBoth", Endpoint::kChatCompletions, R"({"include_usage":true,"continuous_usage_stats":true})", true, true},
    {"ChatBothReversedOrder", Endpoint::kChatCompletions,
     R"({"continuous_usage_stats":true,"include_usage":true})", true, true},
    {"ChatContinuousWithoutInclude", Endpoint::kChatCompletions, R"({"continuous_usage_stats":true})", false,
     false},
    {"ChatIncludeContinuousFalse", Endpoint::kChatCompletions,
     R"({"include_usage":true,"continuous_usage_stats":false})", true, false},
    {"CompletionsNoOptions", Endpoint::kCompletions, "", false, false},
    {"CompletionsIncludeUsage", Endpoint::kCompletions, R"({"include_usage":true})", true, false},
    {"CompletionsBoth", Endpoint::kCompletions, R"({"include_usage":true,"continuous_usage_stats":true})", true,
     true},
};

class OpenAiRequestStream : public ::testing::TestWithParam<StreamCase> {};

TEST_P(OpenAiRequestStream, AsksTheNodeForAllUsageAndRemembersTheClientChoice) {
  const StreamCase& c = GetParam();
  auto result = parse_openai_request(c.endpoint, body_for(c));
  ASSERT_TRUE(std::holds_alternative<OpenAiRequest>(result)) << std::get<ApiError>(result).message;
  const OpenAiRequest& r = std::get<OpenAiRequest>(result);
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.client_include_usage, c.include_usage);
  EXPECT_EQ(r.client_continuous_usage, c.continuous_usage);
  EXPECT_EQ(r.max_tokens, 9);

  json up = json::parse(r.upstream_body);
  EXPECT_EQ(up["stream"], true);
  EXPECT_EQ(up["stream_options"], (json{{"include_usage", true}, {"continuous_usage_stats", true}}));
  EXPECT_EQ(up["model"], "m");
  EXPECT_EQ(up["max_tokens"], 9);
  // Nothing else was added or lost.
  json original = json::parse(body_for(c));
  original["stream_options"] = up["stream_options"];
  EXPECT_EQ(up, original);
}

INSTANTIATE_TEST_SUITE_P(Table, OpenAiRequestStream, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<StreamCase>& info) { return info.param.name; });

TEST(OpenAiRequestStreamPathModel, FillsModelAndAddsUsageOptions) {
  auto result = parse_openai_request(Endpoint::kChatCompletions,
                                     R"({"messages":[{"role":"user","content":"x"}],"stream":true})", "org/model");
  ASSERT_TRUE(std::holds_alternative<OpenAiRequest>(result));
  json up = json::parse(std::get<OpenAiRequest>(result).upstream_body);
  EXPECT_EQ(up["model"], "org/model");
  EXPECT_EQ(up["stream_options"]["include_usage"], true);
  EXPECT_EQ(up["stream_options"]["continuous_usage_stats"], true);
}

TEST(OpenAiRequestStreamFalse, IsNotRewritten) {
  const std::string body = R"({"model":"m","prompt":"x","stream":false})";
  auto result = parse_openai_request(Endpoint::kCompletions, body);
  ASSERT_TRUE(std::holds_alternative<OpenAiRequest>(result));
  EXPECT_FALSE(std::get<OpenAiRequest>(result).stream);
  EXPECT_EQ(std::get<OpenAiRequest>(result).upstream_body, body);
}

}  // namespace
}  // namespace cic::gateway
