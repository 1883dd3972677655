#include <algorithm>

#include "cic/common/ids.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

const std::initializer_list<const char*> kEnvironmentFields = {
    "name", "region", "models", "limits", "monthly_token_quota", "monthly_spend_cap_usd", "data_residency"};

void read_region(Context& ctx, const json& body, std::string& region) {
  if (read_string(body, "region", region) && !ctx.config().find_region(region)) {
    fail(ApiError::invalid_request("region", "Unknown region '" + region + "'.", "invalid_value"));
  }
}

void read_models(Context& ctx, const json& body, std::vector<std::string>& models) {
  auto it = body.find("models");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_array()) fail(ApiError::invalid_request("models", "'models' must be an array of model ids.", "invalid_type"));
  std::vector<std::string> out;
  for (const json& m : *it) {
    if (!m.is_string() || !ctx.config().find_model(m.get<std::string>())) {
      fail(ApiError::invalid_request("models", "Unknown model " + m.dump() + ".", "invalid_value"));
    }
    if (std::find(out.begin(), out.end(), m.get<std::string>()) == out.end()) out.push_back(m.get<std::string>());
  }
  models = std::move(out);
}

void read_residency(const json& body, std::string& residency) {
  if (read_string(body, "data_residency", residency) && residency != "flexible" && residency != "strict") {
    fail(ApiError::invalid_request("data_residency", "'data_residency' must be 'flexible' or 'strict'.", "invalid_value"));
  }
}

// The fields a create and an update share.
void read_settings(Context& ctx, const Call& call, const json& body, const store::Org& org, store::Environment& env) {
  read_region(ctx, body, env.region);
  read_models(ctx, body, env.models);
  if (auto it = body.find("limits"); it != body.end() && !it->is_null()) {
    env.limits_json = checked_limits(ctx, call, *it, org.plan);
  }
  read_nonnegative(body, "monthly_token_quota", env.monthly_token_quota);
  read_usd_micros(body, "monthly_spend_cap_usd", env.monthly_spend_cap_micros);
  read_residency(body, env.data_residency);
}

}  // namespace

HttpReply environments_collection(Context& ctx, Call& call, const store::Org& org) {
  if (call.http.method == "GET") {
    auto page = ctx.store().list_environments(org.id, call.page());
    json data = json::array();
    for (const auto& env : page.items) data.push_back(environment_view(env, ctx.config(), org.plan));
    return reply(200, list_body(std::move(data), page.has_more));
  }
  if (call.http.method != "POST") method_not_allowed(call);
  const json& body = call.body();
  reject_unknown_fields(body, kEnvironmentFields);
  store::Environment env;
  env.org_id = org.id;
  if (!read_string(body, "name", env.name)) {
    fail(ApiError::invalid_request("name", "Missing required parameter: 'name'.", "missing_required_parameter"));
  }
  if (env.name != "dev" && env.name != "staging" && env.name != "prod") {
    fail(ApiError::invalid_request("name", "'name' must be one of dev, staging, prod.", "invalid_value"));
  }
  if (!body.contains("region") || body["region"].is_null()) {
    fail(ApiError::invalid_request("region", "Missing required parameter: 'region'.", "missing_required_parameter"));
  }
  for (const auto& model : ctx.config().models) env.models.push_back(model.id);  // default: the whole catalog
  read_settings(ctx, call, body, org, env);
  env.id = new_id("env");
  env.created_at = env.updated_at = call.now_ms;
  auto audit = audit_entry(call, "environment.create", "environment", env.id, org.id, nullptr,
                           environment_view(env, ctx.config(), org.plan));
  try {
    env = ctx.store().create_environment(env, &audit);
  } catch (const store::StoreConflict&) {
    fail(ApiError{409, "invalid_request_error", "conflict", "name",
                  "Organization '" + org.name + "' already has an environment '" + env.name + "'."});
  }
  return reply(201, environment_view(env, ctx.config(), org.plan));
}

HttpReply environment_item(Context& ctx, Call& call, const store::Org& org, const std::string& env_ref) {
  store::Environment env = visible_environment(ctx, org, env_ref);
  json before = environment_view(env, ctx.config(), org.plan);
  if (call.http.method == "GET") return reply(200, before);
  if (call.http.method == "DELETE") {
    auto audit = audit_entry(call, "environment.delete", "environment", env.id, org.id, before, nullptr);
    if (!ctx.store().delete_environment(env.id, call.now_ms, &audit)) fail(ApiError::not_found("No environment '" + env_ref + "'."));
    ctx.deps.on_auth_change();
    return reply(200, json{{"id", env.id}, {"object", "environment"}, {"deleted", true}});
  }
  if (call.http.method != "PATCH") method_not_allowed(call);
  const json& body = call.body();
  if (body.contains("id") || body.contains("org_id")) {
    if (!call.actor.is_operator) fail(ApiError::permission_denied("An environment's ids cannot be set.", "field_not_allowed"));
    fail(ApiError::invalid_request(body.contains("id") ? "id" : "org_id", "An environment's ids cannot be changed.", "invalid_value"));
  }
  if (body.contains("name")) {
    fail(ApiError::invalid_request("name", "An environment's name cannot be changed; create another.", "invalid_value"));
  }
  reject_unknown_fields(body, kEnvironmentFields);
  store::Environment updated = env;
  read_settings(ctx, call, body, org, updated);
  updated.updated_at = call.now_ms;
  auto audit = audit_entry(call, "environment.update", "environment", env.id, org.id, before,
                           environment_view(updated, ctx.config(), org.plan));
  auto saved = ctx.store().update_environment(updated, &audit);
  if (!saved) fail(ApiError::not_found("No environment '" + env_ref + "'."));
  ctx.deps.on_auth_change();
  return reply(200, environment_view(*saved, ctx.config(), org.plan));
}

std::string checked_limits(Context& ctx, const Call& call, const json& limits, const std::string& plan) {
  if (!limits.is_object()) fail(ApiError::invalid_request("limits", "'limits' must be an object.", "invalid_type"));
  const config::PlanConfig* p = ctx.config().find_plan(plan);
  json stored = json::object();
  for (const auto& [key, value] : limits.items()) {
    std::int64_t max = 0;
    if (key == "rpm") max = p ? p->max_limits.rpm : 0;
    else if (key == "tpm") max = p ? p->max_limits.tpm : 0;
    else if (key == "concurrency") max = p ? p->max_limits.concurrency : 0;
    else fail(ApiError::invalid_request("limits." + key, "Unknown limit '" + key + "'.", "unknown_field"));
    if (!value.is_number_integer() || (!value.is_number_unsigned() && value.get<std::int64_t>() < 0) ||
        (value.is_number_unsigned() && value.get<std::uint64_t>() > 1'000'000'000'000ULL)) {
      fail(ApiError::invalid_request("limits." + key, "'limits." + key + "' must be a non-negative integer (0 = unlimited).", "invalid_value"));
    }
    std::int64_t v = value.get<std::int64_t>();
    // The operator may grant anything; an org admin stays within the plan (0 means unlimited,
    // which is above any finite maximum).
    if (!call.actor.is_operator && max > 0 && (v == 0 || v > max)) {
      ApiError error = ApiError::permission_denied(
          "'limits." + key + "' may be at most " + std::to_string(max) + " on the '" + plan + "' plan.", "limit_above_plan");
      error.param = "limits." + key;
      fail(error);
    }
    stored[key] = v;
  }
  return stored.dump();
}

}  // namespace cic::admin::detail
