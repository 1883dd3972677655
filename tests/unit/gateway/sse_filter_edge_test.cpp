// SseFilter edge cases (comments, errors, odd data) and usage_from_response_body.
#include <gtest/gtest.h>

#include <string>

#include "sse_filter.hpp"
#include "sse_stream_fixture.hpp"

namespace cic::gateway {
namespace {

std::string run(SseFilter& f, const std::string& in) {
  std::string out;
  f.feed(in, out);
  return out;
}

TEST(SseFilterEdge, CommentsAndKeepAlivesPassThrough) {
  SseFilter f(false, false);
  EXPECT_EQ(run(f, ": ping\n\n"), ": ping\n\n");
  EXPECT_EQ(run(f, ":\n\n"), ":\n\n");
  EXPECT_EQ(run(f, "retry: 1000\n\n"), "retry: 1000\n\n");
  EXPECT_EQ(f.content_events(), 0u);
  EXPECT_FALSE(f.usage().reported);
  EXPECT_FALSE(f.saw_done());
}

TEST(SseFilterEdge, CommentsBetweenChunksKeepTheirPlace) {
  const auto events = testing::vllm_chat_stream();
  const std::string in = "data: " + events[1].with_usage + "\n\n: keep-alive\n\ndata: " + events[2].with_usage +
                         "\n\n";
  SseFilter f(false, false);
  EXPECT_EQ(run(f, in), "data: " + events[1].without_usage + "\n\n: keep-alive\n\ndata: " +
                            events[2].without_usage + "\n\n");
}

TEST(SseFilterEdge, CrLfCommentIsNormalizedToLf) {
  SseFilter f(false, false);
  // Every line end the filter forwards is LF, whatever the node used.
  EXPECT_EQ(run(f, ": ping\r\n\r\n"), ": ping\n\n");
}

TEST(SseFilterEdge, ErrorEventSetsSawErrorAndPassesThrough) {
  const std::string error = R"({"error":{"object":"error","message":"boom","type":"BadRequestError","code":400}})";
  SseFilter f(false, false);
  EXPECT_EQ(run(f, "data: " + error + "\n\n"), "data: " + error + "\n\n");
  EXPECT_TRUE(f.saw_error());
  EXPECT_FALSE(f.usage().reported);
  EXPECT_EQ(f.content_events(), 0u);
}

TEST(SseFilterEdge, ErrorEventSplitAcrossReads) {
  const std::string in = "data: {\"error\":{\"message\":\"x\"}}\n\n";
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    SseFilter f(true, true);
    std::string out;
    f.feed(in.substr(0, cut), out);
    f.feed(in.substr(cut), out);
    ASSERT_TRUE(f.saw_error()) << cut;
    ASSERT_EQ(out, in) << cut;
  }
}

TEST(SseFilterEdge, NonJsonDataPassesRaw) {
  SseFilter f(false, false);
  EXPECT_EQ(run(f, "data: not json\n\n"), "data: not json\n\n");
  EXPECT_EQ(run(f, "data: [1,2]\n\n"), "data: [1,2]\n\n");
  EXPECT_FALSE(f.saw_error());
}

TEST(SseFilterEdge, DoneWithoutSpaceIsRecognized) {
  SseFilter f(false, false);
  EXPECT_EQ(run(f, "data:[DONE]\n\n"), "data: [DONE]\n\n");
  EXPECT_TRUE(f.saw_done());
}

TEST(SseFilterEdge, IncompleteTrailingEventIsHeldBack) {
  SseFilter f(true, true);
  EXPECT_EQ(run(f, "data: [DONE]\n"), "");
  EXPECT_FALSE(f.saw_done());
  EXPECT_EQ(run(f, "\n"), "data: [DONE]\n\n");
  EXPECT_TRUE(f.saw_done());
}

TEST(SseFilterEdge, NullUsageIsNotReported) {
  const std::string chunk = R"({"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null})";
  SseFilter f(false, false);
  EXPECT_EQ(run(f, "data: " + chunk + "\n\n"), "data: " + chunk + "\n\n");
  EXPECT_FALSE(f.usage().reported);
  EXPECT_EQ(f.content_events(), 1u);
}

TEST(SseFilterEdge, UsageOnlyChunkIsDroppedWithoutIncludeUsage) {
  const std::string chunk = R"({"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":9}})";
  SseFilter hidden(false, false);
  EXPECT_EQ(run(hidden, "data: " + chunk + "\n\n"), "");
  EXPECT_EQ(hidden.usage().prompt_tokens, 7);
  EXPECT_EQ(hidden.usage().completion_tokens, 9);
  EXPECT_EQ(hidden.content_events(), 0u);
  SseFilter shown(true, false);
  EXPECT_EQ(run(shown, "data: " + chunk + "\n\n"), "data: " + chunk + "\n\n");
}

