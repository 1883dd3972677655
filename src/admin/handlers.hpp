#pragma once
#include "context.hpp"

namespace cic::admin::detail {

// One function per resource; each answers the methods it supports and 405 for the rest.
HttpReply orgs_collection(Context& ctx, Call& call);
HttpReply org_item(Context& ctx, Call& call, const std::string& org_ref);
HttpReply environments_collection(Context& ctx, Call& call, const store::Org& org);
HttpReply environment_item(Context& ctx, Call& call, const store::Org& org, const std::string& env_ref);
HttpReply keys_collection(Context& ctx, Call& call, const store::Org& org, const store::Environment& env);
HttpReply key_item(Context& ctx, Call& call, const store::Org& org, const store::Environment& env,
                   const std::string& key_id);
HttpReply key_rotate(Context& ctx, Call& call, const store::Org& org, const store::Environment& env,
                     const std::string& key_id);
HttpReply admin_keys_collection(Context& ctx, Call& call, const store::Org& org);
HttpReply admin_key_item(Context& ctx, Call& call, const store::Org& org, const std::string& key_id);
/// /admin/v1/orgs/{org}/stripe (stripe.cpp): GET, PUT {"customer_id"} (operator only).
HttpReply org_stripe(Context& ctx, Call& call, const store::Org& org);
HttpReply models_collection(Context& ctx, Call& call);
HttpReply audit_collection(Context& ctx, Call& call);
/// /admin/v1/nodes[...]: segments after "nodes".
HttpReply nodes_route(Context& ctx, Call& call);

// Billing (usage.cpp, credits.cpp, invoice.cpp).
HttpReply usage_collection(Context& ctx, Call& call);
HttpReply credits_collection(Context& ctx, Call& call, const store::Org& org);
HttpReply invoice_preview(Context& ctx, Call& call, const store::Org& org);
HttpReply invoices_collection(Context& ctx, Call& call, const store::Org& org);
/// The $10 sign-up bonus of a new org (idempotent: at most one per org). A store failure is
/// logged, not thrown: the org exists either way, and the bonus can be granted again later.
void grant_signup_bonus(Context& ctx, const Call& call, const store::Org& org);

[[noreturn]] void method_not_allowed(const Call& call);

/// A `limits` object from a request body, checked: integers >= 0 for rpm, tpm, concurrency; for
/// an org admin, none above the plan's max_limits (403). Returns the JSON to store.
std::string checked_limits(Context& ctx, const Call& call, const json& limits, const std::string& plan);

}  // namespace cic::admin::detail
