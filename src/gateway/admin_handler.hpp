#pragma once
#include <functional>

#include "cic/common/http_call.hpp"
#include "cic/telemetry/metrics.hpp"
#include "client_channel.hpp"

namespace cic::gateway {

/// The operator listener: GET /metrics (Prometheus text), /healthz, /readyz. The admin REST API
/// joins it under /admin/v1/.
class AdminHandler final : public RequestHandler {
 public:
  AdminHandler(telemetry::Metrics& metrics, std::function<bool()> ready, net::thread_pool& blocking,
               std::function<HttpReply(const HttpCall&)> admin_api);
  net::awaitable<void> handle(Request& request, ClientChannel& channel) override;
  net::awaitable<void> reject(int status, ClientChannel& channel, std::string_view detail) override;

 private:
  net::awaitable<void> admin_api(Request& request, ClientChannel& channel);

  telemetry::Metrics& metrics_;
  std::function<bool()> ready_;
  net::thread_pool& blocking_;
  std::function<HttpReply(const HttpCall&)> admin_api_;
};

}  // namespace cic::gateway
