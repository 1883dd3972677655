#include "node_sim/request_parse.hpp"

#include <nlohmann/json.hpp>

#include "node_sim/hashing.hpp"

namespace cic::node_sim {
namespace {

using nlohmann::json;

std::optional<SimError> read_bool(const json& body, const char* key, bool& out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return bad_request(std::string(key) + ": Input should be a valid boolean");
  out = it->get<bool>();
  return std::nullopt;
}

// Reads an optional integer field; `present` tells whether it was given (null means absent).
std::optional<SimError> read_int(const json& body, const char* key, std::int64_t& out,
                                 bool& present) {
  present = false;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return bad_request(std::string(key) + ": Input should be a valid integer");
  out = it->get<std::int64_t>();
  present = true;
  return std::nullopt;
}

std::optional<SimError> read_stream_fields(const json& body, GenerationRequest& out) {
  if (auto e = read_bool(body, "stream", out.stream)) return e;
  auto options = body.find("stream_options");
  if (options == body.end() || options->is_null()) return std::nullopt;
  if (!out.stream) return bad_request("Stream options can only be defined when `stream=True`.");
  if (!options->is_object()) return bad_request("stream_options: Input should be an object");
  if (auto e = read_bool(*options, "include_usage", out.include_usage)) return e;
  if (auto e = read_bool(*options, "continuous_usage_stats", out.continuous_usage)) return e;
  // vLLM only honours continuous stats together with include_usage.
  out.continuous_usage = out.continuous_usage && out.include_usage;
  return std::nullopt;
}

std::optional<SimError> read_stops(const json& body, std::vector<std::string>& stops) {
  stops.clear();
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    stops.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const json& s : *it) {
      if (!s.is_string()) return bad_request("stop: Input should be a string or a list of strings");
      stops.push_back(s.get<std::string>());
    }
  } else {
    return bad_request("stop: Input should be a string or a list of strings");
  }
  for (const std::string& s : stops) {
    if (s.empty()) return bad_request("stop cannot contain an empty string.");
  }
  return std::nullopt;
}

// Sampling fields shared by chat and completions.
std::optional<SimError> read_sampling(const json& body, Endpoint endpoint, std::int64_t& max_tokens,
                                      bool& has_max, GenerationRequest& out) {
  std::int64_t n = 1;
  bool has_n = false;
  if (auto e = read_int(body, "n", n, has_n)) return e;
  if (n < 1) return bad_request("n must be at least 1, got " + std::to_string(n) + ".");
  if (n > 1) return bad_request("n > 1 is not supported by cic-node-sim.");
  has_max = false;
  if (endpoint == Endpoint::kChat) {
    if (auto e = read_int(body, "max_completion_tokens", max_tokens, has_max)) return e;
  }
  if (!has_max) {
    if (auto e = read_int(body, "max_tokens", max_tokens, has_max)) return e;
  }
  if (has_max && max_tokens < 1) {
    return bad_request("max_tokens must be at least 1, got " + std::to_string(max_tokens) + ".");
  }
  std::int64_t min_tokens = 0;
  bool has_min = false;
  if (auto e = read_int(body, "min_tokens", min_tokens, has_min)) return e;
  if (min_tokens < 0 || (has_max && min_tokens > max_tokens)) {
    return bad_request("min_tokens must be greater than or equal to 0 and less than or equal to "
                       "max_tokens, got " + std::to_string(min_tokens) + ".");
  }
  out.min_tokens = static_cast<std::uint32_t>(min_tokens);
  out.ignore_eos = false;
  if (auto e = read_bool(body, "ignore_eos", out.ignore_eos)) return e;
  return read_stops(body, out.stops);
}

// vLLM's `_validate_input` messages, so gateway code matching on them sees the real text.
std::optional<SimError> check_context(std::uint32_t prompt_tokens, std::int64_t max_tokens,
                                      bool has_max, std::uint32_t max_model_len) {
  const std::string head = "This model's maximum context length is " +
                           std::to_string(max_model_len) + " tokens. However, you requested ";
  if (!has_max) {
    if (prompt_tokens < max_model_len) return std::nullopt;
    return bad_request(head + std::to_string(prompt_tokens) +
                       " tokens in the messages, Please reduce the length of the messages.");
  }
  if (prompt_tokens + max_tokens <= max_model_len) return std::nullopt;
  return bad_request(head + std::to_string(prompt_tokens + max_tokens) + " tokens (" +
                     std::to_string(prompt_tokens) + " in the messages, " +
                     std::to_string(max_tokens) +
                     " in the completion). Please reduce the length of the messages or "
                     "completion.");
}

std::optional<SimError> resolve_model(const json& body, const SimOptions& options,
                                      std::size_t& index) {
  auto it = body.find("model");
  if (it == body.end() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty())) {
    index = 0;  // vLLM falls back to the first served name
    return std::nullopt;
  }
  if (!it->is_string()) return bad_request("model: Input should be a valid string");
  const std::string& name = it->get_ref<const std::string&>();
  for (std::size_t i = 0; i < options.models.size(); ++i) {
    if (options.models[i].id == name) {
      index = i;
      return std::nullopt;
    }
  }
  return model_not_found(name);
}

