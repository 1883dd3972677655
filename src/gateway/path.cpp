#include "path.hpp"

namespace cic::gateway {
namespace {

// The part after "/v1/": which endpoint, or a model card.
bool parse_v1_tail(std::string_view tail, ParsedPath& out) {
  if (tail == "chat/completions") {
    out.kind = ParsedPath::Kind::kInference;
    out.endpoint = Endpoint::kChatCompletions;
  } else if (tail == "completions") {
    out.kind = ParsedPath::Kind::kInference;
    out.endpoint = Endpoint::kCompletions;
  } else if (tail == "embeddings") {
    out.kind = ParsedPath::Kind::kInference;
    out.endpoint = Endpoint::kEmbeddings;
  } else if (tail == "models") {
    out.kind = ParsedPath::Kind::kModels;
  } else if (tail.starts_with("models/") && tail.size() > 7) {
    if (!percent_decode(tail.substr(7), out.model_id)) return false;
    out.kind = ParsedPath::Kind::kModels;
  } else {
    return false;
  }
  return true;
}

}  // namespace

const char* ParsedPath::route_label() const {
  switch (kind) {
    case Kind::kInference: return to_string(endpoint);
    case Kind::kModels: return "models";
    case Kind::kHealth: return "health";
    case Kind::kReady: return "ready";
    case Kind::kUnknown: break;
  }
  return "other";
}

ParsedPath parse_api_path(std::string_view target) {
  ParsedPath out;
  std::string_view path = target.substr(0, target.find('?'));
  out.target = path;
  if (path == "/healthz") {
    out.kind = ParsedPath::Kind::kHealth;
    return out;
  }
  if (path == "/readyz") {
    out.kind = ParsedPath::Kind::kReady;
    return out;
  }
  if (path.starts_with("/v1/")) {
    if (!parse_v1_tail(path.substr(4), out)) out.kind = ParsedPath::Kind::kUnknown;
    return out;
  }
  // /{org}/{env}/{model...}/v1/{tail}
  if (path.size() < 2 || path[0] != '/') return out;
  std::size_t org_end = path.find('/', 1);
  if (org_end == std::string_view::npos) return out;
  std::size_t env_end = path.find('/', org_end + 1);
  if (env_end == std::string_view::npos) return out;
  std::size_t v1 = path.rfind("/v1/");
  if (v1 == std::string_view::npos || v1 <= env_end + 1) return out;
  ParsedPath scoped;
  scoped.target = path;
  scoped.scoped = true;
  if (!percent_decode(path.substr(1, org_end - 1), scoped.org) ||
      !percent_decode(path.substr(org_end + 1, env_end - org_end - 1), scoped.environment) ||
      !percent_decode(path.substr(env_end + 1, v1 - env_end - 1), scoped.model) || scoped.org.empty() ||
      scoped.environment.empty() || scoped.model.empty()) {
    return out;
  }
  if (!parse_v1_tail(path.substr(v1 + 4), scoped)) return out;
  return scoped;
}

}  // namespace cic::gateway
