// Forwarding a validated request to a node: failover before the first byte, then either a whole
// JSON answer or an SSE stream relayed chunk by chunk, and one usage record at the end. The record
// is durable in the usage log before the client can see its response complete (docs/billing.md).
#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <random>

#include "api_handler.hpp"
#include "cic/billing/pricing.hpp"
#include "disconnect_watch.hpp"
#include "sse_filter.hpp"

namespace cic::gateway {
namespace {

constexpr auto kEjectAfterConnectFailure = std::chrono::seconds(2);
constexpr auto kDrainAfterClientLeft = std::chrono::seconds(2);

struct InFlight {
  explicit InFlight(registry::NodeLoad& load) : load_(load) {
    load_.in_flight.fetch_add(1, std::memory_order_relaxed);
    load_.requests.fetch_add(1, std::memory_order_relaxed);
  }
  ~InFlight() { load_.in_flight.fetch_sub(1, std::memory_order_relaxed); }
  registry::NodeLoad& load_;
};

bool is_timeout(const beast::error_code& ec) { return ec == beast::error::timeout; }

/// A connection to a node in use by a request of this thread, so an eviction can cut it off.
/// Each io_context is run by one thread and a request never changes threads, so a thread-local
/// list needs no lock.
struct ActiveUpstream {
  const std::string* node_id;
  std::unique_ptr<beast::tcp_stream>* conn;
  bool aborted = false;
};
thread_local std::vector<ActiveUpstream*> t_active_upstreams;

class ActiveUpstreamScope {
 public:
  ActiveUpstreamScope(const registry::Node& node, std::unique_ptr<beast::tcp_stream>& conn) : entry_{&node.id, &conn} {
    t_active_upstreams.push_back(&entry_);
  }
  ~ActiveUpstreamScope() {
    auto& list = t_active_upstreams;
    for (auto& p : list) {
      if (p == &entry_) {
        p = list.back();
        list.pop_back();
        break;
      }
    }
  }
  bool aborted() const { return entry_.aborted; }

 private:
  ActiveUpstream entry_;
};

std::uint64_t random_u64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// A node's error body in OpenAI's shape whatever vLLM version sent it (older ones answer a flat
// {"object":"error","message",...}).
std::string normalize_node_error(int status, const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  ApiError error{status, status >= 500 ? "server_error" : "invalid_request_error", "", "", "The model node rejected the request."};
  if (doc.is_object()) {
    const nlohmann::json& e = doc.contains("error") && doc["error"].is_object() ? doc["error"] : doc;
    if (e.contains("message") && e["message"].is_string()) error.message = e["message"].get<std::string>();
    if (e.contains("param") && e["param"].is_string()) error.param = e["param"].get<std::string>();
    if (e.contains("code") && e["code"].is_string()) error.code = e["code"].get<std::string>();
  }
  return error.to_json();
}

std::string node_message(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object()) {
    const nlohmann::json& e = doc.contains("error") && doc["error"].is_object() ? doc["error"] : doc;
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  return "no details";
}

}  // namespace

std::size_t ApiHandler::abort_node_on_this_thread(const std::string& node_id) {
  std::size_t cut = 0;
  for (ActiveUpstream* active : t_active_upstreams) {
    if (*active->node_id != node_id || active->aborted || !*active->conn) continue;
    active->aborted = true;
    beast::error_code ignored;
    (*active->conn)->socket().shutdown(tcp::socket::shutdown_both, ignored);
    (*active->conn)->socket().close(ignored);
    ++cut;
  }
  return cut;
}

struct ApiHandler::Attempt {
  /// How the node did, for passive health: kNeutral when the attempt says nothing about it (the
  /// client left, or the node was cut off on purpose).
  enum class Verdict { kOk, kFailed, kTimeout, kNeutral };

  bool done = false;       // the client got its answer (success or a final error)
  bool retryable = false;  // nothing reached the client; another node may try
  ApiError error;
  Verdict verdict = Verdict::kOk;
  std::uint64_t tokens = 0;  // completion tokens, for the node's tokens/s

