#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cic/store/records.hpp"

namespace cic::store {

/// Any failure of the backing database (connection lost, constraint, SQL error).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A unique constraint was violated (e.g. an org name that exists).
class StoreConflict : public StoreError {
 public:
  using StoreError::StoreError;
};

/// The persistent state of cic-control. Every method BLOCKS on the database: call it only from the
/// blocking thread pool, never from an event-loop thread. Implementations are thread-safe (each
/// call takes its own connection or serializes on one).
class Store {
 public:
  virtual ~Store() = default;

  /// Applies pending versioned migrations (idempotent). Called once at start.
  virtual void migrate() = 0;
  /// The highest applied migration version.
  virtual int schema_version() = 0;
  /// Cheap round trip, for readiness.
  virtual bool ping() = 0;

  // Mutations that an admin call makes take its AuditEntry (nullptr for internal changes such as
  // bootstrap) and write it in the same transaction. On PostgreSQL, every change that can affect
  // authentication (orgs, environments, keys, admin keys) also sends NOTIFY cic_invalidate.
  // Node mutations (upsert_node, and delete_node / update_node_state when the node existed)
  // instead send NOTIFY cic_nodes (payload: the node id, informational) in their transaction, so
  // other replicas reload the node table; they never send cic_invalidate. ChangeListener does not
  // listen on cic_nodes: a replica that wants node changes LISTENs on that channel itself.

  virtual Org create_org(Org org, const AuditEntry* audit = nullptr) = 0;  // StoreConflict on name
  virtual std::optional<Org> find_org(std::string_view id_or_name) = 0;     // not deleted
  virtual PageResult<Org> list_orgs(const Page& page) = 0;
  /// Updates name, email, plan, monthly_spend_cap_micros; sets updated_at. nullopt if not found.
  virtual std::optional<Org> update_org(const Org& org, const AuditEntry* audit) = 0;
  /// Marks the org deleted and revokes every API key and admin key in it. False if not found.
  virtual bool delete_org(std::string_view org_id, std::int64_t now_ms, const AuditEntry* audit) = 0;

  virtual Environment create_environment(Environment env, const AuditEntry* audit = nullptr) = 0;  // StoreConflict on (org, name)
  virtual std::optional<Environment> find_environment(std::string_view org_id,
                                                      std::string_view id_or_name) = 0;  // not deleted
  virtual std::optional<Environment> get_environment(std::string_view id) = 0;        // not deleted
  virtual PageResult<Environment> list_environments(std::string_view org_id, const Page& page) = 0;
  /// Updates region, models, limits_json, quotas, data_residency; sets updated_at.
  virtual std::optional<Environment> update_environment(const Environment& env, const AuditEntry* audit) = 0;
  /// Marks it deleted and revokes its keys. False if not found.
  virtual bool delete_environment(std::string_view env_id, std::int64_t now_ms, const AuditEntry* audit) = 0;

  virtual ApiKey create_api_key(ApiKey key, const AuditEntry* audit = nullptr) = 0;
  virtual std::optional<ApiKey> find_api_key_by_hash(std::string_view hash) = 0;
  virtual std::optional<ApiKey> get_api_key(std::string_view id) = 0;
  virtual PageResult<ApiKey> list_api_keys(std::string_view environment_id, const Page& page) = 0;
  /// Sets revoked_at (if not already revoked). False if not found.
  virtual bool revoke_api_key(std::string_view key_id, std::int64_t now_ms, const AuditEntry* audit) = 0;
  /// In one transaction: inserts `replacement`, and sets the old key's expires_at to
  /// `old_expires_at` (unless it already expires earlier) and replaced_by. nullopt if the old key
  /// does not exist or is revoked.
  virtual std::optional<ApiKey> rotate_api_key(std::string_view old_key_id, ApiKey replacement,
                                               std::int64_t old_expires_at, const AuditEntry* audit) = 0;
  /// Batched `last_used_at` updates: (key id, unix ms). Never called per request.
  virtual void touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) = 0;

  virtual AdminKey create_admin_key(AdminKey key, const AuditEntry* audit) = 0;
  virtual std::optional<AdminKey> find_admin_key_by_hash(std::string_view hash) = 0;
  virtual PageResult<AdminKey> list_admin_keys(std::string_view org_id, const Page& page) = 0;
  virtual bool revoke_admin_key(std::string_view key_id, std::int64_t now_ms, const AuditEntry* audit) = 0;

  /// Newest first; `page.after` is an audit id.
  virtual PageResult<AuditEntry> list_audit(const AuditFilter& filter, const Page& page) = 0;

  virtual void upsert_model(const Model& model) = 0;
  virtual std::vector<Model> list_models() = 0;

  /// Inserts the node, or updates every column of the row with its id, except created_at, which
  /// keeps the first insert's value. created_at / updated_at of 0 mean now. StoreConflict when
  /// another node already has the same non-empty token_hash (nothing is written then).
  virtual void upsert_node(const Node& node, const AuditEntry* audit = nullptr) = 0;
  virtual std::optional<Node> find_node(std::string_view id) = 0;
  /// The node registered with this token hash; "" never matches.
  virtual std::optional<Node> find_node_by_token_hash(std::string_view hash) = 0;
  /// Removes the row. False (and no audit entry) if there was none.
  virtual bool delete_node(std::string_view id, const AuditEntry* audit) = 0;
  /// Sets state, eviction_deadline (0 = none) and updated_at = now_ms; the other columns stay.
  /// False (and no audit entry) if the node does not exist.
  virtual bool update_node_state(std::string_view id, std::string_view state,
                                 std::int64_t eviction_deadline, std::int64_t now_ms,
                                 const AuditEntry* audit) = 0;
  /// Every node, ordered by id.
  virtual std::vector<Node> list_nodes() = 0;
  /// Batched agent heartbeats: (node id, unix ms); a time older than the stored one is ignored.
  /// No audit, no NOTIFY (replicas poll). Unknown ids are skipped.
  virtual void touch_node_heartbeats(const std::vector<std::pair<std::string, std::int64_t>>& beats) = 0;