TEST(SseFilterEdge, MissingCountsKeepThePreviousValues) {
  SseFilter f(true, true);
  run(f, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n");
  run(f, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\n");
  EXPECT_EQ(f.usage().prompt_tokens, 5);
  EXPECT_EQ(f.usage().completion_tokens, 3);
}

// Regression test; the bug it caught (fixed) was in (src/gateway/sse_filter.cpp:14-18): read_usage uses json::value(key, default), which throws
// nlohmann::json::type_error when the key is present but null or not a number (e.g. a node that
// sends "completion_tokens": null or "cached_tokens": null). The exception escapes feed() on the
// streaming path (forwarder.cpp:243), cutting the stream and skipping record_usage, so the
// request is never billed. Fix: read each count only if `is_number_integer()` (or is_number()),
// e.g. `if (auto it = usage.find("prompt_tokens"); it != usage.end() && it->is_number())
// out.prompt_tokens = it->get<std::int64_t>();`.
TEST(SseFilterEdge, NullOrStringCountsDoNotThrow) {
  SseFilter f(true, true);
  std::string out;
  EXPECT_NO_THROW(f.feed(
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":null,"
      "\"prompt_tokens_details\":{\"cached_tokens\":null}}}\n\n",
      out));
  EXPECT_NO_THROW(f.feed("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":\"5\"}}\n\n", out));
  EXPECT_EQ(f.usage().prompt_tokens, 5);
}

// Regression test; the bug it caught (fixed) was in (src/gateway/sse_filter.cpp:107-120): the header promises "Events are forwarded whole", but
// handle_data re-emits only "data: <payload>" and drops the event's other fields (`event:`,
// `id:`, `retry:`), so e.g. "event: error\ndata: {...}" reaches the client as a plain data event.
// vLLM does not send these fields today. Fix: when the data needs no rewrite, forward raw_event;
// when it does, replace only the data line inside raw_event.
TEST(SseFilterEdge, OtherFieldsOfADataEventAreKept) {
  SseFilter f(true, true);
  const std::string in = "event: error\nid: 7\ndata: {\"error\":{\"message\":\"x\"}}\n\n";
  EXPECT_EQ(run(f, in), in);
}

TEST(UsageFromResponseBody, ReadsAllCounts) {
  const std::string body =
      R"({"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":21,"total_tokens":30,)"
      R"("completion_tokens":9,"prompt_tokens_details":{"cached_tokens":16}}})";
  TokenUsage u = usage_from_response_body(body);
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.prompt_tokens, 21);
  EXPECT_EQ(u.completion_tokens, 9);
  EXPECT_EQ(u.cached_tokens, 16);
}

TEST(UsageFromResponseBody, EmbeddingsUsageHasNoCompletionTokens) {
  TokenUsage u = usage_from_response_body(R"({"object":"list","data":[],"usage":{"prompt_tokens":4,"total_tokens":4}})");
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.prompt_tokens, 4);
  EXPECT_EQ(u.completion_tokens, 0);
  EXPECT_EQ(u.cached_tokens, 0);
}

TEST(UsageFromResponseBody, NullDetailsAreIgnored) {
  TokenUsage u = usage_from_response_body(
      R"({"usage":{"prompt_tokens":3,"completion_tokens":1,"prompt_tokens_details":null}})");
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.cached_tokens, 0);
}

TEST(UsageFromResponseBody, ToleratesBodiesWithoutUsage) {
  for (const char* body : {"", "not json", "[]", "null", R"({"id":"x"})", R"({"usage":null})", R"({"usage":[1]})",
                           R"({"usage":{"prompt_tokens":1})"}) {
    TokenUsage u = usage_from_response_body(body);
    EXPECT_FALSE(u.reported) << body;
    EXPECT_EQ(u.prompt_tokens, 0) << body;
    EXPECT_EQ(u.completion_tokens, 0) << body;
  }
}

// Same root cause as DISABLED_NullOrStringCountsDoNotThrow (sse_filter.cpp:14-18): the header
// (usage.hpp) says the function tolerates bodies it cannot parse, yet a valid body with a null
// count throws; forwarder.cpp:205 calls it after the node answered, so the client gets a 500
// and the request is not billed.
TEST(UsageFromResponseBody, NullCountsDoNotThrow) {
  EXPECT_NO_THROW(usage_from_response_body(R"({"usage":{"prompt_tokens":3,"completion_tokens":null}})"));
}

}  // namespace
}  // namespace cic::gateway
