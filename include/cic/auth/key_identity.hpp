#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cic::auth {

/// Everything the hot path needs to know about an authenticated key, resolved once and cached.
struct KeyIdentity {
  std::string key_id;
  std::string key_hash;
  std::string org_id;
  std::string org_name;
  std::string environment_id;
  std::string environment_name;
  std::string region;
  bool strict_residency = false;    // the environment's data must not leave `region`
  std::vector<std::string> models;  // enabled for the environment
  std::string plan;
  // Limits resolved once per cache fill (the environment's fall back to the plan's defaults);
  // 0 = none. Enforced by the limits module.
  std::int64_t key_rpm = 0, key_tpm = 0, key_concurrency = 0;
  std::int64_t env_rpm = 0, env_tpm = 0, env_concurrency = 0;
  std::int64_t env_monthly_tokens = 0, env_monthly_spend_micros = 0;
  std::int64_t org_monthly_spend_micros = 0;
  std::int64_t org_monthly_tokens = 0;  // the plan's free monthly allowance (free plan), 0 = none
  std::optional<std::int64_t> expires_at;  // unix ms

  bool model_enabled(const std::string& model) const;
  bool expired(std::int64_t now_unix_ms) const { return expires_at && *expires_at <= now_unix_ms; }
};

}  // namespace cic::auth
