#include "node_sim/control.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

#include "node_sim/http_text.hpp"
#include "node_sim/json_text.hpp"
#include "node_sim/responses.hpp"

namespace cic::node_sim {
namespace {

constexpr std::string_view kVllmVersion = "0.10.1";
constexpr std::string_view kSimRequestsPrefix = "/sim/requests/";

void append_stats(const SimContext& ctx, std::string& body) {
  const SimCounters& c = ctx.counters;
  body.append("{\"requests_total\":");
  append_uint(body, c.requests_total.load());
  body.append(",\"requests_active\":");
  append_int(body, c.requests_active.load());
  body.append(",\"requests_aborted\":");
  append_uint(body, c.requests_aborted.load());
  body.append(",\"requests_failed\":");
  append_uint(body, c.requests_failed.load());
  body.append(",\"completion_tokens_total\":");
  append_uint(body, c.completion_tokens_total.load());
  body.append(",\"prompt_tokens_total\":");
  append_uint(body, c.prompt_tokens_total.load());
  body.append(",\"emitted_tokens_total\":");
  append_uint(body, ctx.emitted_tokens.load());
  body.push_back('}');
}

SimpleResponse request_record(const SimContext& ctx, std::string_view id, std::string& body) {
  auto record = ctx.registry.find(id);
  if (!record) {
    append_error_json(body, http_exception(404, "No request with id `" + std::string(id) +
                                                     "` is known to this node."));
    return {404};
  }
  body.append("{\"request_id\":");
  append_json_string(body, record->id);
  body.append(",\"prompt_tokens\":");
  append_uint(body, record->prompt_tokens.load());
  body.append(",\"completion_tokens\":");
  append_uint(body, record->completion_tokens.load());
  body.append(",\"status\":");
  append_uint(body, record->status.load());
  body.append(record->finished.load() ? ",\"finished\":true" : ",\"finished\":false");
  body.append(record->aborted.load() ? ",\"aborted\":true}" : ",\"aborted\":false}");
  return {200};
}

void append_settings(const SimContext& ctx, std::string& body) {
  nlohmann::json settings = {
      {"ttft_ms", ctx.settings.ttft_ms.load()},
      {"inter_token_ms", ctx.settings.inter_token_ms.load()},
      {"error_rate", ctx.settings.error_rate.load()},
      {"hang", ctx.settings.hang.load()},
      {"max_concurrency", ctx.gate.limit()},
  };
  body.append(settings.dump());
}

// Validates the whole object before applying anything, so a bad field changes nothing.
SimpleResponse update_config(SimContext& ctx, std::string_view request_body, std::string& body) {
  nlohmann::json config = nlohmann::json::parse(request_body, nullptr, false);
  auto reject = [&](std::string message) {
    append_error_json(body, bad_request(std::move(message)));
    return SimpleResponse{400};
  };
  if (!config.is_object()) return reject("POST /sim/config expects a JSON object");
  for (const auto& [key, value] : config.items()) {
    bool is_count = value.is_number_unsigned() && value.get<std::uint64_t>() <= 0xffffffffULL;
    if (key == "ttft_ms" || key == "inter_token_ms" || key == "max_concurrency") {
      if (!is_count) return reject(key + " must be a non-negative integer");
    } else if (key == "error_rate") {
      if (!value.is_number() || value.get<double>() < 0.0 || value.get<double>() > 1.0) {
        return reject("error_rate must be a number in [0, 1]");
      }
    } else if (key == "hang") {
      if (!value.is_boolean()) return reject("hang must be a boolean");
    } else {
      return reject("unknown setting `" + key + "`");
    }
  }
  if (config.contains("ttft_ms")) ctx.settings.ttft_ms = config["ttft_ms"].get<std::uint32_t>();
  if (config.contains("inter_token_ms")) {
    ctx.settings.inter_token_ms = config["inter_token_ms"].get<std::uint32_t>();
  }
  if (config.contains("error_rate")) ctx.settings.error_rate = config["error_rate"].get<double>();
  if (config.contains("hang")) ctx.settings.hang = config["hang"].get<bool>();
  if (config.contains("max_concurrency")) {
    ctx.gate.set_limit(config["max_concurrency"].get<std::uint32_t>());
  }
  append_settings(ctx, body);
  return {200};
}

}  // namespace

Route classify(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/v1/chat/completions") return Route::kChat;
  if (path == "/v1/completions") return Route::kCompletion;
  if (path == "/v1/embeddings") return Route::kEmbedding;
  if (path == "/v1/models") return Route::kModels;
  if (path == "/health") return Route::kHealth;
  if (path == "/version") return Route::kVersion;
  if (path == "/metrics" || path == "/metrics/") return Route::kMetrics;
  if (path == "/sim/stats") return Route::kSimStats;
  if (path == "/sim/config") return Route::kSimConfig;
  if (path.size() > kSimRequestsPrefix.size() && path.starts_with(kSimRequestsPrefix)) {
    return Route::kSimRequest;
  }
  return Route::kNotFound;
}

bool is_generation(Route route) {
  return route == Route::kChat || route == Route::kCompletion || route == Route::kEmbedding;
}

Endpoint endpoint_of(Route route) {
  return route == Route::kChat         ? Endpoint::kChat
         : route == Route::kCompletion ? Endpoint::kCompletion
                                       : Endpoint::kEmbedding;
}

std::string_view route_method(Route route) {
  return is_generation(route) || route == Route::kSimConfig ? "POST" : "GET";
}

SimpleResponse handle_simple(SimContext& ctx, Route route, std::string_view target,
                             std::string_view request_body, std::string& body) {
  switch (route) {
    case Route::kHealth: return {200, {}};
    case Route::kVersion:
      body.append("{\"version\":\"");
      body.append(kVllmVersion);
      body.append("\"}");
      return {200};
    case Route::kModels: append_model_list(body, ctx.options, std::time(nullptr)); return {200};
    case Route::kMetrics:
      ctx.metrics.render(body, ctx.gate.limit());
      return {200, "text/plain; version=0.0.4; charset=utf-8"};
    case Route::kSimStats: append_stats(ctx, body); return {200};
    case Route::kSimRequest: {
      std::string_view path = target.substr(0, target.find('?'));
      return request_record(ctx, path.substr(kSimRequestsPrefix.size()), body);
    }
    case Route::kSimConfig: return update_config(ctx, request_body, body);
    default: return handle_http_error(404, body);
  }
}

SimpleResponse handle_http_error(unsigned status, std::string& body) {
  append_error_json(body, http_exception(status, std::string(status_reason(status))));
  return {status};
}

bool is_json_media_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  while (!media.empty() && media.front() == ' ') media.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (media.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < kJson.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

}  // namespace cic::node_sim
