#include "cic/common/ids.hpp"
#include "cic/config/config.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

bool is_valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void check_name(const std::string& name) {
  if (!is_valid_name(name)) {
    fail(ApiError::invalid_request("name", "'name' must be 1-64 of [A-Za-z0-9._-].", "invalid_value"));
  }
  if (name.starts_with("org_")) {
    fail(ApiError::invalid_request("name", "'name' must not start with 'org_' (ids do).", "invalid_value"));
  }
}

void check_email(const std::string& email) {
  if (email.size() < 3 || email.size() > 254 || email.find('@') == std::string::npos) {
    fail(ApiError::invalid_request("email", "'email' must be an e-mail address.", "invalid_value"));
  }
}

void check_plan(Context& ctx, const std::string& plan) {
  if (!ctx.config().find_plan(plan)) {
    fail(ApiError::invalid_request("plan", "Unknown plan '" + plan + "'.", "invalid_value"));
  }
}

ApiError name_taken(const std::string& name) {
  return {409, "invalid_request_error", "conflict", "name", "An organization named '" + name + "' exists."};
}

}  // namespace

HttpReply orgs_collection(Context& ctx, Call& call) {
  if (call.http.method == "GET") {
    if (!call.actor.is_operator) {
      // An org admin sees exactly its own org.
      json data = json::array();
      if (auto org = ctx.store().find_org(call.actor.org_id)) data.push_back(org_view(*org));
      return reply(200, list_body(std::move(data), false));
    }
    auto page = ctx.store().list_orgs(call.page());
    json data = json::array();
    for (const auto& org : page.items) data.push_back(org_view(org));
    return reply(200, list_body(std::move(data), page.has_more));
  }
  if (call.http.method != "POST") method_not_allowed(call);
  require_operator(call, "create organizations");
  const json& body = call.body();
  reject_unknown_fields(body, {"name", "email", "plan", "monthly_spend_cap_usd"});
  store::Org org;
  if (!read_string(body, "name", org.name)) {
    fail(ApiError::invalid_request("name", "Missing required parameter: 'name'.", "missing_required_parameter"));
  }
  check_name(org.name);
  if (!read_string(body, "email", org.email)) {
    fail(ApiError::invalid_request("email", "Missing required parameter: 'email'.", "missing_required_parameter"));
  }
  check_email(org.email);
  org.plan = "free";
  if (read_string(body, "plan", org.plan)) check_plan(ctx, org.plan);
  read_usd_micros(body, "monthly_spend_cap_usd", org.monthly_spend_cap_micros);
  org.id = new_id("org");
  org.created_at = org.updated_at = call.now_ms;
  auto audit = audit_entry(call, "org.create", "org", org.id, org.id, nullptr, org_view(org));
  try {
    org = ctx.store().create_org(org, &audit);
  } catch (const store::StoreConflict&) {
    fail(name_taken(org.name));
  }
  grant_signup_bonus(ctx, call, org);
  return reply(201, org_view(org));
}

HttpReply org_item(Context& ctx, Call& call, const std::string& org_ref) {
  store::Org org = visible_org(ctx, call, org_ref);
  if (call.http.method == "GET") return reply(200, org_view(org));
  if (call.http.method == "DELETE") {
    require_operator(call, "delete organizations");
    auto audit = audit_entry(call, "org.delete", "org", org.id, org.id, org_view(org), nullptr);
    if (!ctx.store().delete_org(org.id, call.now_ms, &audit)) fail(ApiError::not_found("No organization '" + org_ref + "'."));
    ctx.deps.on_auth_change();
    return reply(200, json{{"id", org.id}, {"object", "organization"}, {"deleted", true}});
  }
  if (call.http.method != "PATCH") method_not_allowed(call);
  const json& body = call.body();
  if (body.contains("id")) {
    if (!call.actor.is_operator) fail(ApiError::permission_denied("An organization's id cannot be set.", "field_not_allowed"));
    fail(ApiError::invalid_request("id", "An organization's id cannot be changed.", "invalid_value"));
  }
  if (body.contains("plan") && !call.actor.is_operator) {
    fail(ApiError::permission_denied("Only the operator may change an organization's plan.", "field_not_allowed"));
  }
  reject_unknown_fields(body, {"name", "email", "plan", "monthly_spend_cap_usd"});
  store::Org updated = org;
  if (read_string(body, "name", updated.name)) check_name(updated.name);
  if (read_string(body, "email", updated.email)) check_email(updated.email);
  if (read_string(body, "plan", updated.plan)) check_plan(ctx, updated.plan);
  read_usd_micros(body, "monthly_spend_cap_usd", updated.monthly_spend_cap_micros);
  updated.updated_at = call.now_ms;
  auto audit = audit_entry(call, "org.update", "org", org.id, org.id, org_view(org), org_view(updated));
  std::optional<store::Org> saved;
  try {
    saved = ctx.store().update_org(updated, &audit);
  } catch (const store::StoreConflict&) {
    fail(name_taken(updated.name));
  }
  if (!saved) fail(ApiError::not_found("No organization '" + org_ref + "'."));
  ctx.deps.on_auth_change();
  return reply(200, org_view(*saved));
}

}  // namespace cic::admin::detail
