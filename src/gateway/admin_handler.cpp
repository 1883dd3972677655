#include "admin_handler.hpp"

#include "cic/common/api_error.hpp"
#include "cic/common/ids.hpp"

namespace cic::gateway {
namespace {

Response json_response(int status, std::string body) {
  Response response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, "application/json");
  response.set("x-request-id", new_request_id());
  response.body() = std::move(body);
  return response;
}

}  // namespace

AdminHandler::AdminHandler(telemetry::Metrics& metrics, std::function<bool()> ready, net::thread_pool& blocking,
                           std::function<HttpReply(const HttpCall&)> admin_api)
    : metrics_(metrics), ready_(std::move(ready)), blocking_(blocking), admin_api_(std::move(admin_api)) {}

net::awaitable<void> AdminHandler::admin_api(Request& request, ClientChannel& channel) {
  HttpCall call{std::string(request.method_string()), std::string(request.target()),
                std::string(request[http::field::authorization]), std::move(request.body()), new_request_id(),
                std::string(request[http::field::accept])};
  // Every admin call reads or writes the store: it runs on the blocking pool, never on the loop.
  HttpReply reply;
  try {
    reply = co_await run_blocking(blocking_, [this, &call] { return admin_api_(call); });
  } catch (const std::exception& e) {
    reply = HttpReply{500, ApiError::internal(e.what()).to_json()};
  }
  Response response{static_cast<http::status>(reply.status), 11};
  response.set(http::field::content_type, reply.content_type);
  response.set("x-request-id", call.request_id);
  if (reply.status == 503) response.set(http::field::retry_after, "1");
  response.body() = std::move(reply.body);
  co_await channel.send(response);
}

net::awaitable<void> AdminHandler::handle(Request& request, ClientChannel& channel) {
  std::string_view path = request.target().substr(0, request.target().find('?'));
  if (admin_api_ && path == "/webhooks/stripe") {
    // Stripe's webhooks carry no admin credential, only their Stripe-Signature header: it travels
    // as the call's credential to the same blocking handler, which verifies it against the body.
    std::string signature(request["Stripe-Signature"]);
    request.set(http::field::authorization, signature);
    co_await admin_api(request, channel);
    co_return;
  }
  if (admin_api_ && (path == "/admin/v1" || path.starts_with("/admin/v1/"))) {
    co_await admin_api(request, channel);
    co_return;
  }
  Response response;
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    response = json_response(405, ApiError::method_not_allowed(std::string(request.method_string())).to_json());
  } else if (path == "/metrics") {
    response = Response{http::status::ok, 11};
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = metrics_.serialize();
  } else if (path == "/healthz") {
    response = json_response(200, R"({"status":"ok"})");
  } else if (path == "/readyz") {
    bool ready = ready_();
    response = json_response(ready ? 200 : 503, ready ? R"({"status":"ok"})" : R"({"status":"not ready"})");
  } else {
    response = json_response(404, ApiError::not_found("Unknown path: " + std::string(path) + ".").to_json());
  }
  co_await channel.send(response);
}

net::awaitable<void> AdminHandler::reject(int status, ClientChannel& channel, std::string_view detail) {
  channel.set_keep_alive(false);
  Response response = json_response(status, ApiError{status, "invalid_request_error", "bad_request", "", std::string(detail)}.to_json());
  co_await channel.send(response);
}

}  // namespace cic::gateway
