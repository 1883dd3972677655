#pragma once
#include <string>

namespace cic {

/// An error a client sees, in OpenAI's shape: {"error":{"message","type","param","code"}}.
/// Every module that rejects a request returns one of these; the gateway renders it in one place.
struct ApiError {
  int status = 500;
  std::string type;     // invalid_request_error, authentication_error, permission_error, ...
  std::string code;     // invalid_api_key, model_not_found, ... (empty renders as null)
  std::string param;    // the offending request field (empty renders as null)
  std::string message;
  int retry_after_s = 0;  // > 0 adds a Retry-After header

  /// The JSON body, e.g. {"error":{"message":"...","type":"...","param":null,"code":"..."}}.
  std::string to_json() const;

  static ApiError invalid_request(std::string param, std::string message, std::string code = {});
  static ApiError invalid_json(std::string detail);
  static ApiError missing_api_key();
  static ApiError invalid_api_key();
  static ApiError permission_denied(std::string message, std::string code = {});
  static ApiError not_found(std::string message);
  static ApiError model_not_found(const std::string& model);
  static ApiError method_not_allowed(const std::string& method);
  static ApiError payload_too_large(std::size_t limit);
  static ApiError unsupported_media_type();
  static ApiError no_capacity(const std::string& model, const std::string& region);
  static ApiError upstream_failure(std::string message);
  static ApiError upstream_timeout();
  static ApiError shutting_down();
  static ApiError internal(std::string message);
};

}  // namespace cic
