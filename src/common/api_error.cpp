#include "cic/common/api_error.hpp"

#include <nlohmann/json.hpp>

namespace cic {

std::string ApiError::to_json() const {
  nlohmann::json error = {
      {"message", message},
      {"type", type},
      {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
      {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)},
  };
  // `replace` keeps a client's invalid UTF-8 (echoed in a message) from throwing here.
  return nlohmann::json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
}

ApiError ApiError::invalid_request(std::string param, std::string message, std::string code) {
  return {400, "invalid_request_error", std::move(code), std::move(param), std::move(message)};
}

ApiError ApiError::invalid_json(std::string detail) {
  return {400, "invalid_request_error", "invalid_json", "",
          "We could not parse the JSON body of your request: " + std::move(detail)};
}

ApiError ApiError::missing_api_key() {
  return {401, "invalid_request_error", "missing_api_key", "",
          "You didn't provide an API key. Provide it in the Authorization header as "
          "'Authorization: Bearer sk_...'."};
}

ApiError ApiError::invalid_api_key() {
  return {401, "invalid_request_error", "invalid_api_key", "", "Incorrect API key provided."};
}

ApiError ApiError::permission_denied(std::string message, std::string code) {
  return {403, "permission_error", std::move(code), "", std::move(message)};
}

ApiError ApiError::not_found(std::string message) {
  return {404, "invalid_request_error", "not_found", "", std::move(message)};
}

ApiError ApiError::model_not_found(const std::string& model) {
  return {404, "invalid_request_error", "model_not_found", "model",
          "The model `" + model + "` does not exist or you do not have access to it."};
}

ApiError ApiError::method_not_allowed(const std::string& method) {
  return {405, "invalid_request_error", "method_not_allowed", "",
          "Method " + method + " is not allowed on this path."};
}

ApiError ApiError::payload_too_large(std::size_t limit) {
  return {413, "invalid_request_error", "request_too_large", "",
          "The request body exceeds the limit of " + std::to_string(limit) + " bytes."};
}

ApiError ApiError::unsupported_media_type() {
  return {415, "invalid_request_error", "unsupported_media_type", "",
          "Unsupported Media Type: only 'application/json' is allowed."};
}

ApiError ApiError::no_capacity(const std::string& model, const std::string& region) {
  ApiError e{503, "server_error", "no_capacity", "",
             "No node is available for model `" + model + "` in region `" + region +
                 "`. Please retry shortly."};
  e.retry_after_s = 1;
  return e;
}

ApiError ApiError::upstream_failure(std::string message) {
  return {502, "server_error", "upstream_error", "", std::move(message)};
}

ApiError ApiError::upstream_timeout() {
  return {504, "server_error", "upstream_timeout", "",
          "The model node did not answer in time. Please retry."};
}

ApiError ApiError::shutting_down() {
  ApiError e{503, "server_error", "shutting_down", "", "The server is shutting down. Please retry."};
  e.retry_after_s = 1;
  return e;
}

ApiError ApiError::internal(std::string message) {
  return {500, "server_error", "internal_error", "", std::move(message)};
}

}  // namespace cic