  static Attempt answered(Verdict verdict = Verdict::kOk, std::uint64_t tokens = 0) {
    return Attempt{true, false, {}, verdict, tokens};
  }
  static Attempt failed(bool retryable, ApiError error, Verdict verdict = Verdict::kFailed) {
    return Attempt{false, retryable, std::move(error), verdict, 0};
  }
};

net::awaitable<void> ApiHandler::forward(const OpenAiRequest& request, const auth::KeyIdentity& identity,
                                         ClientChannel& channel, RequestState& state) {
  const auto& routing = deps_.config.routing;
  router::RouteRequest route{request.model, identity.region, identity.strict_residency, {}, {request.user}};
  RetryBudget::Active active(retry_budget_);
  std::optional<RetryBudget::Retry> retry;
  std::optional<ApiError> last_error;
  // At most two retries, whatever upstream.max_attempts says.
  const unsigned attempts = std::clamp(deps_.config.upstream.max_attempts, 1u, 3u);
  for (unsigned attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0) {
      retry.reset();
      retry.emplace(retry_budget_);
      if (!retry->granted()) {
        deps_.metrics.retries("budget_exhausted").Increment();
        spdlog::warn("request {}: retry budget exhausted ({} retries in progress); not retrying", state.request_id,
                     retry_budget_.retries());
        break;
      }
      deps_.metrics.retries("retried").Increment();
      auto pause = retry_backoff(attempt, routing.retry_backoff_base, routing.retry_backoff_max, random_u64());
      if (pause.count() > 0) {
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(pause);
        co_await timer.async_wait(use_nothrow);
      }
    }
    auto decision = deps_.router.route(route);
    if (!decision.node) {
      if (!last_error) {
        last_error = ApiError::no_capacity(request.model, identity.region);
        last_error->retry_after_s =
            static_cast<int>((routing.no_capacity_retry_after.count() + 999) / 1000);
      }
      break;
    }
    if (decision.region != identity.region) deps_.metrics.region_fallbacks(identity.region, decision.region).Increment();
    const registry::Node& node = *decision.node;
    InFlight in_flight(*node.load);
    const auto started = deps_.clock.now();
    Attempt result = co_await try_node(request, identity, node, decision.region, channel, state);
    const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(deps_.clock.now() - started);
    deps_.metrics.upstream_duration(node.id, decision.region).Observe(std::chrono::duration<double>(latency).count());
    switch (result.verdict) {
      case Attempt::Verdict::kOk: deps_.health.record_success(node, latency, result.tokens); break;
      case Attempt::Verdict::kFailed:
      case Attempt::Verdict::kTimeout: {
        const auto& pool = decision.snapshot->pool(decision.region, request.model);
        if (deps_.health.record_failure(node, result.verdict == Attempt::Verdict::kTimeout, pool)) {
          spdlog::warn("node {} ejected after repeated failures", node.id);
        }
        break;
      }
      case Attempt::Verdict::kNeutral: break;
    }
    if (result.done) co_return;
    node.load->failures.fetch_add(1, std::memory_order_relaxed);
    last_error = result.error;
    if (!result.retryable) break;
    route.exclude.push_back(node.id);
  }
  co_await send_error(channel, state, *last_error);
}

