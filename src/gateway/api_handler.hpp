#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "cic/auth/key_cache.hpp"
#include "cic/auth/key_hasher.hpp"
#include "cic/auth/last_used_tracker.hpp"
#include "cic/billing/usage_sink.hpp"
#include "cic/common/api_error.hpp"
#include "cic/common/clock.hpp"
#include "cic/config/config.hpp"
#include "cic/limits/limiter.hpp"
#include "cic/router/router.hpp"
#include "cic/store/store.hpp"
#include "cic/telemetry/metrics.hpp"
#include "client_channel.hpp"
#include "cic/registry/health_policy.hpp"
#include "openai_request.hpp"
#include "retry_budget.hpp"
#include "upstream_pool.hpp"

namespace cic::gateway {

/// What the client API needs; all owned elsewhere (by App) and outliving the handler.
struct ApiDeps {
  const config::Config& config;
  const Clock& clock;
  net::thread_pool& blocking;
  store::Store& store;
  const auth::KeyHasher& hasher;
  auth::KeyCache& key_cache;
  auth::LastUsedTracker& last_used;
  const router::Router& router;
  UpstreamPool& upstream;
  billing::UsageSink& usage;
  telemetry::Metrics& metrics;
  limits::Limiter& limiter;
  registry::HealthPolicy& health;  // passive health: every attempt's outcome
  std::function<bool()> ready;  // /readyz: serving and not draining
};

/// Per-request bookkeeping shared by the steps of one client API request.
struct RequestState {
  std::string request_id;         // ours; keys the usage record
  std::string client_request_id;  // the client's x-request-id, echoed as x-client-request-id
  std::string route = "other";  // metrics label
  std::chrono::steady_clock::time_point started;
  int status = 0;
  limits::RateHeaders rate_headers;  // x-ratelimit-* for every response once admitted or refused
  std::string reservation;           // held against the limits; settled once when the request ends
  limits::Usage actual;              // what the node reported, for the settlement
};

/// OpenAI's duration format for x-ratelimit-reset-*: "20ms", "1s", "6m0s".
std::string format_reset(std::chrono::milliseconds reset);

/// x-request-id (and x-client-request-id when the client sent one) on a response head.
template <class Fields>
void set_id_headers(Fields& fields, const RequestState& state) {
  fields.set("x-request-id", state.request_id);
  if (!state.client_request_id.empty()) fields.set("x-client-request-id", state.client_request_id);
  const limits::RateHeaders& rate = state.rate_headers;
  if (rate.present) {
    fields.set("x-ratelimit-limit-requests", std::to_string(rate.limit_requests));
    fields.set("x-ratelimit-remaining-requests", std::to_string(rate.remaining_requests));
    fields.set("x-ratelimit-reset-requests", format_reset(rate.reset_requests));
    fields.set("x-ratelimit-limit-tokens", std::to_string(rate.limit_tokens));
    fields.set("x-ratelimit-remaining-tokens", std::to_string(rate.remaining_tokens));
    fields.set("x-ratelimit-reset-tokens", format_reset(rate.reset_tokens));
  }
}

/// The OpenAI-compatible client API: /v1/... and /{org}/{env}/{model}/v1/...
class ApiHandler final : public RequestHandler {
 public:
  explicit ApiHandler(ApiDeps deps);

  net::awaitable<void> handle(Request& request, ClientChannel& channel) override;

  /// Cuts off every request of the CALLING THREAD's io_context that is talking to `node_id` (its
  /// eviction deadline passed): streams end with an error event, requests that had no answer yet
  /// are retried elsewhere. Run it on every loop thread. Returns how many were cut.
  static std::size_t abort_node_on_this_thread(const std::string& node_id);
  net::awaitable<void> reject(int status, ClientChannel& channel, std::string_view detail) override;

 private:
  using Identity = std::shared_ptr<const auth::KeyIdentity>;

  net::awaitable<void> dispatch(Request& request, ClientChannel& channel, RequestState& state);
  net::awaitable<std::variant<Identity, ApiError>> authenticate(const Request& request);
  net::awaitable<void> list_models(const auth::KeyIdentity& identity, std::string_view model_id,
                                   ClientChannel& channel, RequestState& state);
  std::optional<ApiError> check_model(const auth::KeyIdentity& identity, const OpenAiRequest& request) const;
  net::awaitable<std::optional<ApiError>> admit(const auth::KeyIdentity& identity, const OpenAiRequest& request,
                                                RequestState& state);

  // forwarder.cpp
  struct Attempt;
  net::awaitable<void> forward(const OpenAiRequest& request, const auth::KeyIdentity& identity,
                               ClientChannel& channel, RequestState& state);
  net::awaitable<Attempt> try_node(const OpenAiRequest& request, const auth::KeyIdentity& identity,
                                   const registry::Node& node, const std::string& region, ClientChannel& channel,
                                   RequestState& state);
  /// Hands `usage` to the meter and resumes (on this connection's executor) once it is durable in
  /// the usage log; a record the meter refused (log full) is logged as unbilled. forwarder.cpp.
  net::awaitable<void> record_usage_durably(store::UsageRecord usage);

  net::awaitable<void> send_error(ClientChannel& channel, RequestState& state, const ApiError& error);
  net::awaitable<void> send_json(ClientChannel& channel, RequestState& state, int status, std::string body);
  void finish(RequestState& state);

  ApiDeps deps_;
  RetryBudget retry_budget_;
};

}  // namespace cic::gateway