  /// Inserts usage records in one transaction; a request_id already present (or repeated in the
  /// batch: the first one wins) is skipped. The hourly rollups (usage_hourly) of the rows that
  /// were new are added in the same transaction, so inserting a batch again changes nothing.
  /// Returns how many rows were new.
  virtual std::size_t insert_usage(const std::vector<UsageRecord>& records) = 0;
  /// Hourly rollups matching `filter`, ordered by hour_start, then org, environment, model, region.
  virtual std::vector<UsageHourly> list_usage_hourly(const UsageHourlyFilter& filter) = 0;
  /// Records with created_at >= since_ms, oldest first, at most `limit`.
  virtual std::vector<UsageRecord> list_usage(std::int64_t since_ms, std::size_t limit) = 0;
  virtual std::size_t count_usage() = 0;

  // --- Credit ledger (src/store/*_credits.cpp) ------------------------------------------------
  /// Appends `entry` (id and created_at assigned when empty/0; idempotency_key defaults to the id)
  /// with its audit entry, in one transaction. When the org already has a row with the same
  /// idempotency_key nothing is written (no audit either) and that row comes back with
  /// created = false. StoreError when the org does not exist.
  virtual CreditAddResult add_credit(CreditEntry entry, const AuditEntry* audit = nullptr) = 0;
  /// Every ledger row of the org, oldest first (created_at, then id).
  virtual std::vector<CreditEntry> list_credits(std::string_view org_id) = 0;
  /// Closes a month: inserts `invoice` and the credit consumptions it took (negative rows, with
  /// their idempotency keys) in one transaction. When the org's month is closed already (by an
  /// earlier pass or another replica) nothing is written and the answer is false. StoreError
  /// when the org does not exist.
  virtual bool close_month(MonthlyInvoice invoice, const std::vector<CreditEntry>& consumptions) = 0;
  /// The org's closed months, oldest first.
  virtual std::vector<MonthlyInvoice> list_monthly_invoices(std::string_view org_id) = 0;

  // --- Stripe and alerts (src/store/*_stripe.cpp) ----------------------------------------------
  /// Maps the org to a Stripe customer (insert or replace; created_at of an existing mapping is
  /// kept), with its audit entry, in one transaction. When the customer changes, the org's
  /// rejected meter reports go back to pending for the new customer (a report Stripe rejected
  /// never reached a meter, so it can be sent again). StoreError when the org does not exist.
  virtual StripeCustomer set_stripe_customer(StripeCustomer customer, const AuditEntry* audit) = 0;
  virtual std::optional<StripeCustomer> find_stripe_customer(std::string_view org_id) = 0;
  /// Every mapping, ordered by org id.
  virtual std::vector<StripeCustomer> list_stripe_customers() = 0;
  /// Inserts a pending report. False (nothing written) when a report with the same identifier or
  /// the same (org, hour, seq) exists, e.g. written by another replica.
  virtual bool insert_stripe_meter_report(const StripeMeterReport& report) = 0;
  /// Sets status, error and acked_at of the report with this identifier. False if there is none.
  virtual bool update_stripe_meter_report(std::string_view identifier, std::string_view status,
                                          std::string_view error,
                                          std::optional<std::int64_t> acked_at) = 0;
  /// Reports with hour_start >= from_hour_ms (of one org, or of all when org_id is empty),
  /// ordered by hour_start, org, seq.
  virtual std::vector<StripeMeterReport> list_stripe_meter_reports(std::string_view org_id,
                                                                   std::int64_t from_hour_ms) = 0;
  /// Keeps a webhook event once: false (nothing written) when its id is already stored.
  virtual bool record_stripe_event(const StripeEvent& event) = 0;
  virtual std::vector<StripeEvent> list_stripe_events(const StripeEventFilter& filter) = 0;
  /// Claims an alert: true when this call inserted it, false when the same (org, subject, kind,
  /// period) was claimed before (by this or another replica).
  virtual bool claim_alert(const AlertRecord& alert) = 0;
  /// Counts a delivery attempt; sets delivered_at when `delivered_at` is given.
  virtual void update_alert_delivery(std::string_view alert_id, std::optional<std::int64_t> delivered_at) = 0;
  /// Alerts created at or after since_ms and not delivered yet, oldest first, at most `limit`.
  virtual std::vector<AlertRecord> list_undelivered_alerts(std::int64_t since_ms, std::size_t limit) = 0;
  /// The org's alerts, oldest first.
  virtual std::vector<AlertRecord> list_alerts(std::string_view org_id) = 0;
};

/// Blocks until another process changed something that authentication depends on, or `timeout`
/// passes. Returns true if a change was seen. Only PostgreSQL has one (LISTEN cic_invalidate);
/// other stores are single-process and the admin API invalidates the cache directly.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  virtual bool wait(std::chrono::milliseconds timeout) = 0;
};

/// A listener on a dedicated connection, or nullptr when the store has none. BLOCKING.
std::unique_ptr<ChangeListener> make_change_listener(const std::string& postgres_dsn);

/// SQLite file at `path` (created with its directory if missing; WAL journal).
std::unique_ptr<Store> make_sqlite_store(const std::string& path);
/// PostgreSQL through libpqxx with up to `pool_size` connections.
std::unique_ptr<Store> make_postgres_store(const std::string& dsn, unsigned pool_size);

}  // namespace cic::store
