#include "views.hpp"

#include <algorithm>

namespace cic::admin::detail {

using nlohmann::json;

json seconds(const std::optional<std::int64_t>& ms) {
  if (!ms) return nullptr;
  return *ms / 1000;
}

json usd(std::int64_t micros) {
  // Whole dollars stay integers in JSON; cents and below keep their digits.
  if (micros % 1'000'000 == 0) return micros / 1'000'000;
  return static_cast<double>(micros) / 1'000'000.0;
}

const char* key_state(const std::optional<std::int64_t>& expires_at, const std::optional<std::int64_t>& revoked_at,
                      std::int64_t now_ms) {
  if (revoked_at && *revoked_at <= now_ms) return "revoked";
  if (expires_at && *expires_at <= now_ms) return "expired";
  return "active";
}

config::RateLimits effective_limits(const std::string& limits_json, const config::RateLimits& defaults) {
  config::RateLimits limits = defaults;
  json stored = json::parse(limits_json, nullptr, false);
  if (!stored.is_object()) return limits;
  auto take = [&](const char* key, std::int64_t& out) {
    if (auto it = stored.find(key); it != stored.end() && it->is_number_integer()) out = it->get<std::int64_t>();
  };
  take("rpm", limits.rpm);
  take("tpm", limits.tpm);
  take("concurrency", limits.concurrency);
  return limits;
}

json limits_view(const config::RateLimits& limits) {
  return json{{"rpm", limits.rpm}, {"tpm", limits.tpm}, {"concurrency", limits.concurrency}};
}

json org_view(const store::Org& org) {
  return json{{"id", org.id},
              {"object", "organization"},
              {"name", org.name},
              {"email", org.email},
              {"plan", org.plan},
              {"monthly_spend_cap_usd", usd(org.monthly_spend_cap_micros)},
              {"created_at", org.created_at / 1000},
              {"updated_at", org.updated_at / 1000}};
}

json environment_view(const store::Environment& env, const config::Config& config, const std::string& plan) {
  const config::PlanConfig* p = config.find_plan(plan);
  config::RateLimits limits = effective_limits(env.limits_json, p ? p->default_limits : config::RateLimits{});
  return json{{"id", env.id},
              {"object", "environment"},
              {"org_id", env.org_id},
              {"name", env.name},
              {"region", env.region},
              {"models", env.models},
              {"limits", limits_view(limits)},
              {"monthly_token_quota", env.monthly_token_quota},
              {"monthly_spend_cap_usd", usd(env.monthly_spend_cap_micros)},
              {"data_residency", env.data_residency},
              {"created_at", env.created_at / 1000},
              {"updated_at", env.updated_at / 1000}};
}

json api_key_view(const store::ApiKey& key, std::int64_t now_ms) {
  json limits = json::parse(key.limits_json, nullptr, false);
  if (!limits.is_object()) limits = json::object();
  return json{{"id", key.id},
              {"object", "api_key"},
              {"org_id", key.org_id},
              {"environment_id", key.environment_id},
              {"name", key.name},
              {"prefix", key.prefix},
              {"limits", limits},
              {"created_at", key.created_at / 1000},
              {"last_used_at", seconds(key.last_used_at)},
              {"expires_at", seconds(key.expires_at)},
              {"revoked_at", seconds(key.revoked_at)},
              {"replaced_by", key.replaced_by.empty() ? json(nullptr) : json(key.replaced_by)},
              {"state", key_state(key.expires_at, key.revoked_at, now_ms)}};
}

json admin_key_view(const store::AdminKey& key, std::int64_t now_ms) {
  return json{{"id", key.id},
              {"object", "admin_key"},
              {"org_id", key.org_id},
              {"name", key.name},
              {"prefix", key.prefix},
              {"created_at", key.created_at / 1000},
              {"last_used_at", seconds(key.last_used_at)},
              {"revoked_at", seconds(key.revoked_at)},
              {"state", key_state(std::nullopt, key.revoked_at, now_ms)}};
}

json audit_view(const store::AuditEntry& entry) {
  json before = json::parse(entry.before_json, nullptr, false);
  json after = json::parse(entry.after_json, nullptr, false);
  return json{{"id", entry.id},
              {"object", "audit_entry"},
              {"at", entry.at / 1000},
              {"at_ms", entry.at},
              {"actor", entry.actor},
              {"action", entry.action},
              {"target_type", entry.target_type},
              {"target_id", entry.target_id},
              {"org_id", entry.org_id.empty() ? json(nullptr) : json(entry.org_id)},
              {"request_id", entry.request_id},
              {"before", before.is_discarded() ? json(nullptr) : before},
              {"after", after.is_discarded() ? json(nullptr) : after}};
}

}  // namespace cic::admin::detail
