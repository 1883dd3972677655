// /admin/v1/orgs/{org}/stripe: the Stripe customer an org's usage is reported to. The operator
// sets it (PUT {"customer_id"}); the operator and the org's admins may read it.
#include "handlers.hpp"

namespace cic::admin::detail {
namespace {

// Stripe's object ids: a prefix, '_' and [A-Za-z0-9]; customers are "cus_...".
bool is_customer_id(const std::string& id) {
  if (id.size() < 5 || id.size() > 255 || !id.starts_with("cus_")) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

json stripe_customer_view(const store::StripeCustomer& c) {
  return json{{"object", "stripe_customer"},
              {"org_id", c.org_id},
              {"customer_id", c.customer_id},
              {"created_at", c.created_at / 1000},
              {"updated_at", c.updated_at / 1000}};
}

}  // namespace

HttpReply org_stripe(Context& ctx, Call& call, const store::Org& org) {
  if (call.http.method == "GET") {
    auto customer = ctx.store().find_stripe_customer(org.id);
    if (!customer) fail(ApiError::not_found("Organization '" + org.id + "' has no Stripe customer."));
    return reply(200, stripe_customer_view(*customer));
  }
  if (call.http.method != "PUT") method_not_allowed(call);
  require_operator(call, "map organizations to Stripe customers");
  const json& body = call.body();
  reject_unknown_fields(body, {"customer_id"});
  std::string customer_id;
  if (!read_string(body, "customer_id", customer_id)) {
    fail(ApiError::invalid_request("customer_id", "Missing required parameter: 'customer_id'.",
                                   "missing_required_parameter"));
  }
  if (!is_customer_id(customer_id)) {
    fail(ApiError::invalid_request("customer_id", "'customer_id' must be a Stripe customer id (cus_...).",
                                   "invalid_value"));
  }
  auto before = ctx.store().find_stripe_customer(org.id);
  store::StripeCustomer mapping{org.id, customer_id, call.now_ms, call.now_ms};
  if (before) mapping.created_at = before->created_at;
  auto audit = audit_entry(call, "org.stripe.set", "org", org.id, org.id,
                           before ? stripe_customer_view(*before) : json(nullptr), stripe_customer_view(mapping));
  return reply(200, stripe_customer_view(ctx.store().set_stripe_customer(mapping, &audit)));
}

}  // namespace cic::admin::detail
