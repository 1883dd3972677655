#include "cic/stripe/client.hpp"

#include <nlohmann/json.hpp>

namespace cic::stripe {
namespace {

/// Stripe's error message ({"error":{"message":...}}), or a short excerpt of whatever came back.
std::string error_message(const HttpResult& result) {
  if (result.status == 0) return result.error;
  const auto body = nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& message = body["error"].value("message", nlohmann::json());
    if (message.is_string()) return message.get<std::string>();
  }
  std::string excerpt;
  for (char c : result.body.substr(0, 200)) excerpt.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  return "HTTP " + std::to_string(result.status) + (excerpt.empty() ? "" : ": " + excerpt);
}

}  // namespace

const char* to_string(MeterResult::Outcome outcome) {
  switch (outcome) {
    case MeterResult::Outcome::kAccepted: return "accepted";
    case MeterResult::Outcome::kDuplicate: return "duplicate";
    case MeterResult::Outcome::kRejected: return "rejected";
    case MeterResult::Outcome::kFailed: return "failed";
  }
  return "unknown";
}

StripeClient::StripeClient(HttpTransport& transport, ClientOptions options, Sleeper sleep, Random random)
    : transport_(transport), options_(std::move(options)), sleep_(std::move(sleep)), random_(std::move(random)) {
  while (options_.api_base.ends_with("/")) options_.api_base.pop_back();
}

MeterResult StripeClient::send_meter_event(const MeterEvent& event) {
  HttpRequest request;
  request.method = "POST";
  request.url = options_.api_base + "/v1/billing/meter_events";
  request.timeout = options_.timeout;
  request.headers["Authorization"] = "Bearer " + options_.api_key;
  request.headers["Content-Type"] = "application/x-www-form-urlencoded";
  // Two layers against double counting: the identifier (Stripe refuses a repeat for at least
  // 24 h) and the idempotency key (a repeat within 24 h gets the first answer replayed).
  request.headers["Idempotency-Key"] = event.identifier;
  request.body = meter_event_form(event);

  const Delivery delivery = send_with_retries(transport_, request, options_.retry, classify_stripe, sleep_, random_);
  MeterResult out;
  out.status = delivery.result.status;
  out.attempts = delivery.attempts;
  switch (delivery.verdict) {
    case Verdict::kSuccess: out.outcome = MeterResult::Outcome::kAccepted; break;
    case Verdict::kDuplicate: out.outcome = MeterResult::Outcome::kDuplicate; break;
    case Verdict::kReject: out.outcome = MeterResult::Outcome::kRejected; break;
    case Verdict::kRetry:
    case Verdict::kAuth: out.outcome = MeterResult::Outcome::kFailed; break;
  }
  if (!out.sent()) out.message = error_message(delivery.result);
  return out;
}

}  // namespace cic::stripe
