#include "api_handler.hpp"

#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include "cic/auth/api_key.hpp"
#include "cic/auth/key_resolver.hpp"
#include "cic/common/ids.hpp"
#include "path.hpp"

namespace cic::gateway {
namespace {

nlohmann::json card(const config::ModelConfig& m) {
  return nlohmann::json{{"id", m.id},         {"object", "model"},
                        {"created", 1700000000}, {"owned_by", "crosslogic"},
                        {"kind", config::to_string(m.kind)}, {"context_length", m.context_length}};
}

std::string models_list_json(const auth::KeyIdentity& identity, const config::Config& config) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& id : identity.models) {
    if (const config::ModelConfig* model = config.find_model(id)) data.push_back(card(*model));
  }
  return nlohmann::json{{"object", "list"}, {"data", std::move(data)}}.dump();
}

}  // namespace

ApiHandler::ApiHandler(ApiDeps deps)
    : deps_(deps), retry_budget_(deps.config.routing.retry_budget_ratio, deps.config.routing.min_retry_concurrency) {}

void ApiHandler::finish(RequestState& state) {
  deps_.metrics.requests(state.route, state.status).Increment();
  deps_.metrics.request_duration(state.route)
      .Observe(std::chrono::duration<double>(deps_.clock.now() - state.started).count());
}

net::awaitable<void> ApiHandler::send_json(ClientChannel& channel, RequestState& state, int status, std::string body) {
  Response response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, "application/json");
  set_id_headers(response, state);
  response.body() = std::move(body);
  state.status = status;
  co_await channel.send(response);
}

net::awaitable<void> ApiHandler::send_error(ClientChannel& channel, RequestState& state, const ApiError& error) {
  Response response{static_cast<http::status>(error.status), 11};
  response.set(http::field::content_type, "application/json");
  set_id_headers(response, state);
  if (error.retry_after_s > 0) response.set(http::field::retry_after, std::to_string(error.retry_after_s));
  response.body() = error.to_json();
  state.status = error.status;
  co_await channel.send(response);
}

net::awaitable<void> ApiHandler::reject(int status, ClientChannel& channel, std::string_view detail) {
  RequestState state;
  state.request_id = new_request_id();
  state.route = "rejected";
  state.started = deps_.clock.now();
  state.status = status;
  ApiError error;
  switch (status) {
    case 413: error = ApiError::payload_too_large(deps_.config.server.limits.max_body_bytes); break;
    case 431:
      error = {431, "invalid_request_error", "request_header_fields_too_large", "",
               "The request headers exceed the limit of " + std::to_string(deps_.config.server.limits.max_header_bytes) + " bytes."};
      break;
    case 408: error = {408, "invalid_request_error", "request_timeout", "", "The request was not received in time."}; break;
    default: error = ApiError::invalid_request("", "Malformed HTTP request: " + std::string(detail), "bad_request");
  }
  channel.set_keep_alive(false);
  co_await send_error(channel, state, error);
  finish(state);
}

net::awaitable<void> ApiHandler::handle(Request& request, ClientChannel& channel) {
  RequestState state;
  state.started = deps_.clock.now();
  // Our own id always: it keys the usage record, so a client must not be able to choose it (two
  // clients sending the same id would otherwise lose a billing record). A sane client id is
  // echoed separately for its own tracing.
  state.request_id = new_request_id();
  if (auto incoming = request["x-request-id"]; is_acceptable_request_id(incoming)) state.client_request_id = incoming;
  bool failed = false;
  try {
    co_await dispatch(request, channel, state);
  } catch (const std::exception& e) {
    // Last line of defence: a bug must cost one request, never the daemon.
    spdlog::error("request {} failed: {}", state.request_id, e.what());
    failed = true;
  }
  if (failed) {
    channel.set_keep_alive(false);
    if (state.status == 0) {
      co_await send_error(channel, state, ApiError::internal("Internal error; request id " + state.request_id));
    }
  }
  // Exactly one settlement per admitted request, whatever happened: what the node reported, or
  // nothing when the request never reached one.
  if (!state.reservation.empty()) deps_.limiter.settle(state.reservation, state.actual);
  finish(state);
}

