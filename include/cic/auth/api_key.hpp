#pragma once
#include <string>
#include <string_view>

namespace cic::auth {

/// API keys look like `sk_{env}_{40 random base62}{6 base62 checksum}`, e.g. `sk_dev_4fT...`.
/// 40 base62 characters carry 238 bits from the CSPRNG; the checksum (CRC-32 of everything before
/// it) lets the gateway reject typos and scanner noise without touching the key store.

/// A fresh key for environment `env` (lowercase letters only, e.g. "dev", "prod", "admin").
std::string generate_api_key(std::string_view env);

/// Whether `key` has the shape of a key we issued and its checksum matches. Cheap; no lookup.
bool has_valid_api_key_shape(std::string_view key);

/// The environment part of a well-shaped key ("dev" for "sk_dev_..."); empty otherwise.
std::string_view api_key_environment(std::string_view key);

/// The visible prefix stored and shown in listings: "sk_{env}_" + the first 4 random characters.
std::string api_key_prefix(std::string_view key);

}  // namespace cic::auth
