// Unit tests of cic-node-sim's Asio-free core: tokenizer, generation and stop rules, request
// validation, the admission gate and HTTP chunk framing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "node_sim/admission_gate.hpp"
#include "node_sim/generator.hpp"
#include "node_sim/http_text.hpp"
#include "node_sim/request_parse.hpp"
#include "node_sim/tokenizer.hpp"

namespace cic::node_sim {
namespace {

TEST(Tokenizer, CountsWordRunsAndPunctuation) {
  EXPECT_EQ(count_tokens(""), 0u);
  EXPECT_EQ(count_tokens("Hello, world!"), 4u);
  EXPECT_EQ(count_tokens("  a1b2  c "), 2u);
  EXPECT_EQ(count_tokens("caf\xc3\xa9 ok"), 2u);
  EXPECT_EQ(count_tokens("{\"k\":1}"), 7u);
}

TEST(Generator, EveryPieceIsOneTokenAndLengthIsNatural) {
  GenerationPlan plan;
  GenerationLimits limits{1000, 0, false, nullptr};
  for (std::uint64_t h = 0; h < 200; ++h) {
    plan_generation(h, limits, plan);
    EXPECT_EQ(plan.token_count(), natural_length(h));
    EXPECT_GE(plan.token_count(), kMinNaturalTokens);
    EXPECT_LE(plan.token_count(), kMaxNaturalTokens);
    EXPECT_EQ(count_tokens(plan.text), plan.token_count());
    EXPECT_EQ(plan.finish_reason, FinishReason::kStop);
  }
}

TEST(Generator, MaxTokensIgnoreEosAndMinTokens) {
  GenerationPlan plan;
  plan_generation(1, {3, 0, false, nullptr}, plan);
  EXPECT_EQ(plan.token_count(), 3u);
  EXPECT_EQ(plan.finish_reason, FinishReason::kLength);
  plan_generation(1, {500, 0, true, nullptr}, plan);
  EXPECT_EQ(plan.token_count(), 500u);
  EXPECT_EQ(plan.finish_reason, FinishReason::kLength);
  plan_generation(1, {500, 200, false, nullptr}, plan);
  EXPECT_EQ(plan.token_count(), 200u);
}

TEST(Generator, StopCutsBeforeEarliestMatchAndKeepsOneTokenPerPiece) {
  GenerationPlan natural;
  plan_generation(42, {1000, 0, false, nullptr}, natural);
  const std::string third(natural.piece(2).substr(1));  // the word without its space
  for (const std::string& stop : {third, third.substr(1), " " + third, third.substr(0, 1)}) {
    std::vector<std::string> stops{"never-there", stop};
    GenerationPlan plan;
    plan_generation(42, {1000, 0, false, &stops}, plan);
    std::size_t at = natural.text.find(stop);
    std::string expected = natural.text.substr(0, at);
    if (expected.find_first_not_of(' ') == std::string::npos) expected.clear();
    EXPECT_EQ(plan.text, expected) << stop;
    EXPECT_EQ(plan.stop_index, 1);
    EXPECT_EQ(plan.finish_reason, FinishReason::kStop);
    EXPECT_EQ(count_tokens(plan.text), plan.token_count()) << stop;
    std::string joined;
    for (std::size_t i = 0; i < plan.token_count(); ++i) joined.append(plan.piece(i));
    EXPECT_EQ(joined, plan.text);
  }
}

SimOptions two_models() {
  SimOptions options;
  options.max_model_len = 64;
  options.models = {{"chat", ModelKind::kChat}, {"emb", ModelKind::kEmbedding}};
  return options;
}

TEST(RequestParse, ValidatesInVllmOrder) {
  SimOptions options = two_models();
  GenerationRequest out;
  auto error = parse_request(Endpoint::kChat, R"({"model":"x","messages":[]})", options, out);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 404u);
  error = parse_request(Endpoint::kChat, R"({"model":"x"})", options, out);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 400u);  // schema errors come before the model lookup
  error = parse_request(Endpoint::kChat,
                        R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":60})", options, out);
  ASSERT_TRUE(error);
  EXPECT_NE(error->message.find("(8 in the messages, 60 in the completion)"), std::string::npos);
  error = parse_request(Endpoint::kEmbedding, R"({"model":"chat","input":"x"})", options, out);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->message, "The model does not support Embeddings API");
}

TEST(RequestParse, ResolvesDefaultsAndPromptForms) {
  SimOptions options = two_models();
  GenerationRequest out;
  ASSERT_FALSE(parse_request(Endpoint::kChat, R"({"messages":[{"role":"user","content":"a b"}]})",
                             options, out));
  EXPECT_EQ(out.prompt_tokens_total, 3u + 4u + 2u);
  EXPECT_EQ(out.max_tokens, 64u - 9u);
  ASSERT_FALSE(parse_request(Endpoint::kCompletion, R"({"prompt":[[1,2],[3]],"stop":"x"})", options, out));
  EXPECT_EQ(out.prompts.size(), 2u);
  EXPECT_EQ(out.prompt_tokens_total, 3u);
  EXPECT_EQ(out.max_tokens, 16u);
  EXPECT_EQ(out.stops, std::vector<std::string>{"x"});
}

TEST(AdmissionGate, QueuesInOrderAndHandsOverOnRelease) {
  AdmissionGate gate(1);
  std::vector<int> woken;
  ASSERT_TRUE(gate.try_acquire());
  auto first = gate.enqueue([&] { woken.push_back(1); });
  auto second = gate.enqueue([&] { woken.push_back(2); });
  EXPECT_EQ(gate.waiting(), 2u);
  EXPECT_TRUE(gate.withdraw(second));
  gate.release();
  EXPECT_EQ(woken, std::vector<int>{1});
  EXPECT_FALSE(gate.withdraw(first));  // already admitted: the caller must release
  gate.release();
  EXPECT_EQ(gate.running(), 0u);
  gate.set_limit(0);
  EXPECT_TRUE(gate.try_acquire());
  EXPECT_TRUE(gate.try_acquire());
}

TEST(HttpText, ChunkSizeIsFilledIn) {
  std::string out;
  std::size_t mark = begin_chunk(out);
  out.append("hello");
  end_chunk(out, mark);
  EXPECT_EQ(out, "00000005\r\nhello\r\n");
}

}  // namespace
}  // namespace cic::node_sim
