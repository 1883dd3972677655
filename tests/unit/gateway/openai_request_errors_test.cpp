// parse_openai_request: every rejected body is a 400 naming the offending field.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "openai_request.hpp"

namespace cic::gateway {
namespace {

struct ErrorCase {
  const char* name;
  Endpoint endpoint;
  std::string body;
  std::string param;
  std::string code;
  std::string path_model = {};
};

constexpr auto kChat = Endpoint::kChatCompletions;
constexpr auto kCompl = Endpoint::kCompletions;
constexpr auto kEmbed = Endpoint::kEmbeddings;

// A valid chat body with `extra` spliced in as more members.
std::string chat(const std::string& extra) {
  return R"({"model":"m","messages":[{"role":"user","content":"hi"}])" + (extra.empty() ? "" : "," + extra) + "}";
}
std::string compl_body(const std::string& extra) {
  return R"({"model":"m","prompt":"hi")" + (extra.empty() ? "" : "," + extra) + "}";
}
std::string embed(const std::string& extra) {
  return R"({"model":"m","input":"hi")" + (extra.empty() ? "" : "," + extra) + "}";
}

const ErrorCase kCases[] = {
    // Not a JSON object at all.
    {"EmptyBody", kChat, "", "", "invalid_json"},
    {"EmptyBodyCompletions", kCompl, "", "", "invalid_json"},
    {"EmptyBodyEmbeddings", kEmbed, "", "", "invalid_json"},
    {"TruncatedJson", kChat, R"({"model":"m")", "", "invalid_json"},
    {"GarbageJson", kChat, "model=m", "", "invalid_json"},
    {"TrailingGarbage", kChat, chat("") + "x", "", "invalid_json"},
    {"ArrayBody", kChat, "[]", "", "invalid_json"},
    {"StringBody", kCompl, R"("hello")", "", "invalid_json"},
    {"NumberBody", kEmbed, "42", "", "invalid_json"},
    {"NullBody", kChat, "null", "", "invalid_json"},
    // model
    {"MissingModel", kChat, R"({"messages":[{"role":"user","content":"hi"}]})", "model", "missing_required_parameter"},
    {"NullModel", kCompl, R"({"model":null,"prompt":"x"})", "model", "missing_required_parameter"},
    {"MissingModelEmbeddings", kEmbed, R"({"input":"x"})", "model", "missing_required_parameter"},
    {"ModelNotString", kChat, R"({"model":5,"messages":[]})", "model", "invalid_type"},
    {"ModelEmpty", kChat, R"({"model":"","messages":[]})", "model", "invalid_value"},
    {"ModelConflictsWithPath", kChat, chat(""), "model", "model_mismatch", "other"},
    {"ModelConflictsWithPathEmbeddings", kEmbed, embed(""), "model", "model_mismatch", "M"},
    // messages
    {"MissingMessages", kChat, R"({"model":"m"})", "messages", "missing_required_parameter"},
    {"MessagesNotArray", kChat, R"({"model":"m","messages":"hi"})", "messages", "invalid_type"},
    {"MessagesObject", kChat, R"({"model":"m","messages":{"role":"user"}})", "messages", "invalid_type"},
    {"MessagesNull", kChat, R"({"model":"m","messages":null})", "messages", "invalid_type"},
    {"MessagesEmpty", kChat, R"({"model":"m","messages":[]})", "messages", "invalid_value"},
    {"MessageNotObject", kChat, R"({"model":"m","messages":["hi"]})", "messages[0]", "invalid_type"},
    {"MessageWithoutRole", kChat, R"({"model":"m","messages":[{"content":"hi"}]})", "messages[0].role",
     "missing_required_parameter"},
    {"SecondMessageWithoutRole", kChat, R"({"model":"m","messages":[{"role":"user"},{"content":"x"}]})",
     "messages[1].role", "missing_required_parameter"},
    {"RoleNotString", kChat, R"({"model":"m","messages":[{"role":1}]})", "messages[0].role", "invalid_type"},
    {"ContentNumber", kChat, R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content",
     "invalid_type"},
    {"ContentObject", kChat, R"({"model":"m","messages":[{"role":"user","content":{}}]})", "messages[0].content",
     "invalid_type"},
    // stream
    {"StreamString", kChat, chat(R"("stream":"true")"), "stream", "invalid_type"},
    {"StreamNumber", kChat, chat(R"("stream":1)"), "stream", "invalid_type"},
    {"StreamStringCompletions", kCompl, compl_body(R"("stream":"yes")"), "stream", "invalid_type"},
    {"StreamOptionsWithoutStream", kChat, chat(R"("stream_options":{"include_usage":true})"), "stream_options",
     "invalid_value"},
    {"StreamOptionsWithStreamFalse", kCompl, compl_body(R"("stream":false,"stream_options":{})"), "stream_options",
     "invalid_value"},
    {"StreamOptionsNotObject", kChat, chat(R"("stream":true,"stream_options":true)"), "stream_options",
     "invalid_type"},
    {"IncludeUsageNotBool", kChat, chat(R"("stream":true,"stream_options":{"include_usage":"yes"})"),
     "stream_options.include_usage", "invalid_type"},
    {"ContinuousUsageNotBool", kChat,
     chat(R"("stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":1})"),
     "stream_options.continuous_usage_stats", "invalid_type"},
    // max_tokens and friends
    {"MaxTokensZero", kChat, chat(R"("max_tokens":0)"), "max_tokens", "invalid_value"},
    {"MaxTokensNegative", kChat, chat(R"("max_tokens":-1)"), "max_tokens", "invalid_value"},
    {"MaxTokensString", kChat, chat(R"("max_tokens":"5")"), "max_tokens", "invalid_type"},
    {"MaxTokensFloat", kChat, chat(R"("max_tokens":1.5)"), "max_tokens", "invalid_type"},
    {"MaxTokensWholeFloat", kChat, chat(R"("max_tokens":5.0)"), "max_tokens", "invalid_type"},
    {"MaxTokensTrillion", kChat, chat(R"("max_tokens":1000000000000)"), "max_tokens", "invalid_value"},
    {"MaxTokensJustOverLimit", kChat, chat(R"("max_tokens":100000001)"), "max_tokens", "invalid_value"},
    {"MaxTokensHugeUnsigned", kChat, chat(R"("max_tokens":18446744073709551615)"), "max_tokens", "invalid_value"},
    {"MaxTokensBool", kChat, chat(R"("max_tokens":true)"), "max_tokens", "invalid_type"},
    {"MaxCompletionTokensZero", kChat, chat(R"("max_completion_tokens":0)"), "max_completion_tokens",
     "invalid_value"},
    {"CompletionsMaxTokensNegative", kCompl, compl_body(R"("max_tokens":-7)"), "max_tokens", "invalid_value"},
    {"CompletionsMaxTokensString", kCompl, compl_body(R"("max_tokens":"10")"), "max_tokens", "invalid_type"},
    {"NZero", kChat, chat(R"("n":0)"), "n", "invalid_value"},
    {"NFloat", kChat, chat(R"("n":2.5)"), "n", "invalid_type"},
    {"NGreaterThanOneWithStream", kChat, chat(R"("stream":true,"n":2)"), "n", "invalid_value"},
    // sampling ranges
    {"TemperatureAboveTwo", kChat, chat(R"("temperature":2.01)"), "temperature", "invalid_value"},
    {"TemperatureNegative", kCompl, compl_body(R"("temperature":-0.1)"), "temperature", "invalid_value"},
    {"TemperatureString", kChat, chat(R"("temperature":"1")"), "temperature", "invalid_type"},
    {"TopPAboveOne", kChat, chat(R"("top_p":1.5)"), "top_p", "invalid_value"},
    {"PresencePenaltyBelow", kChat, chat(R"("presence_penalty":-2.5)"), "presence_penalty", "invalid_value"},
    {"FrequencyPenaltyAbove", kCompl, compl_body(R"("frequency_penalty":3)"), "frequency_penalty",
     "invalid_value"},
    // stop
    {"StopFiveStrings", kChat, chat(R"("stop":["a","b","c","d","e"])"), "stop", "invalid_value"},
    {"StopNumber", kChat, chat(R"("stop":5)"), "stop", "invalid_value"},
    {"StopArrayOfNumbers", kCompl, compl_body(R"("stop":[1])"), "stop", "invalid_type"},
    // prompt
    {"MissingPrompt", kCompl, R"({"model":"m"})", "prompt", "missing_required_parameter"},
    {"NullPrompt", kCompl, R"({"model":"m","prompt":null})", "prompt", "missing_required_parameter"},
    {"PromptNumber", kCompl, R"({"model":"m","prompt":5})", "prompt", "invalid_type"},
    {"PromptEmptyArray", kCompl, R"({"model":"m","prompt":[]})", "prompt", "invalid_value"},
    {"PromptArrayOfObjects", kCompl, R"({"model":"m","prompt":[{}]})", "prompt", "invalid_type"},
    {"PromptTokenArrayWithString", kCompl, R"({"model":"m","prompt":[[1,"a"]]})", "prompt", "invalid_type"},
    // input
    {"MissingInput", kEmbed, R"({"model":"m"})", "input", "missing_required_parameter"},
    {"InputObject", kEmbed, R"({"model":"m","input":{}})", "input", "invalid_type"},
    {"InputEmptyArray", kEmbed, R"({"model":"m","input":[]})", "input", "invalid_value"},
    {"InputArrayOfBools", kEmbed, R"({"model":"m","input":[true]})", "input", "invalid_type"},
    {"EmbeddingsStream", kEmbed, embed(R"("stream":true)"), "stream", "invalid_value"},
    {"EncodingFormatUnknown", kEmbed, embed(R"("encoding_format":"hex")"), "encoding_format", "invalid_value"},
    {"EncodingFormatNumber", kEmbed, embed(R"("encoding_format":1)"), "encoding_format", "invalid_value"},
};

class OpenAiRequestErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(OpenAiRequestErrors, IsA400NamingTheParam) {
  const ErrorCase& c = GetParam();
  auto result = parse_openai_request(c.endpoint, c.body, c.path_model);
  ASSERT_TRUE(std::holds_alternative<ApiError>(result)) << "accepted: " << c.body;
  const ApiError& e = std::get<ApiError>(result);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, c.param) << e.message;
  EXPECT_EQ(e.code, c.code) << e.message;
  EXPECT_FALSE(e.message.empty());
  EXPECT_EQ(e.retry_after_s, 0);
}

INSTANTIATE_TEST_SUITE_P(Table, OpenAiRequestErrors, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(OpenAiRequestErrorMessages, NameTheFieldAndTheTypes) {
  auto r = parse_openai_request(kChat, R"({"model":"m","messages":"hi"})");
  EXPECT_EQ(std::get<ApiError>(r).message, "Invalid type for 'messages': expected an array, but got a string.");
  r = parse_openai_request(kChat, R"({"model":"m","messages":[{"role":"user"}],"max_tokens":1.5})");
  EXPECT_EQ(std::get<ApiError>(r).message, "Invalid type for 'max_tokens': expected an integer, but got a number.");
  r = parse_openai_request(kChat, R"({"model":"a","messages":[{"role":"user"}]})", "b");
  EXPECT_EQ(std::get<ApiError>(r).message, "'model' (a) does not match the model in the path (b).");
}

}  // namespace
}  // namespace cic::gateway
