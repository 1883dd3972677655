// The Asio-free part of the health module: readiness requests and answers, names.
#include <nlohmann/json.hpp>

#include "cic/health/health_monitor.hpp"

namespace cic::health {

const char* to_string(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kLiveness: return "liveness";
    case ProbeKind::kReadiness: return "readiness";
    case ProbeKind::kMetrics: return "metrics";
  }
  return "unknown";
}

std::pair<std::string, std::string> readiness_request(std::string_view model, std::string_view kind) {
  // nlohmann escapes the model id, so any id the catalog accepts yields valid JSON.
  nlohmann::json body{{"model", std::string(model)}};
  if (kind == "chat") {
    body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", "ping"}}});
    body["max_tokens"] = 1;
    return {"/v1/chat/completions", body.dump()};
  }
  if (kind == "completion") {
    body["prompt"] = "ping";
    body["max_tokens"] = 1;
    return {"/v1/completions", body.dump()};
  }
  if (kind == "embedding") {
    body["input"] = "ping";
    return {"/v1/embeddings", body.dump()};
  }
  return {};
}

bool readiness_answer_ok(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return false;
  auto non_empty_array = [&doc](const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_array() && !it->empty();
  };
  return non_empty_array("choices") || non_empty_array("data");
}

}  // namespace cic::health