net::awaitable<void> ApiHandler::dispatch(Request& request, ClientChannel& channel, RequestState& state) {
  ParsedPath path = parse_api_path(request.target());
  if (path.kind == ParsedPath::Kind::kHealth || path.kind == ParsedPath::Kind::kReady) {
    state.route = path.route_label();
    bool ok = path.kind == ParsedPath::Kind::kHealth || (deps_.ready && deps_.ready());
    co_await send_json(channel, state, ok ? 200 : 503, ok ? R"({"status":"ok"})" : R"({"status":"not ready"})");
    co_return;
  }
  if (path.kind == ParsedPath::Kind::kUnknown) {
    co_await send_error(channel, state, ApiError::not_found("Unknown path: " + std::string(path.target) + "."));
    co_return;
  }
  state.route = path.route_label();
  const bool is_models = path.kind == ParsedPath::Kind::kModels;
  if (request.method() != (is_models ? http::verb::get : http::verb::post)) {
    co_await send_error(channel, state, ApiError::method_not_allowed(std::string(request.method_string())));
    co_return;
  }

  auto auth = co_await authenticate(request);
  if (auto* error = std::get_if<ApiError>(&auth)) {
    co_await send_error(channel, state, *error);
    co_return;
  }
  const auth::KeyIdentity& identity = *std::get<Identity>(auth);
  if (path.scoped) {
    if (path.org != identity.org_name && path.org != identity.org_id) {
      co_await send_error(channel, state, ApiError::permission_denied("This API key does not belong to organization '" + path.org + "'.", "wrong_organization"));
      co_return;
    }
    if (path.environment != identity.environment_name && path.environment != identity.environment_id) {
      co_await send_error(channel, state, ApiError::permission_denied("This API key does not belong to environment '" + path.environment + "'.", "wrong_environment"));
      co_return;
    }
  }
  if (is_models) {
    co_await list_models(identity, path.model_id.empty() ? std::string_view(path.model) : std::string_view(path.model_id), channel, state);
    co_return;
  }

  auto content_type = request[http::field::content_type];
  if (!content_type.empty() && !beast::iequals(content_type.substr(0, content_type.find(';')), "application/json")) {
    co_await send_error(channel, state, ApiError::unsupported_media_type());
    co_return;
  }
  auto parsed = parse_openai_request(path.endpoint, request.body(), path.model);
  if (auto* error = std::get_if<ApiError>(&parsed)) {
    co_await send_error(channel, state, *error);
    co_return;
  }
  const OpenAiRequest& api_request = std::get<OpenAiRequest>(parsed);
  if (auto error = check_model(identity, api_request)) {
    co_await send_error(channel, state, *error);
    co_return;
  }
  if (auto error = co_await admit(identity, api_request, state)) {
    co_await send_error(channel, state, *error);
    co_return;
  }
  co_await forward(api_request, identity, channel, state);
}

