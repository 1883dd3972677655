#pragma once
// JSON views of stored records, as the admin API shows them. None contains a secret: keys show
// their prefix only, and hashes never leave the store.
#include <nlohmann/json.hpp>

#include "cic/config/config.hpp"
#include "cic/store/records.hpp"

namespace cic::admin::detail {

nlohmann::json org_view(const store::Org& org);
nlohmann::json environment_view(const store::Environment& env, const config::Config& config,
                                const std::string& plan);
nlohmann::json api_key_view(const store::ApiKey& key, std::int64_t now_ms);
nlohmann::json admin_key_view(const store::AdminKey& key, std::int64_t now_ms);
nlohmann::json audit_view(const store::AuditEntry& entry);

/// active | expired | revoked, as of `now_ms`.
const char* key_state(const std::optional<std::int64_t>& expires_at, const std::optional<std::int64_t>& revoked_at,
                      std::int64_t now_ms);

/// Unix seconds for the API (the store keeps milliseconds); null for absent.
nlohmann::json seconds(const std::optional<std::int64_t>& ms);
/// Micro-dollars as a decimal USD number.
nlohmann::json usd(std::int64_t micros);

/// An environment's limits object, as stored in limits_json, with the plan's defaults for what
/// it does not set.
config::RateLimits effective_limits(const std::string& limits_json, const config::RateLimits& defaults);
nlohmann::json limits_view(const config::RateLimits& limits);

}  // namespace cic::admin::detail
