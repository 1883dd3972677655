#pragma once
#include <string>
#include <string_view>

#include "cic/common/percent_decode.hpp"
#include "openai_request.hpp"

namespace cic::gateway {

/// A client API path, split into what it addresses. Pure; no I/O.
///   /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /v1/models/{id}
///   /{org}/{env}/{model}/v1/<the same>   (model ids may contain '/')
///   /healthz, /readyz
struct ParsedPath {
  enum class Kind { kUnknown, kHealth, kReady, kInference, kModels };
  Kind kind = Kind::kUnknown;
  Endpoint endpoint = Endpoint::kChatCompletions;  // for kInference
  bool scoped = false;
  std::string org;
  std::string environment;
  std::string model;     // from the scoped path
  std::string model_id;  // /v1/models/{id}
  std::string_view target;

  /// Bounded label for metrics: "chat.completions", "completions", "embeddings", "models".
  const char* route_label() const;
};

ParsedPath parse_api_path(std::string_view target);


}  // namespace cic::gateway
