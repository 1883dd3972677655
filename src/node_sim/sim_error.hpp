#pragma once
// Errors in the shape of vLLM >= 0.10.1: {"error":{"message","type","param","code"}} with the
// HTTP status equal to `code`.

#include <string>
#include <string_view>

namespace cic::node_sim {

struct SimError {
  unsigned status = 400;
  std::string type;
  std::string message;
};

/// Validation failures (pydantic validators, SamplingParams, context length).
SimError bad_request(std::string message);

/// `_check_model`: 404 for a model name this node does not serve.
SimError model_not_found(std::string_view model);

/// FastAPI HTTPExceptions go through vLLM's handler, whose `type` is the status phrase.
SimError http_exception(unsigned status, std::string message);

/// The engine failure `--error-rate` injects.
SimError injected_failure();

/// Appends the error JSON body.
void append_error_json(std::string& out, const SimError& error);

}  // namespace cic::node_sim
