#include "cic/auth/key_resolver.hpp"

namespace cic::auth {

std::shared_ptr<const KeyIdentity> blocking_resolve_key(store::Store& store, const std::string& hash,
                                                        std::int64_t now_unix_ms) {
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
  identity->limits_json = env->limits_json;
  identity->key_limits_json = key->limits_json;
  identity->plan = org->plan;
  identity->expires_at = key->expires_at;
  return identity;
}

}  // namespace cic::auth
