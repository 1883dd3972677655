// Admission against the limits before a request is forwarded: hold its worst case on every
// scope, answer 429 when a scope is full. The hold is settled when the request ends (handle()).
#include <boost/asio/post.hpp>

#include "api_handler.hpp"
#include "cic/billing/pricing.hpp"

namespace cic::gateway {
namespace {

limits::AdmissionRequest admission_request(const auth::KeyIdentity& id, const OpenAiRequest& request,
                                           const config::ModelConfig& model) {
  limits::AdmissionRequest a;
  a.key_id = id.key_id;
  a.environment_id = id.environment_id;
  a.org_id = id.org_id;
  a.key = {id.key_rpm, id.key_tpm, id.key_concurrency, 0, 0};
  a.environment = {id.env_rpm, id.env_tpm, id.env_concurrency, id.env_monthly_tokens, id.env_monthly_spend_micros};
  a.org = {0, 0, 0, id.org_monthly_tokens, id.org_monthly_spend_micros};
  // Worst case: the prompt as estimated plus every token the request may generate.
  std::int64_t output = 0;
  if (request.endpoint != Endpoint::kEmbeddings) output = request.max_tokens > 0 ? request.max_tokens : model.default_max_tokens;
  a.tokens = request.estimated_prompt_tokens + output;
  // Routing has not picked a region yet: hold what the tokens cost where they are dearest.
  a.cost_micros = billing::hold_price_micros(model, request.estimated_prompt_tokens, output);
  a.priced = model.priced();
  return a;
}

ApiError denial_error(const limits::Admission& admission) {
  using limits::Denial;
  const bool rate = admission.denial == Denial::kRate || admission.denial == Denial::kConcurrency;
  std::string message;
  switch (admission.denial) {
    case Denial::kUnpriced:
      message = "This model has no price, so it cannot be used under a spend cap.";
      break;
    default:
      message = "Limit reached for the " + admission.scope + " (" + admission.limit_name + " = " +
                std::to_string(admission.limit_value) + "). " +
                (rate ? "Please retry after the limit resets." : "Raise the limit or wait for the next period.");
  }
  ApiError error{429, rate ? "requests" : "insufficient_quota", rate ? "rate_limit_exceeded" : "insufficient_quota", "",
                 std::move(message)};
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(admission.retry_after + std::chrono::milliseconds(999));
  error.retry_after_s = static_cast<int>(std::max<std::int64_t>(1, seconds.count()));
  return error;
}

ApiError billing_backlog_full() {
  ApiError error{503, "server_error", "billing_backlog_full", "",
                 "Usage metering is backlogged, so no new requests are accepted for now. Please retry later."};
  error.retry_after_s = 10;
  return error;
}

}  // namespace

std::string format_reset(std::chrono::milliseconds reset) {
  auto ms = std::max<std::int64_t>(0, reset.count());
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::int64_t s = (ms + 999) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  std::int64_t m = s / 60;
  if (m < 60) return std::to_string(m) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(m / 60) + "h" + std::to_string(m % 60) + "m" + std::to_string(s % 60) + "s";
}

net::awaitable<std::optional<ApiError>> ApiHandler::admit(const auth::KeyIdentity& identity,
                                                          const OpenAiRequest& request, RequestState& state) {
  // While the usage log is full (the store has been unreachable for long), tokens served now
  // could not be billed: refuse new billable work before holding anything against the limits.
  if (!deps_.usage.accepting()) co_return billing_backlog_full();
  const config::ModelConfig* model = deps_.config.find_model(request.model);
  limits::AdmissionRequest ask = admission_request(identity, request, *model);
  auto executor = co_await net::this_coro::executor;
  // The limiter answers on whatever thread it likes (the local one at once, Redis from its own
  // thread); the answer is posted back to this connection's thread.
  limits::Admission admission = co_await net::async_initiate<decltype(net::use_awaitable), void(limits::Admission)>(
      [this, &ask, executor](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        deps_.limiter.admit(ask, [shared, executor](limits::Admission answer) mutable {
          net::post(executor, [shared, answer = std::move(answer)]() mutable { (*shared)(std::move(answer)); });
        });
      },
      net::use_awaitable);
  state.rate_headers = admission.headers;
  if (!admission.admitted) co_return denial_error(admission);
  state.reservation = std::move(admission.reservation);
  co_return std::nullopt;
}

}  // namespace cic::gateway