net::awaitable<std::variant<ApiHandler::Identity, ApiError>> ApiHandler::authenticate(const Request& request) {
  std::string_view header = request[http::field::authorization];
  if (header.empty()) co_return ApiError::missing_api_key();
  if (header.size() < 7 || !beast::iequals(header.substr(0, 7), "bearer ")) co_return ApiError::invalid_api_key();
  std::string_view token = header.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  // Shape and checksum first: typos and scanners never reach the cache or the store.
  if (!auth::has_valid_api_key_shape(token)) co_return ApiError::invalid_api_key();

  std::string hash = deps_.hasher.hash(token);
  auto cached = deps_.key_cache.get(hash);
  Identity identity = cached.identity;
  bool cached_from_stale = false;
  if (cached.state == auth::KeyCache::State::kMiss) {
    std::int64_t now_ms = deps_.clock.unix_millis();
    const std::uint64_t generation = deps_.key_cache.generation();
    try {
      identity = co_await run_blocking(deps_.blocking, [this, &hash, now_ms] {
        return auth::blocking_resolve_key(deps_.store, hash, now_ms, deps_.config);
      });
    } catch (const std::exception& e) {
      // The store is down: a key we knew to be valid keeps working (stale-if-error); anything
      // else cannot be checked now.
      identity = deps_.key_cache.get_stale(hash, deps_.config.auth.stale_if_error);
      if (!identity) {
        spdlog::error("key lookup failed: {}", e.what());
        ApiError error{503, "server_error", "auth_unavailable", "", "Authentication is temporarily unavailable. Please retry."};
        error.retry_after_s = 1;
        co_return error;
      }
      spdlog::debug("key lookup failed ({}); serving key {} from the cache past its TTL", e.what(), identity->key_id);
      cached_from_stale = true;  // left as it is: the next request asks the store again
    }
    if (!cached_from_stale) {
      // Not cached if an invalidation (revocation, rotation, environment change) happened while
      // the store was being asked: the answer may predate it.
      if (identity) {
        deps_.key_cache.put_valid(identity, generation);
      } else {
        deps_.key_cache.put_invalid(hash, generation);
      }
    }
  }
  if (!identity) co_return ApiError::invalid_api_key();
  std::int64_t now_ms = deps_.clock.unix_millis();
  if (identity->expired(now_ms)) {
    co_return ApiError{401, "invalid_request_error", "expired_api_key", "", "The API key provided has expired."};
  }
  deps_.last_used.record(identity->key_id, now_ms);
  co_return identity;
}

std::optional<ApiError> ApiHandler::check_model(const auth::KeyIdentity& identity, const OpenAiRequest& request) const {
  const config::ModelConfig* model = deps_.config.find_model(request.model);
  if (!model) return ApiError::model_not_found(request.model);
  if (!identity.model_enabled(request.model)) {
    ApiError error = ApiError::permission_denied(
        "The model `" + request.model + "` is not enabled for environment '" + identity.environment_name + "'.",
        "model_not_enabled");
    error.param = "model";
    return error;
  }
  using Kind = config::ModelConfig::Kind;
  bool fits = request.endpoint == Endpoint::kEmbeddings ? model->kind == Kind::kEmbedding : model->kind != Kind::kEmbedding;
  if (request.endpoint == Endpoint::kChatCompletions && model->kind == Kind::kCompletion) fits = false;
  if (!fits) {
    return ApiError::invalid_request("model", "The model `" + request.model + "` (" + config::to_string(model->kind) +
                                                  ") does not support /v1/" +
                                                  (request.endpoint == Endpoint::kChatCompletions ? "chat/completions"
                                                   : request.endpoint == Endpoint::kCompletions   ? "completions"
                                                                                                  : "embeddings") +
                                                  ".",
                                     "model_not_supported");
  }
  return std::nullopt;
}

net::awaitable<void> ApiHandler::list_models(const auth::KeyIdentity& identity, std::string_view model_id,
                                             ClientChannel& channel, RequestState& state) {
  if (!model_id.empty()) {
    std::string id(model_id);
    const config::ModelConfig* model = deps_.config.find_model(id);
    if (!model || !identity.model_enabled(id)) {
      co_await send_error(channel, state, ApiError::model_not_found(id));
      co_return;
    }
    std::string body = card(*model).dump();
    co_await send_json(channel, state, 200, std::move(body));
    co_return;
  }
  // Built outside the co_await: GCC 12 mishandles braced initializers inside await expressions.
  std::string body = models_list_json(identity, deps_.config);
  co_await send_json(channel, state, 200, std::move(body));
}

}  // namespace cic::gateway
