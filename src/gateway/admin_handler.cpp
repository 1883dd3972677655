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

AdminHandler::AdminHandler(telemetry::Metrics& metrics, std::function<bool()> ready)
    : metrics_(metrics), ready_(std::move(ready)) {}

net::awaitable<void> AdminHandler::handle(Request& request, ClientChannel& channel) {
  std::string_view path = request.target().substr(0, request.target().find('?'));
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
