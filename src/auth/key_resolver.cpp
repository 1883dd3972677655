#include "cic/auth/key_resolver.hpp"

#include <nlohmann/json.hpp>

namespace cic::auth {
namespace {

// Reads {"rpm","tpm","concurrency"} from stored JSON over `defaults`; anything malformed keeps
// the default.
config::RateLimits read_limits(const std::string& text, config::RateLimits defaults) {
  nlohmann::json stored = nlohmann::json::parse(text, nullptr, false);
  if (!stored.is_object()) return defaults;
  auto take = [&](const char* key, std::int64_t& out) {
    if (auto it = stored.find(key); it != stored.end() && it->is_number_integer() && it->get<std::int64_t>() >= 0) {
      out = it->get<std::int64_t>();
    }
  };
  take("rpm", defaults.rpm);
  take("tpm", defaults.tpm);
  take("concurrency", defaults.concurrency);
  return defaults;
}

}  // namespace

std::shared_ptr<const KeyIdentity> blocking_resolve_key(store::Store& store, const std::string& hash,
                                                        std::int64_t now_unix_ms, const config::Config& config) {
  auto key = store.find_api_key_by_hash(hash);
  if (!key || (key->revoked_at && *key->revoked_at <= now_unix_ms)) return nullptr;
  auto env = store.get_environment(key->environment_id);
  if (!env) return nullptr;
  auto org = store.find_org(key->org_id);
  if (!org) return nullptr;
  auto identity = std::make_shared<KeyIdentity>();
  identity->key_id = key->id;
  identity->key_hash = key->hash;
  identity->org_id = org->id;
  identity->org_name = org->name;
  identity->environment_id = env->id;
  identity->environment_name = env->name;
  identity->region = env->region;
  identity->strict_residency = env->data_residency == "strict";
  identity->models = env->models;
  identity->plan = org->plan;
  const config::PlanConfig* plan = config.find_plan(org->plan);
  config::RateLimits env_limits = read_limits(env->limits_json, plan ? plan->default_limits : config::RateLimits{});
  config::RateLimits key_limits = read_limits(key->limits_json, config::RateLimits{});
  identity->env_rpm = env_limits.rpm;
  identity->env_tpm = env_limits.tpm;
  identity->env_concurrency = env_limits.concurrency;
  identity->key_rpm = key_limits.rpm;
  identity->key_tpm = key_limits.tpm;
  identity->key_concurrency = key_limits.concurrency;
  identity->env_monthly_tokens = env->monthly_token_quota;
  identity->env_monthly_spend_micros = env->monthly_spend_cap_micros;
  identity->org_monthly_spend_micros = org->monthly_spend_cap_micros;
  // The plan's hard monthly cap (the built-in free plan stops at its allowance); the allowance
  // itself is a price matter, applied by the invoice.
  identity->org_monthly_tokens = plan ? plan->monthly_token_quota : 0;
  identity->expires_at = key->expires_at;
  return identity;
}

}  // namespace cic::auth