std::optional<SimError> check_support(Endpoint endpoint, ModelKind kind) {
  bool ok = endpoint == Endpoint::kEmbedding ? kind == ModelKind::kEmbedding
            : endpoint == Endpoint::kChat    ? kind == ModelKind::kChat
                                             : kind != ModelKind::kEmbedding;
  if (ok) return std::nullopt;
  return bad_request(endpoint == Endpoint::kChat         ? "The model does not support Chat Completions API"
                     : endpoint == Endpoint::kCompletion ? "The model does not support Completions API"
                                                         : "The model does not support Embeddings API");
}

std::optional<SimError> parse_embedding_fields(const json& body, const SimOptions& options,
                                               GenerationRequest& out) {
  out.base64 = false;
  if (auto it = body.find("encoding_format"); it != body.end() && !it->is_null()) {
    if (*it == "base64") out.base64 = true;
    else if (*it != "float") return bad_request("encoding_format: Input should be 'float' or 'base64'");
  }
  std::int64_t dims = options.embedding_dim;
  bool has_dims = false;
  if (auto e = read_int(body, "dimensions", dims, has_dims)) return e;
  if (dims < 1 || dims > options.embedding_dim) {
    return bad_request("dimensions must be between 1 and " + std::to_string(options.embedding_dim) +
                       " for this model, got " + std::to_string(dims) + ".");
  }
  out.dimensions = static_cast<std::uint32_t>(dims);
  return std::nullopt;
}

}  // namespace

std::optional<SimError> parse_request(Endpoint endpoint, std::string_view body_text,
                                      const SimOptions& options, GenerationRequest& out) {
  json body = json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return bad_request("JSON decode error: the request body is not valid JSON");
  if (!body.is_object()) return bad_request("The request body must be a JSON object");
  out.endpoint = endpoint;
  out.stream = out.include_usage = out.continuous_usage = false;
  out.body_request_id.clear();
  if (auto it = body.find("request_id"); it != body.end() && it->is_string()) {
    out.body_request_id = it->get<std::string>();
  }
  const char* prompt_field = endpoint == Endpoint::kChat ? "messages"
                             : endpoint == Endpoint::kCompletion ? "prompt" : "input";
  auto prompt = body.find(prompt_field);
  if (prompt == body.end() || prompt->is_null()) {
    return bad_request(std::string(prompt_field) + ": Field required");
  }
  std::int64_t max_tokens = 0;
  bool has_max = false;
  if (endpoint == Endpoint::kEmbedding) {
    if (auto e = parse_embedding_fields(body, options, out)) return e;
  } else {
    if (auto e = read_stream_fields(body, out)) return e;
    if (auto e = read_sampling(body, endpoint, max_tokens, has_max, out)) return e;
    if (endpoint == Endpoint::kCompletion) {
      if (auto it = body.find("suffix"); it != body.end() && !it->is_null()) {
        return bad_request("suffix is not currently supported");
      }
      if (auto it = body.find("echo"); it != body.end() && *it == true) {
        return bad_request("echo is not supported by cic-node-sim.");
      }
    }
  }
  if (auto e = resolve_model(body, options, out.model_index)) return e;
  if (auto e = check_support(endpoint, options.models[out.model_index].kind)) return e;

  // The generation hash covers the model, the prompt and the request's `seed`.
  std::uint64_t seed_hash = fnv1a(options.models[out.model_index].id);
  if (auto seed = body.find("seed"); seed != body.end() && seed->is_number_integer()) {
    seed_hash = splitmix64(seed_hash ^ seed->get<std::uint64_t>());
  }
  if (endpoint == Endpoint::kChat) {
    out.prompts.resize(1);
    if (auto e = parse_chat_messages(*prompt, seed_hash, out.prompts[0])) return e;
  } else if (auto e = parse_prompt_list(*prompt, prompt_field, seed_hash, out.prompts)) {
    return e;
  }
  // Completions default to 16 tokens (vLLM's CompletionRequest default), checked like a given value.
  if (endpoint == Endpoint::kCompletion && !has_max) {
    max_tokens = 16;
    has_max = true;
  }
  out.prompt_tokens_total = 0;
  for (const PromptInput& p : out.prompts) {
    out.prompt_tokens_total += p.tokens;
    if (endpoint == Endpoint::kEmbedding) {
      if (p.tokens > options.max_model_len) {
        return bad_request("This model's maximum context length is " +
                           std::to_string(options.max_model_len) + " tokens. However, you requested " +
                           std::to_string(p.tokens) +
                           " tokens in the input for embedding generation. Please reduce the "
                           "length of the input.");
      }
    } else if (auto e = check_context(p.tokens, max_tokens, has_max, options.max_model_len)) {
      return e;
    }
  }
  if (endpoint == Endpoint::kEmbedding) return std::nullopt;
  // Chat without a limit may use the rest of the context, like vLLM's get_max_tokens.
  if (!has_max) max_tokens = options.max_model_len - out.prompts[0].tokens;
  out.max_tokens = static_cast<std::uint32_t>(max_tokens);
  return std::nullopt;
}

}  // namespace cic::node_sim
