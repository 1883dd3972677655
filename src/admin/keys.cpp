// API keys of an environment, and the org admin keys.
#include <algorithm>

#include "cic/auth/api_key.hpp"
#include "cic/common/ids.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

constexpr std::int64_t kMaxGraceSeconds = 30LL * 24 * 3600;
constexpr std::int64_t kDefaultGraceSeconds = 3600;
constexpr std::int64_t kMaxLifetimeSeconds = 10LL * 365 * 24 * 3600;  // keeps *1000 far from overflow
constexpr std::size_t kMaxNameChars = 128;

void check_name(const std::string& name) {
  if (name.size() > kMaxNameChars) {
    fail(ApiError::invalid_request("name", "'name' is longer than 128 characters.", "invalid_value"));
  }
}

store::ApiKey new_api_key(Context& ctx, const Call& call, const store::Org& org, const store::Environment& env,
                          std::string& secret) {
  secret = auth::generate_api_key(env.name);
  store::ApiKey key;
  key.id = new_id("key");
  key.org_id = org.id;
  key.environment_id = env.id;
  key.prefix = auth::api_key_prefix(secret);
  key.hash = ctx.deps.hasher.hash(secret);
  key.created_at = call.now_ms;
  return key;
}

store::ApiKey visible_key(Context& ctx, const store::Environment& env, const std::string& key_id) {
  auto key = ctx.store().get_api_key(key_id);
  if (!key || key->environment_id != env.id) fail(ApiError::not_found("No key '" + key_id + "' in this environment."));
  return *key;
}

}  // namespace

HttpReply keys_collection(Context& ctx, Call& call, const store::Org& org, const store::Environment& env) {
  if (call.http.method == "GET") {
    auto page = ctx.store().list_api_keys(env.id, call.page());
    json data = json::array();
    for (const auto& key : page.items) data.push_back(api_key_view(key, call.now_ms));
    return reply(200, list_body(std::move(data), page.has_more));
  }
  if (call.http.method != "POST") method_not_allowed(call);
  const json& body = call.body();
  reject_unknown_fields(body, {"name", "limits", "expires_at", "expires_in"});
  std::string secret;
  store::ApiKey key = new_api_key(ctx, call, org, env, secret);
  read_string(body, "name", key.name);
  check_name(key.name);
  if (auto it = body.find("limits"); it != body.end() && !it->is_null()) key.limits_json = checked_limits(ctx, call, *it, org.plan);
  std::int64_t expires_at_s = 0, expires_in_s = 0;
  if (body.contains("expires_at") && !body["expires_at"].is_null() && body.contains("expires_in") && !body["expires_in"].is_null()) {
    fail(ApiError::invalid_request("expires_in", "Give either 'expires_at' or 'expires_in', not both.", "invalid_value"));
  }
  if (read_nonnegative(body, "expires_at", expires_at_s)) {
    if (expires_at_s > call.now_ms / 1000 + kMaxLifetimeSeconds) {
      fail(ApiError::invalid_request("expires_at", "'expires_at' may be at most 10 years ahead.", "invalid_value"));
    }
    if (expires_at_s * 1000 <= call.now_ms) fail(ApiError::invalid_request("expires_at", "'expires_at' must be in the future.", "invalid_value"));
    key.expires_at = expires_at_s * 1000;
  }
  if (read_nonnegative(body, "expires_in", expires_in_s)) {
    if (expires_in_s == 0 || expires_in_s > kMaxLifetimeSeconds) {
      fail(ApiError::invalid_request("expires_in", "'expires_in' must be from 1 second to 10 years.", "invalid_value"));
    }
    key.expires_at = call.now_ms + expires_in_s * 1000;
  }
  json view = api_key_view(key, call.now_ms);
  auto audit = audit_entry(call, "api_key.create", "api_key", key.id, org.id, nullptr, view);
  key = ctx.store().create_api_key(key, &audit);
  json answer = api_key_view(key, call.now_ms);
  answer["key"] = secret;  // the only time the secret is shown
  return reply(201, answer);
}

HttpReply key_item(Context& ctx, Call& call, const store::Org& org, const store::Environment& env,
                   const std::string& key_id) {
  store::ApiKey key = visible_key(ctx, env, key_id);
  if (call.http.method == "GET") return reply(200, api_key_view(key, call.now_ms));
  if (call.http.method != "DELETE") method_not_allowed(call);
  if (key.revoked_at) return reply(200, api_key_view(key, call.now_ms));  // already revoked: nothing changes
  json before = api_key_view(key, call.now_ms);
  store::ApiKey revoked = key;
  if (!revoked.revoked_at) revoked.revoked_at = call.now_ms;
  auto audit = audit_entry(call, "api_key.revoke", "api_key", key.id, org.id, before, api_key_view(revoked, call.now_ms));
  if (!ctx.store().revoke_api_key(key.id, call.now_ms, &audit)) fail(ApiError::not_found("No key '" + key_id + "'."));
  ctx.deps.on_auth_change();
  auto saved = ctx.store().get_api_key(key.id);
  return reply(200, api_key_view(saved ? *saved : revoked, call.now_ms));
}

