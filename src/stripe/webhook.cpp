#include "cic/stripe/webhook.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cic/common/api_error.hpp"
#include "cic/stripe/signature.hpp"

namespace cic::stripe {
namespace {

using nlohmann::json;

std::string string_field(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool is_recorded_event_type(std::string_view type) {
  return type.starts_with("invoice.") || type.starts_with("payment_intent.");
}

WebhookReceiver::WebhookReceiver(store::Store& store, const Clock& clock, WebhookOptions options,
                                 std::function<void(std::string_view)> on_outcome)
    : store_(store), clock_(clock), options_(std::move(options)), on_outcome_(std::move(on_outcome)) {}

HttpReply WebhookReceiver::outcome(int status, std::string_view what, std::string body) {
  if (on_outcome_) on_outcome_(what);
  return HttpReply{status, std::move(body)};
}

HttpReply WebhookReceiver::handle(std::string_view method, std::string_view signature, std::string_view body) {
  if (!enabled()) {
    return HttpReply{404, ApiError::not_found("Stripe webhooks are disabled: set stripe.webhook_secret.").to_json()};
  }
  if (method != "POST") return HttpReply{405, ApiError::method_not_allowed(std::string(method)).to_json()};
  const std::int64_t now_s = clock_.unix_millis() / 1000;
  const SignatureCheck check = verify_signature(signature, body, options_.secret, now_s, options_.tolerance_s);
  if (check != SignatureCheck::kValid) {
    spdlog::warn("stripe webhook: signature {}", to_string(check));
    return outcome(400, "bad_signature",
                   ApiError{400, "invalid_request_error", "invalid_signature", "Stripe-Signature",
                            std::string("Stripe-Signature verification failed: ") + to_string(check) + "."}
                       .to_json());
  }
  const json event = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const std::string id = string_field(event, "id");
  const std::string type = string_field(event, "type");
  if (id.empty() || type.empty() || !event.contains("data") || !event["data"].is_object()) {
    return outcome(400, "bad_request",
                   ApiError::invalid_request("", "The body is not a Stripe event (id, type, data).").to_json());
  }
  if (!is_recorded_event_type(type)) return outcome(200, "ignored", json{{"received", true}, {"recorded", false}}.dump());

  const json& object = event["data"].contains("object") ? event["data"]["object"] : json();
  store::StripeEvent record;
  record.id = id;
  record.type = type;
  record.customer_id = string_field(object, "customer");
  record.object_id = string_field(object, "id");
  record.created = event.contains("created") && event["created"].is_number_integer() ? event["created"].get<std::int64_t>() : 0;
  record.received_at = clock_.unix_millis();
  record.payload_json = std::string(body);
  try {
    // Stripe delivers at least once and retries for days: the event id makes it count once.
    const bool fresh = store_.record_stripe_event(record);
    if (fresh) spdlog::info("stripe webhook: {} {} (customer {})", type, id, record.customer_id);
    return outcome(200, fresh ? "recorded" : "duplicate",
                   json{{"received", true}, {"recorded", true}, {"duplicate", !fresh}}.dump());
  } catch (const store::StoreError& e) {
    spdlog::error("stripe webhook: cannot record {} {}: {}", type, id, e.what());
    ApiError error{503, "server_error", "store_unavailable", "", "The event could not be recorded; retry later."};
    return outcome(503, "store_error", error.to_json());
  }
}

}  // namespace cic::stripe
