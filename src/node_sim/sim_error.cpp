#include "node_sim/sim_error.hpp"

#include "node_sim/http_text.hpp"
#include "node_sim/json_text.hpp"

namespace cic::node_sim {

SimError bad_request(std::string message) {
  return {400, "BadRequestError", std::move(message)};
}

SimError model_not_found(std::string_view model) {
  std::string message = "The model `";
  message.append(model);
  message.append("` does not exist.");
  return {404, "NotFoundError", std::move(message)};
}

SimError http_exception(unsigned status, std::string message) {
  return {status, std::string(status_reason(status)), std::move(message)};
}

SimError injected_failure() {
  return {500, "InternalServerError",
          "The engine failed while processing the request (injected by cic-node-sim "
          "--error-rate)."};
}

void append_error_json(std::string& out, const SimError& error) {
  out.append("{\"error\":{\"message\":");
  append_json_string(out, error.message);
  out.append(",\"type\":");
  append_json_string(out, error.type);
  out.append(",\"param\":null,\"code\":");
  append_uint(out, error.status);
  out.append("}}");
}

}  // namespace cic::node_sim
