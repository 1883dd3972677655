#pragma once
#include <functional>

#include "cic/telemetry/metrics.hpp"
#include "client_channel.hpp"

namespace cic::gateway {

/// The operator listener: GET /metrics (Prometheus text), /healthz, /readyz. The admin REST API
/// joins it under /admin/v1/.
class AdminHandler final : public RequestHandler {
 public:
  AdminHandler(telemetry::Metrics& metrics, std::function<bool()> ready);
  net::awaitable<void> handle(Request& request, ClientChannel& channel) override;
  net::awaitable<void> reject(int status, ClientChannel& channel, std::string_view detail) override;

 private:
  telemetry::Metrics& metrics_;
  std::function<bool()> ready_;
};

}  // namespace cic::gateway
