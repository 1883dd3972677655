#include "node_sim/options.hpp"

#include <charconv>
#include <cstdlib>

namespace cic::node_sim {
namespace {

template <typename T>
bool parse_number(std::string_view text, T& out) {
  auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return res.ec == std::errc() && res.ptr == text.data() + text.size();
}

bool parse_listen(std::string_view text, SimOptions& options) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return false;
  options.listen_host = std::string(host);
  return parse_number(text.substr(colon + 1), options.listen_port);
}

bool parse_model(std::string_view text, std::vector<ModelSpec>& models) {
  ModelSpec spec;
  std::size_t colon = text.rfind(':');
  std::string_view kind = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "chat" || kind == "completion" || kind == "embedding") {
    text = text.substr(0, colon);
    spec.kind = kind == "chat"         ? ModelKind::kChat
                : kind == "completion" ? ModelKind::kCompletion
                                       : ModelKind::kEmbedding;
  }
  if (text.empty()) return false;
  spec.id = std::string(text);
  models.push_back(std::move(spec));
  return true;
}

// Applies one `--name value` pair; returns an error message or an empty string.
std::string apply(std::string_view name, std::string_view value, SimOptions& o) {
  bool ok = true;
  if (name == "listen") ok = parse_listen(value, o);
  else if (name == "ready-file") o.ready_file = std::string(value);
  else if (name == "model") ok = parse_model(value, o.models);
  else if (name == "threads") ok = parse_number(value, o.threads) && o.threads >= 1;
  else if (name == "max-model-len") ok = parse_number(value, o.max_model_len) && o.max_model_len > 0;
  else if (name == "embedding-dim") ok = parse_number(value, o.embedding_dim) && o.embedding_dim > 0;
  else if (name == "ttft-ms") ok = parse_number(value, o.ttft_ms);
  else if (name == "inter-token-ms") ok = parse_number(value, o.inter_token_ms);
  else if (name == "max-concurrency") ok = parse_number(value, o.max_concurrency);
  else if (name == "die-after-tokens") ok = parse_number(value, o.die_after_tokens);
  else if (name == "seed") ok = parse_number(value, o.seed);
  else if (name == "keep-alive-ms") ok = parse_number(value, o.keep_alive_ms);
  else if (name == "error-rate") {
    char* end = nullptr;
    std::string copy(value);
    o.error_rate = std::strtod(copy.c_str(), &end);
    ok = end == copy.c_str() + copy.size() && !copy.empty() && o.error_rate >= 0.0 &&
         o.error_rate <= 1.0;
  } else {
    return "unknown option --" + std::string(name);
  }
  if (!ok) return "invalid value '" + std::string(value) + "' for --" + std::string(name);
  return {};
}

}  // namespace

std::string_view model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::kChat: return "chat";
    case ModelKind::kCompletion: return "completion";
    case ModelKind::kEmbedding: return "embedding";
  }
  return "chat";
}

ParseOutcome parse_options(std::span<const std::string_view> args) {
  ParseOutcome outcome;
  SimOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      outcome.help = true;
      return outcome;
    }
    if (arg.substr(0, 2) != "--") {
      outcome.error = "unexpected argument '" + std::string(arg) + "'";
      return outcome;
    }
    arg.remove_prefix(2);
    // Boolean flags take no value.
    if (arg == "hang") {
      options.hang = true;
      continue;
    }
    if (arg == "refuse-connections") {
      options.refuse_connections = true;
      continue;
    }
    std::string_view name = arg;
    std::string_view value;
    if (std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      outcome.error = "option --" + std::string(name) + " needs a value";
      return outcome;
    }
    if (std::string error = apply(name, value, options); !error.empty()) {
      outcome.error = std::move(error);
      return outcome;
    }
  }
  if (options.models.empty()) options.models.push_back({"sim-model", ModelKind::kChat});
  outcome.options = std::move(options);
  return outcome;
}

std::string usage_text() {
  return R"(usage: cic-node-sim [options]
  --listen HOST:PORT        address to listen on (default 127.0.0.1:8000; port 0 = any free port)
  --ready-file PATH         once listening, atomically write {"port":P,"pid":N} to PATH
  --model ID[:KIND]         served model, KIND chat|completion|embedding (default chat);
                            repeatable (default: one chat model "sim-model")
  --threads N               io threads (default 1)
  --max-model-len N         context length of every model (default 8192)
  --embedding-dim N         embedding vector size (default 384)
  --ttft-ms N               delay before the first token (default 0)
  --inter-token-ms N        delay between tokens (default 0)
  --max-concurrency N       requests generating at once; the rest wait (default 0 = unlimited)
  --error-rate F            share of /v1 POSTs answered 500, deterministic by seed (default 0)
  --hang                    accept /v1 POSTs and never answer them
  --die-after-tokens N      _exit(1) once N completion tokens have been sent in total
  --refuse-connections      accept, then reset every connection (SO_LINGER 0)
  --seed N                  seed of the --error-rate draw (default 0)
  --keep-alive-ms N         close idle keep-alive connections after N ms (default 5000, 0 = never)
)";
}

}  // namespace cic::node_sim