HttpReply key_rotate(Context& ctx, Call& call, const store::Org& org, const store::Environment& env,
                     const std::string& key_id) {
  if (call.http.method != "POST") method_not_allowed(call);
  store::ApiKey old = visible_key(ctx, env, key_id);
  if (!old.replaced_by.empty()) {
    fail(ApiError{409, "invalid_request_error", "key_already_rotated", "",
                  "This key was already rotated (replaced by " + old.replaced_by + "); rotate the replacement instead."});
  }
  if (old.expires_at && *old.expires_at <= call.now_ms) {
    fail(ApiError{409, "invalid_request_error", "key_expired", "", "An expired key cannot be rotated; create a new one."});
  }
  const json& body = call.body();
  reject_unknown_fields(body, {"grace_period_seconds", "name"});
  std::int64_t grace = kDefaultGraceSeconds;
  read_nonnegative(body, "grace_period_seconds", grace);
  if (grace > kMaxGraceSeconds) {
    fail(ApiError::invalid_request("grace_period_seconds", "'grace_period_seconds' may be at most 30 days.", "invalid_value"));
  }
  std::string secret;
  store::ApiKey replacement = new_api_key(ctx, call, org, env, secret);
  replacement.name = old.name;
  read_string(body, "name", replacement.name);
  check_name(replacement.name);
  replacement.limits_json = old.limits_json;
  replacement.expires_at = old.expires_at;
  json before = api_key_view(old, call.now_ms);
  json after = api_key_view(replacement, call.now_ms);
  auto audit = audit_entry(call, "api_key.rotate", "api_key", old.id, org.id, before, after);
  // The old key works until the grace ends, or until it would have expired anyway.
  std::int64_t old_expires_at = call.now_ms + grace * 1000;
  if (old.expires_at) old_expires_at = std::min(old_expires_at, *old.expires_at);
  auto saved = ctx.store().rotate_api_key(old.id, replacement, old_expires_at, &audit);
  if (!saved) {
    fail(ApiError{409, "invalid_request_error", "key_not_rotatable", "", "A revoked or already rotated key cannot be rotated."});
  }
  ctx.deps.on_auth_change();
  json answer = api_key_view(*saved, call.now_ms);
  answer["key"] = secret;
  answer["rotated_from"] = old.id;
  answer["old_key_expires_at"] = old_expires_at / 1000;
  return reply(201, answer);
}

HttpReply admin_keys_collection(Context& ctx, Call& call, const store::Org& org) {
  require_operator(call, "manage admin keys");
  if (call.http.method == "GET") {
    auto page = ctx.store().list_admin_keys(org.id, call.page());
    json data = json::array();
    for (const auto& key : page.items) data.push_back(admin_key_view(key, call.now_ms));
    return reply(200, list_body(std::move(data), page.has_more));
  }
  if (call.http.method != "POST") method_not_allowed(call);
  const json& body = call.body();
  reject_unknown_fields(body, {"name"});
  std::string secret = auth::generate_api_key("admin");
  store::AdminKey key;
  key.id = new_id("adk");
  key.org_id = org.id;
  read_string(body, "name", key.name);
  check_name(key.name);
  key.prefix = auth::api_key_prefix(secret);
  key.hash = ctx.deps.hasher.hash(secret);
  key.created_at = call.now_ms;
  auto audit = audit_entry(call, "admin_key.create", "admin_key", key.id, org.id, nullptr, admin_key_view(key, call.now_ms));
  key = ctx.store().create_admin_key(key, &audit);
  json answer = admin_key_view(key, call.now_ms);
  answer["key"] = secret;
  return reply(201, answer);
}

HttpReply admin_key_item(Context& ctx, Call& call, const store::Org& org, const std::string& key_id) {
  require_operator(call, "manage admin keys");
  std::optional<store::AdminKey> match;
  store::Page page{"", 1000};
  for (;;) {
    auto result = ctx.store().list_admin_keys(org.id, page);
    for (const auto& key : result.items) {
      if (key.id == key_id) match = key;
    }
    if (match || !result.has_more || result.items.empty()) break;
    page.after = result.items.back().id;
  }
  if (!match) fail(ApiError::not_found("No admin key '" + key_id + "'."));
  const store::AdminKey* found = &*match;
  if (call.http.method == "GET") return reply(200, admin_key_view(*found, call.now_ms));
  if (call.http.method != "DELETE") method_not_allowed(call);
  if (found->revoked_at) return reply(200, admin_key_view(*found, call.now_ms));
  store::AdminKey revoked = *found;
  if (!revoked.revoked_at) revoked.revoked_at = call.now_ms;
  auto audit = audit_entry(call, "admin_key.revoke", "admin_key", found->id, org.id, admin_key_view(*found, call.now_ms),
                           admin_key_view(revoked, call.now_ms));
  ctx.store().revoke_admin_key(found->id, call.now_ms, &audit);
  return reply(200, admin_key_view(revoked, call.now_ms));
}

}  // namespace cic::admin::detail
