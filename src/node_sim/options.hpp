#pragma once
// Command-line options of cic-node-sim (every flag is described in docs/node-sim.md).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cic::node_sim {

/// chat models serve /v1/chat/completions and /v1/completions (like a vLLM generate model),
/// completion models only /v1/completions, embedding models only /v1/embeddings.
enum class ModelKind : std::uint8_t { kChat, kCompletion, kEmbedding };

struct ModelSpec {
  std::string id;
  ModelKind kind = ModelKind::kChat;
};

struct SimOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8000;
  std::string ready_file;
  std::vector<ModelSpec> models;
  unsigned threads = 1;
  std::uint32_t max_model_len = 8192;
  std::uint32_t embedding_dim = 384;
  std::uint32_t ttft_ms = 0;
  std::uint32_t inter_token_ms = 0;
  std::uint32_t max_concurrency = 0;  // 0 = unlimited
  double error_rate = 0.0;
  bool hang = false;
  std::uint64_t die_after_tokens = 0;  // 0 = never
  bool refuse_connections = false;
  std::uint64_t seed = 0;
  std::uint32_t keep_alive_ms = 5000;  // uvicorn's keep-alive timeout, which vLLM uses
};

struct ParseOutcome {
  std::optional<SimOptions> options;  // empty on error or --help
  std::string error;
  bool help = false;
};

/// Parses argv[1..]; `--flag value` and `--flag=value` are both accepted.
ParseOutcome parse_options(std::span<const std::string_view> args);

std::string usage_text();

std::string_view model_kind_name(ModelKind kind);

}  // namespace cic::node_sim
