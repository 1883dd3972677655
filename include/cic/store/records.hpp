#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cic::store {

/// Times are Unix milliseconds; money is integer micro-dollars.

struct Org {
  std::string id;  // "org_..." (assigned by the store when empty)
  std::string name;  // unique
  std::string email;
  std::string plan = "free";
  std::int64_t created_at = 0;
};

struct Environment {
  std::string id;  // "env_..."
  std::string org_id;
  std::string name;  // dev | staging | prod; unique within the org
  std::string region;
  std::vector<std::string> models;  // enabled model ids
  std::int64_t created_at = 0;
};

struct ApiKey {
  std::string id;  // "key_..."
  std::string org_id;
  std::string environment_id;
  std::string name;
  std::string prefix;  // the visible start of the key, e.g. "sk_dev_AbC1"
  std::string hash;    // hex HMAC-SHA256 of the whole key; unique
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::optional<std::int64_t> revoked_at;
  std::optional<std::int64_t> last_used_at;
};

struct Model {
  std::string id;
  std::string family;
  std::string kind;  // chat | completion | embedding
  std::int64_t context_length = 0;
};

struct Node {
  std::string id;
  std::string provider;
  std::string region;
  std::string instance_type;
  std::vector<std::string> models;
  std::string endpoint;
  bool spot = false;
  std::int64_t price_per_hour_micros = 0;
  std::int64_t capacity_tokens_per_sec = 0;
  std::string state;  // launching | ready | draining | drained | dead
  std::int64_t updated_at = 0;
};

struct UsageRecord {
  std::string request_id;  // unique: inserting it twice keeps one row
  std::string org_id;
  std::string environment_id;
  std::string api_key_id;
  std::string model;
  std::string region;
  std::string node_id;
  std::string endpoint;  // chat.completions | completions | embeddings
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t latency_ms = 0;
  std::int64_t ttft_ms = 0;
  int status = 0;  // HTTP status the client saw
  bool streamed = false;
  bool cancelled = false;
  std::int64_t created_at = 0;
};

}  // namespace cic::store
