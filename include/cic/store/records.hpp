#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cic::store {

/// Times are Unix milliseconds; money is integer micro-dollars.

struct Org {
  std::string id;  // "org_..." (assigned by the store when empty)
  std::string name;  // unique among orgs that are not deleted
  std::string email;
  std::string plan = "free";
  std::int64_t monthly_spend_cap_micros = 0;  // 0 = no cap
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::optional<std::int64_t> deleted_at;  // deleted orgs are invisible to find/list
};

struct Environment {
  std::string id;  // "env_..."
  std::string org_id;
  std::string name;  // dev | staging | prod; unique within the org
  std::string region;
  std::vector<std::string> models;  // enabled model ids
  std::string limits_json = "{}";   // {"rpm":..,"tpm":..,"concurrency":..}; enforced by limits
  std::int64_t monthly_token_quota = 0;       // 0 = none
  std::int64_t monthly_spend_cap_micros = 0;  // 0 = none
  std::string data_residency = "flexible";    // flexible | strict
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::optional<std::int64_t> deleted_at;
};

struct ApiKey {
  std::string id;  // "key_..."
  std::string org_id;
  std::string environment_id;
  std::string name;
  std::string prefix;  // the visible start of the key, e.g. "sk_dev_AbC1"
  std::string hash;    // hex HMAC-SHA256 of the whole key; unique
  std::string limits_json = "{}";
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::optional<std::int64_t> revoked_at;
  std::optional<std::int64_t> last_used_at;
  std::string replaced_by;  // id of the key that a rotation issued in its place
};

/// An org admin key (`sk_admin_...`): manages one org over the admin API.
struct AdminKey {
  std::string id;  // "adk_..."
  std::string org_id;
  std::string name;
  std::string prefix;
  std::string hash;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
  std::optional<std::int64_t> last_used_at;
};

/// One mutating admin call. Written in the same transaction as the change it describes.
struct AuditEntry {
  std::string id;           // "aud_..." (assigned when empty; time-ordered)
  std::int64_t at = 0;      // unix ms
  std::string actor;        // "operator" or "admin_key:<id>"
  std::string action;       // e.g. "org.create", "api_key.rotate"
  std::string target_type;  // org | environment | api_key | admin_key
  std::string target_id;
  std::string org_id;       // the org the target belongs to ("" for none)
  std::string request_id;
  std::string before_json = "null";  // secrets removed
  std::string after_json = "null";
};

struct AuditFilter {
  std::string org_id;
  std::string actor;
  std::string action;
  std::int64_t from_ms = 0;  // inclusive; 0 = no bound
  std::int64_t to_ms = 0;    // exclusive; 0 = no bound
};

/// Keyset pagination: items ordered by id, starting after `after` (empty = from the start).
struct Page {
  std::string after;
  std::size_t limit = 20;
};

