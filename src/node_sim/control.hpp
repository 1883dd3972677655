#pragma once
// Routing and every endpoint that answers at once without generating: /health, /version,
// /v1/models, /metrics and the simulator's own /sim/* control plane. Asio-free.

#include <string>
#include <string_view>

#include "node_sim/request_parse.hpp"
#include "node_sim/sim_state.hpp"

namespace cic::node_sim {

enum class Route : std::uint8_t {
  kChat, kCompletion, kEmbedding,  // generation: handled by the session
  kModels, kHealth, kVersion, kMetrics, kSimStats, kSimRequest, kSimConfig,
  kNotFound
};

/// Maps a request target (query string ignored) to a route.
Route classify(std::string_view target);

bool is_generation(Route route);
Endpoint endpoint_of(Route route);

/// The method a route accepts.
std::string_view route_method(Route route);

struct SimpleResponse {
  unsigned status = 200;
  std::string_view content_type = "application/json";
  // The body is appended to the caller's buffer.
};

/// Answers a non-generation route whose method already matched; appends the body to `body`.
SimpleResponse handle_simple(SimContext& ctx, Route route, std::string_view target,
                             std::string_view request_body, std::string& body);

/// Answers a wrong method or unknown path the way vLLM's HTTPException handler does.
SimpleResponse handle_http_error(unsigned status, std::string& body);

/// vLLM's check on POST bodies: the media type must be application/json (params ignored).
bool is_json_media_type(std::string_view content_type);

}  // namespace cic::node_sim