net::awaitable<ApiHandler::Attempt> ApiHandler::try_node(const OpenAiRequest& request,
                                                         const auth::KeyIdentity& identity,
                                                         const registry::Node& node, const std::string& region,
                                                         ClientChannel& channel, RequestState& state) {
  const auto& cfg = deps_.config.upstream;
  auto& metrics = deps_.metrics;

  // The request head is a handful of fixed lines: written by hand, it costs one string instead of
  // Beast's field container and serializer on every request.
  std::string upstream_head;
  upstream_head.reserve(256);
  upstream_head.append("POST ").append(upstream_path(request.endpoint)).append(" HTTP/1.1\r\nHost: ");
  upstream_head.append(node.address.host).push_back(':');
  upstream_head.append(std::to_string(node.address.port));
  upstream_head.append("\r\nContent-Type: application/json\r\nAccept: ");
  upstream_head.append(request.stream ? "text/event-stream" : "application/json");
  upstream_head.append("\r\nX-Request-Id: ").append(state.request_id);
  upstream_head.append("\r\nContent-Length: ").append(std::to_string(request.upstream_body.size()));
  upstream_head.append("\r\n\r\n");
  std::array<net::const_buffer, 2> upstream_request{net::buffer(upstream_head), net::buffer(request.upstream_body)};

  // Send and read the response head, on a pooled connection first; a pooled connection the node
  // already closed fails before any byte of an answer, so one fresh retry on the same node is safe.
  std::unique_ptr<beast::tcp_stream> conn;
  ActiveUpstreamScope active_upstream(node, conn);
  beast::flat_buffer upstream_buffer;
  upstream_buffer.reserve(8192);  // a typical answer in one read instead of several small ones
  std::optional<http::response_parser<http::empty_body>> head_parser;
  auto sent_at = deps_.clock.now();
  // One watch for the whole exchange with the node. If the client leaves, the upstream connection
  // is half-closed: the node sees end-of-input and aborts (vLLM and cic-node-sim both do), while
  // what it already sent is still read, so the usage billed is exactly what the node generated.
  // A node that ignores the half-close is cut off after kDrainAfterClientLeft.
  net::steady_timer drain_deadline(co_await net::this_coro::executor);
  DisconnectWatch watch(channel.socket(), [&conn, &drain_deadline] {
    if (!conn) return;
    beast::error_code ignored;
    conn->socket().shutdown(tcp::socket::shutdown_send, ignored);
    drain_deadline.expires_after(kDrainAfterClientLeft);
    drain_deadline.async_wait([&conn](beast::error_code ec) {
      if (!ec && conn) conn->close();
    });
  });
  auto client_left = [&](const char* phase) {
    watch.stop();
    spdlog::debug("request {}: client left while node {} was {}", state.request_id, node.id, phase);
    metrics.upstream(node.id, region, "client_gone").Increment();
    channel.set_keep_alive(false);
    state.status = 499;  // nginx's "client closed request", for metrics only
    return Attempt::answered(Attempt::Verdict::kNeutral);
  };
  for (int fresh = 0; fresh < 2; ++fresh) {
    auto [ec, lease] = co_await deps_.upstream.acquire(node, cfg.connect_timeout, fresh == 0);
    if (ec) {
      metrics.upstream(node.id, region, "connect_error").Increment();
      node.load->ejected_until_ns.store(
          (deps_.clock.now() + kEjectAfterConnectFailure).time_since_epoch().count(), std::memory_order_relaxed);
      spdlog::warn("request {}: cannot connect to node {} ({}): {}", state.request_id, node.id, node.endpoint, ec.message());
      co_return Attempt::failed(true, ApiError::upstream_failure("Could not connect to a model node."));
    }
    conn = std::move(lease.stream);
    head_parser.emplace();
    head_parser->header_limit(64 * 1024);
    upstream_buffer.clear();
    sent_at = deps_.clock.now();

    if (watch.gone()) co_return client_left("connecting");
    conn->expires_after(cfg.first_byte_timeout);
    auto [wec, written] = co_await net::async_write(*conn, upstream_request, use_nothrow);
    beast::error_code rec = wec;
    if (!wec) std::tie(rec, std::ignore) = co_await http::async_read_header(*conn, upstream_buffer, *head_parser, use_nothrow);
    if (watch.gone() && rec) co_return client_left("working");
    if (!rec) break;
    if (active_upstream.aborted()) {
      metrics.aborted(node.id, region).Increment();
      co_return Attempt::failed(true, ApiError::upstream_failure("The model node was taken out of service."),
                                Attempt::Verdict::kNeutral);
    }
    if (is_timeout(rec)) {
      // Nothing reached the client yet: another node may answer in time.
      metrics.upstream(node.id, region, "timeout").Increment();
      co_return Attempt::failed(true, ApiError::upstream_timeout(), Attempt::Verdict::kTimeout);
    }
    if (lease.reused && fresh == 0) continue;  // stale keep-alive connection
    metrics.upstream(node.id, region, "io_error").Increment();
    spdlog::warn("request {}: node {} failed: {}", state.request_id, node.id, rec.message());
    co_return Attempt::failed(true, ApiError::upstream_failure("The model node failed to answer."));
  }
  metrics.upstream_ttfb(node.id, region).Observe(std::chrono::duration<double>(deps_.clock.now() - sent_at).count());

  store::UsageRecord usage;
  usage.request_id = state.request_id;
  usage.org_id = identity.org_id;
  usage.environment_id = identity.environment_id;
  usage.api_key_id = identity.key_id;
  usage.model = request.model;
  usage.region = region;
  usage.node_id = node.id;
  usage.endpoint = to_string(request.endpoint);
  usage.streamed = request.stream;
  // Fills in the record (and the limits settlement) from what the node reported. The caller then
  // either waits for it to be durable (record_usage_durably: the client is still there and must
  // not see the end of its response first) or hands it over without waiting (the client left).
  auto finish_usage = [&](const TokenUsage& tokens, bool cancelled, std::chrono::steady_clock::time_point first_token) {
    auto now = deps_.clock.now();
    usage.prompt_tokens = tokens.prompt_tokens;
    usage.completion_tokens = tokens.completion_tokens;
    usage.cached_tokens = tokens.cached_tokens;
    usage.cancelled = cancelled;
    usage.status = state.status;
    usage.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - state.started).count();
    usage.ttft_ms = std::chrono::duration_cast<std::chrono::milliseconds>(first_token - state.started).count();
    usage.created_at = deps_.clock.unix_millis();
    state.actual.tokens = tokens.prompt_tokens + tokens.completion_tokens;
    // Settled at the price of the region that served it (the usage API and the invoice agree).
    state.actual.cost_micros = billing::list_price_micros(*deps_.config.find_model(request.model), usage.region,
                                                          tokens.prompt_tokens, tokens.completion_tokens,
                                                          tokens.cached_tokens);
    if (tokens.prompt_tokens) metrics.tokens(request.model, "prompt").Increment(static_cast<double>(tokens.prompt_tokens));
    if (tokens.completion_tokens) metrics.tokens(request.model, "completion").Increment(static_cast<double>(tokens.completion_tokens));
    return std::move(usage);
  };

  const int status = head_parser->get().result_int();
  const bool is_sse = head_parser->get()[http::field::content_type].starts_with("text/event-stream");

  if (status != 200 || !request.stream || !is_sse) {
    // A whole body: the answer, or the node's error.
    http::response_parser<http::string_body> parser{std::move(*head_parser)};
    parser.body_limit(cfg.max_response_bytes);
    conn->expires_after(cfg.request_timeout);
    auto [ec, n] = co_await http::async_read(*conn, upstream_buffer, parser, use_nothrow);
    if (watch.gone()) {
      // Bill what the node finished before it noticed; nothing goes to the departed client.
      TokenUsage tokens = !ec && status == 200 ? usage_from_response_body(parser.get().body()) : TokenUsage{};
      Attempt left = client_left("answering");
      deps_.usage.record(finish_usage(tokens, true, deps_.clock.now()));
      co_return left;
    }
    watch.stop();
    if (ec) {
      // The whole answer is buffered, so the client has seen nothing yet: retryable.
      if (active_upstream.aborted()) {
        metrics.aborted(node.id, region).Increment();
        co_return Attempt::failed(true, ApiError::upstream_failure("The model node was taken out of service."),
                                  Attempt::Verdict::kNeutral);
      }
      metrics.upstream(node.id, region, is_timeout(ec) ? "timeout" : "io_error").Increment();
      if (is_timeout(ec)) co_return Attempt::failed(true, ApiError::upstream_timeout(), Attempt::Verdict::kTimeout);
      co_return Attempt::failed(true, ApiError::upstream_failure("The model node's answer was cut off."));
    }
    auto& upstream_response = parser.get();
    if (parser.keep_alive()) deps_.upstream.release(node, std::move(conn));
    if (status >= 500) {
      metrics.upstream(node.id, region, "server_error").Increment();
      spdlog::warn("request {}: node {} answered {}: {}", state.request_id, node.id, status, node_message(upstream_response.body()));
      co_return Attempt::failed(true, ApiError::upstream_failure("The model node failed: " + node_message(upstream_response.body())));
    }
    metrics.upstream(node.id, region, status == 200 ? "ok" : "client_error").Increment();
    Response response{static_cast<http::status>(status), 11};
    response.set(http::field::content_type, status == 200 && !upstream_response[http::field::content_type].empty()
                                                  ? upstream_response[http::field::content_type]
                                                  : "application/json");
    set_id_headers(response, state);
    response.body() = status == 200 ? std::move(upstream_response.body()) : normalize_node_error(status, upstream_response.body());
    TokenUsage tokens = status == 200 ? usage_from_response_body(response.body()) : TokenUsage{};
    state.status = status;
    auto answered = deps_.clock.now();
    // Billing: durable before the client has the answer (so not cancelled, whatever the send does).
    co_await record_usage_durably(finish_usage(tokens, false, answered));
    co_await channel.send(response);
    co_return Attempt::answered(Attempt::Verdict::kOk, static_cast<std::uint64_t>(tokens.completion_tokens));
  }

  // SSE: from here on the client has seen bytes; no other node may take over.
  http::response_parser<http::buffer_body> parser{std::move(*head_parser)};
  parser.body_limit(boost::none);
  StreamHead head{http::status::ok, 11};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  set_id_headers(head, state);
  head.set("x-accel-buffering", "no");
  head.chunked(true);
  state.status = 200;
  metrics.upstream(node.id, region, "ok").Increment();

  SseFilter filter(request.client_include_usage, request.client_continuous_usage);
  bool client_ok = !watch.gone() && co_await channel.send_head(head);
  bool upstream_ok = true;
  auto first_token = deps_.clock.now();
  bool seen_token = false;
  bool delivered = false;
  bool billed = false;  // the usage record is durable (before [DONE] or the terminator went out)
  auto ttft = [&] { return seen_token ? first_token : deps_.clock.now(); };
  std::string out;
  std::array<char, 16 * 1024> buffer;
  // Parse everything each socket read brought, then write it to the client in one go: one write
  // per read instead of one per event.
  // After the client left (client_ok false) the node's remaining output is still read, for its usage.
  while (upstream_ok && !parser.is_done()) {
    beast::error_code pec;
    while (!parser.is_done() && upstream_buffer.size() > 0) {
      parser.get().body().data = buffer.data();
      parser.get().body().size = buffer.size();
      std::size_t used = parser.put(upstream_buffer.data(), pec);
      upstream_buffer.consume(used);
      if (pec == http::error::need_buffer) pec = {};
      std::size_t got = buffer.size() - parser.get().body().size;
      if (got > 0) filter.feed(std::string_view(buffer.data(), got), out);
      if (pec || (used == 0 && got == 0)) break;
    }
    if (pec == http::error::need_more) pec = {};
    if (!seen_token && filter.content_events() > 0) {
      seen_token = true;
      first_token = deps_.clock.now();
    }
    if (watch.gone()) client_ok = false;
    if (!out.empty()) {
      // Billing: the chunk that carries [DONE] completes the response for the client, so it waits
      // until the record is durable. The node reported its final usage before [DONE].
      if (client_ok && filter.saw_done() && !billed) {
        co_await record_usage_durably(finish_usage(filter.usage(), false, ttft()));
        billed = true;
      }
      if (client_ok) client_ok = co_await channel.send_chunk(out);
      // The client has the whole answer once [DONE] is written, whatever happens to the
      // connection afterwards (a client may well close it right away).
      if (client_ok && filter.saw_done()) delivered = true;
      out.clear();
    }
    if (pec) {
      upstream_ok = false;
      metrics.upstream(node.id, region, "stream_error").Increment();
      spdlog::warn("request {}: stream from node {} is malformed: {}", state.request_id, node.id, pec.message());
      break;
    }
    if (parser.is_done()) break;
    conn->expires_after(cfg.stream_idle_timeout);
    auto [ec, n] = co_await conn->async_read_some(upstream_buffer.prepare(16 * 1024), use_nothrow);
    upstream_buffer.commit(n);
    if (watch.gone()) client_ok = false;
    if (ec) {
      upstream_ok = false;
      if (client_ok) {
        metrics.upstream(node.id, region, is_timeout(ec) ? "stream_timeout" : "stream_error").Increment();
        spdlog::warn("request {}: stream from node {} broke: {}", state.request_id, node.id, ec.message());
      }
    }
  }
  watch.stop();
  if (client_ok) {
    if (!billed) {
      // Billing: no [DONE] from the node (it broke off or just ended): durable before the error
      // event, our own [DONE] and the chunked terminator.
      co_await record_usage_durably(finish_usage(filter.usage(), !upstream_ok, ttft()));
      billed = true;
    }
    if (!upstream_ok && !filter.saw_done()) {
      // Same convention as vLLM: an error event, then [DONE], on a 200 stream.
      ApiError error = ApiError::upstream_failure(
          active_upstream.aborted() ? "The model node was taken out of service (eviction deadline) before the stream finished."
                                    : "The model node stopped in the middle of the stream.");
      client_ok = co_await channel.send_chunk("data: " + error.to_json() + "\n\ndata: [DONE]\n\n");
    }
    if (client_ok) client_ok = co_await channel.finish_chunks();
  }
  if (!client_ok) {
    channel.set_keep_alive(false);
    metrics.upstream(node.id, region, "client_gone").Increment();
  }
  if (upstream_ok && client_ok && parser.is_done() && parser.keep_alive()) deps_.upstream.release(node, std::move(conn));
  const TokenUsage streamed = filter.usage();
  // The client left before the end: bill what the node generated; nobody waits for it.
  if (!billed) deps_.usage.record(finish_usage(streamed, !delivered && (!client_ok || !upstream_ok), ttft()));
  if (active_upstream.aborted()) {
    metrics.aborted(node.id, region).Increment();
    co_return Attempt::answered(Attempt::Verdict::kNeutral);
  }
  if (!upstream_ok) co_return Attempt::answered(Attempt::Verdict::kFailed);
  if (!client_ok) co_return Attempt::answered(Attempt::Verdict::kNeutral);
  co_return Attempt::answered(Attempt::Verdict::kOk, static_cast<std::uint64_t>(streamed.completion_tokens));
}

net::awaitable<void> ApiHandler::record_usage_durably(store::UsageRecord usage) {
  const std::string request_id = usage.request_id;
  const std::int64_t tokens = usage.prompt_tokens + usage.completion_tokens;
  auto executor = co_await net::this_coro::executor;
  // The meter calls back on its log thread once the fsync covering the record returned; the
  // answer is posted back to this connection's thread, as admit() does with the limiter's.
  const bool durable = co_await net::async_initiate<decltype(net::use_awaitable), void(bool)>(
      [this, &usage, executor](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        deps_.usage.record_durable(std::move(usage), [shared, executor](bool ok) {
          net::post(executor, [shared, ok]() mutable { (*shared)(ok); });
        });
      },
      net::use_awaitable);
  if (!durable) {
    // The tokens were generated: the client gets them. New billable requests are refused (503
    // billing_backlog_full) while the log stays full; cic_usage_log_refused_total counts these.
    spdlog::error("request {}: usage log full; {} tokens served WITHOUT a usage record", request_id, tokens);
  }
}

}  // namespace cic::gateway
