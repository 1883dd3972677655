// SseFilter on a realistic vLLM stream: exact output per client choice, independent of how the
// node's bytes are split into reads.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <tuple>

#include "sse_filter.hpp"
#include "sse_stream_fixture.hpp"

namespace cic::gateway {
namespace {

using testing::client_bytes;
using testing::node_bytes;
using testing::vllm_chat_stream;

class SseFilterModes : public ::testing::TestWithParam<std::tuple<bool, bool, std::string>> {
 protected:
  bool include() const { return std::get<0>(GetParam()); }
  bool continuous() const { return std::get<1>(GetParam()); }
  const std::string& separator() const { return std::get<2>(GetParam()); }
  std::string input() const { return node_bytes(vllm_chat_stream(), separator()); }
  // continuous_usage_stats without include_usage means nothing to the filter.
  std::string expected() const { return client_bytes(vllm_chat_stream(), include(), include() && continuous()); }

  void expect_final_state(const SseFilter& f) const {
    EXPECT_TRUE(f.usage().reported);
    EXPECT_EQ(f.usage().prompt_tokens, 12);
    EXPECT_EQ(f.usage().completion_tokens, 3);
    EXPECT_EQ(f.usage().cached_tokens, 4);
    EXPECT_TRUE(f.saw_done());
    EXPECT_FALSE(f.saw_error());
    EXPECT_EQ(f.content_events(), 5u);
  }
};

TEST_P(SseFilterModes, WholeStreamInOneRead) {
  SseFilter f(include(), continuous());
  std::string out;
  f.feed(input(), out);
  EXPECT_EQ(out, expected());
  expect_final_state(f);
}

TEST_P(SseFilterModes, SplitAtEveryByteBoundary) {
  const std::string in = input();
  const std::string want = expected();
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    SseFilter f(include(), continuous());
    std::string out;
    f.feed(std::string_view(in).substr(0, cut), out);
    f.feed(std::string_view(in).substr(cut), out);
    ASSERT_EQ(out, want) << "split at byte " << cut;
    ASSERT_EQ(f.usage().completion_tokens, 3) << "split at byte " << cut;
    ASSERT_EQ(f.usage().cached_tokens, 4) << "split at byte " << cut;
  }
}

TEST_P(SseFilterModes, ByteByByte) {
  const std::string in = input();
  SseFilter f(include(), continuous());
  std::string out;
  for (char c : in) f.feed(std::string_view(&c, 1), out);
  EXPECT_EQ(out, expected());
  expect_final_state(f);
}

TEST_P(SseFilterModes, RandomReadSizes) {
  const std::string in = input();
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    SseFilter f(include(), continuous());
    std::string out;
    std::size_t pos = 0;
    while (pos < in.size()) {
      std::size_t n = std::uniform_int_distribution<std::size_t>(1, 64)(rng);
      f.feed(std::string_view(in).substr(pos, n), out);
      pos += n;
    }
    ASSERT_EQ(out, expected()) << "round " << round;
  }
}

TEST_P(SseFilterModes, EmitsEachEventAsSoonAsItIsComplete) {
  const auto events = vllm_chat_stream();
  SseFilter f(include(), continuous());
  std::string out;
  std::string first = "data: " + events[0].with_usage + separator();
  f.feed(std::string_view(first).substr(0, first.size() - 1), out);
  EXPECT_EQ(out, "");  // the blank line is not complete yet
  f.feed(std::string_view(first).substr(first.size() - 1), out);
  EXPECT_EQ(out, "data: " + (include() && continuous() ? events[0].with_usage : events[0].without_usage) + "\n\n");
  EXPECT_EQ(f.usage().prompt_tokens, 12);
  EXPECT_EQ(f.usage().completion_tokens, 0);
  EXPECT_EQ(f.content_events(), 1u);
}

TEST_P(SseFilterModes, UsageIsTheLastReportedCounts) {
  const auto events = vllm_chat_stream();
  SseFilter f(include(), continuous());
  std::string out;
  for (int i = 0; i < 3; ++i) f.feed("data: " + events[i].with_usage + separator(), out);
  EXPECT_TRUE(f.usage().reported);
  EXPECT_EQ(f.usage().prompt_tokens, 12);
  EXPECT_EQ(f.usage().completion_tokens, 2);
  EXPECT_EQ(f.usage().cached_tokens, 0);
  EXPECT_FALSE(f.saw_done());
}

INSTANTIATE_TEST_SUITE_P(
    AllClientChoices, SseFilterModes,
    ::testing::Combine(::testing::Bool(), ::testing::Bool(), ::testing::Values(std::string("\n\n"), std::string("\r\n\r\n"))),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) ? "IncludeUsage" : "NoUsage") +
             (std::get<1>(info.param) ? "Continuous" : "FinalOnly") +
             (std::get<2>(info.param).size() == 2 ? "Lf" : "CrLf");
    });

// The three client-visible contracts, spelled out on the output rather than via the fixture.
TEST(SseFilterContract, WithoutIncludeUsageNoUsageAppearsAnywhere) {
  SseFilter f(false, false);
  std::string out;
  f.feed(node_bytes(vllm_chat_stream()), out);
  EXPECT_EQ(out.find("usage"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"choices\":[]"), std::string::npos);
  EXPECT_EQ(out.find("prompt_tokens"), std::string::npos);
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(f.usage().completion_tokens, 3);  // the meter still sees it
}

TEST(SseFilterContract, IncludeUsageOnlyTheFinalChunkCarriesUsage) {
  SseFilter f(true, false);
  std::string out;
  f.feed(node_bytes(vllm_chat_stream()), out);
  std::size_t first = out.find("\"usage\"");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(out.find("\"usage\"", first + 1), std::string::npos) << "usage appears twice";
  const std::string last_chunk = "data: " + vllm_chat_stream()[5].with_usage + "\n\n";
  EXPECT_EQ(out.find(last_chunk), out.size() - last_chunk.size() - std::string("data: [DONE]\n\n").size());
}

TEST(SseFilterContract, ContinuousPassesTheNodeBytesThrough) {
  SseFilter f(true, true);
  std::string out;
  const std::string in = node_bytes(vllm_chat_stream());
  f.feed(in, out);
  EXPECT_EQ(out, in);
}

TEST(SseFilterContract, ContinuousWithoutIncludeActsLikeNoUsage) {
  SseFilter a(false, true);
  SseFilter b(false, false);
  std::string out_a;
  std::string out_b;
  a.feed(node_bytes(vllm_chat_stream()), out_a);
  b.feed(node_bytes(vllm_chat_stream()), out_b);
  EXPECT_EQ(out_a, out_b);
}

}  // namespace
}  // namespace cic::gateway