template <class T>
struct PageResult {
  std::vector<T> items;
  bool has_more = false;
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
  std::int64_t updated_at = 0;  // 0 on upsert = now
  std::string source = "config";  // config | admin | agent: who declared the node
  std::string token_hash;  // hex HMAC of the node's registration token; "" = none. Unique if set
  std::int64_t created_at = 0;  // first insert; 0 on upsert = now. Kept by later upserts
  std::int64_t eviction_deadline = 0;
  /// Unix ms of the agent's last heartbeat (0 = none). Written only by touch_node_heartbeats;
  /// upsert_node leaves it alone.
  std::int64_t last_heartbeat_at = 0;  // unix ms when a draining node is removed; 0 = none
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

/// One hour of usage of one (org, environment, model, region): the sums of the usage records
/// whose created_at falls in [hour_start, hour_start + 1 h). Maintained by insert_usage in the
/// same transaction as the records, counting only records that were new.
struct UsageHourly {
  std::string org_id;
  std::string environment_id;
  std::string model;
  std::string region;
  std::int64_t hour_start = 0;  // unix ms, a multiple of 3,600,000
  std::int64_t requests = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_tokens = 0;
};

/// Which rollups list_usage_hourly returns; an empty string or a 0 bound matches everything.
struct UsageHourlyFilter {
  std::string org_id;
  std::string environment_id;
  std::string model;
  std::string region;
  std::int64_t from_ms = 0;  // hour_start >= from_ms
  std::int64_t to_ms = 0;    // hour_start < to_ms
};

// --- Credit ledger (migration 0006; src/store/*_credits.cpp) ---------------------------------

/// One row of an org's credit ledger. Append-only: a grant is a positive row; a consumption or a
/// correction is a negative row naming the grant it draws from. Money in integer micro-dollars.
struct CreditEntry {
  std::string id;        // "crd_..." (assigned by the store when empty)
  std::string org_id;
  std::string kind;      // signup_bonus | referral | promotional | paid | adjustment
  std::int64_t amount_micros = 0;  // > 0 grant, < 0 consumption / correction; never 0
  std::optional<std::int64_t> expires_at;  // unix ms; a grant is unusable from then on
  std::int64_t created_at = 0;             // unix ms; 0 = now
  std::string note;
  std::string idempotency_key;  // unique per org; empty = the id (no deduplication)
  std::string grant_id;         // negative rows: the grant debited; "" for grants
};

/// What add_credit did: the row now in the ledger, and whether this call wrote it.
struct CreditAddResult {
  CreditEntry entry;
  bool created = false;
};

/// A closed month of an org (migration 0008): the invoice's totals, in integer micro-dollars.
struct MonthlyInvoice {
  std::string org_id;
  std::int64_t period_start = 0;  // unix ms, first instant of the UTC month
  std::int64_t period_end = 0;    // unix ms, first instant of the next month
  std::int64_t total_tokens = 0;
  std::int64_t subtotal_micros = 0;
  std::int64_t discount_micros = 0;
  std::int64_t free_allowance_micros = 0;
  std::int64_t promotional_credits_micros = 0;
  std::int64_t paid_credits_micros = 0;
  std::int64_t amount_due_micros = 0;
  std::int64_t closed_at = 0;  // unix ms; 0 = now
};

// --- Stripe and alerts (migration 0007; src/store/*_stripe.cpp) ------------------------------

/// The Stripe customer an org's usage is reported to.
struct StripeCustomer {
  std::string org_id;
  std::string customer_id;  // "cus_..."
  std::int64_t created_at = 0;  // 0 = now; usage of hours before this one's hour is never reported
  std::int64_t updated_at = 0;  // 0 = now
};

/// One meter event sent (or about to be sent) to Stripe for one hour of an org's usage. Written
/// as `pending` before the first attempt, so every retry resends the same identifier with the same
/// value; `acked` once Stripe answered 2xx (or said it already has the identifier); `rejected`
/// when Stripe refused it for good (4xx other than auth). An hour whose usage grew after it was
/// reported gets another report for the difference, with the next `seq`.
struct StripeMeterReport {
  std::string identifier;  // Stripe's dedupe key, unique: cic-<org>-<meter>-<hour s>[-<seq>]
  std::string org_id;
  std::string event_name;
  std::string customer_id;
  std::int64_t hour_start = 0;  // unix ms, a multiple of 3,600,000
  std::int64_t seq = 1;         // 1, 2, ... per (org, hour)
  std::int64_t value = 0;       // tokens
  std::string status = "pending";  // pending | acked | rejected
  std::string error;               // why it was rejected
  std::int64_t created_at = 0;     // 0 = now
  std::optional<std::int64_t> acked_at;
};

/// A Stripe webhook event we keep (invoice.* and payment_intent.*), once per event id.
struct StripeEvent {
  std::string id;    // "evt_..."
  std::string type;  // e.g. invoice.payment_failed
  std::string customer_id;  // data.object.customer ("" if none)
  std::string object_id;    // data.object.id
  std::int64_t created = 0;      // Stripe's `created` (unix seconds)
  std::int64_t received_at = 0;  // unix ms; 0 = now
  std::string payload_json;      // the raw event
};

/// Which events list_stripe_events returns: received at or after since_ms, of one of `types`
/// (empty = any), oldest first, at most `limit`.
struct StripeEventFilter {
  std::vector<std::string> types;
  std::int64_t since_ms = 0;
  std::size_t limit = 1000;
};

/// An alert, kept so it fires once per (org, subject, kind, period); re-sent until delivered.
struct AlertRecord {
  std::string id;       // deterministic from (org, subject, kind, period)
  std::string org_id;
  std::string subject;  // the org id or an environment id
  std::string kind;     // budget_80 | budget_100 | spend_spike | credit_expiring | payment_failed
  std::string period;   // e.g. "2025-06", "2025-06-17", a grant or invoice id
  std::string payload_json;  // the exact body delivered
  std::int64_t created_at = 0;  // 0 = now
  std::optional<std::int64_t> delivered_at;
  std::int64_t attempts = 0;
};

}  // namespace cic::store
