#pragma once
#include <mutex>
#include <string>

#include "cic/store/store.hpp"
#include "sqlite_db.hpp"

namespace cic::store {

/// The embedded default: one SQLite file, one connection, one mutex.
///
/// Why a single connection: SQLite allows one writer per file at a time no matter how many
/// connections exist, and nearly all of cic-control's store traffic is writes (usage batches, key
/// touches, node heartbeats) or tiny point reads. Several connections would only turn our own
/// contention into SQLITE_BUSY retries and multiply the prepared-statement caches; the mutex makes
/// the queueing explicit and cheap. Other processes are still handled by WAL + busy_timeout.
class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path);

  void migrate() override;
  int schema_version() override;
  bool ping() override;

  Org create_org(Org org, const AuditEntry* audit) override;
  std::optional<Org> find_org(std::string_view id_or_name) override;
  PageResult<Org> list_orgs(const Page& page) override;
  std::optional<Org> update_org(const Org& org, const AuditEntry* audit) override;
  bool delete_org(std::string_view org_id, std::int64_t now_ms, const AuditEntry* audit) override;

  Environment create_environment(Environment env, const AuditEntry* audit) override;
  std::optional<Environment> find_environment(std::string_view org_id,
                                              std::string_view id_or_name) override;
  std::optional<Environment> get_environment(std::string_view id) override;
  PageResult<Environment> list_environments(std::string_view org_id, const Page& page) override;
  std::optional<Environment> update_environment(const Environment& env,
                                                const AuditEntry* audit) override;
  bool delete_environment(std::string_view env_id, std::int64_t now_ms,
                          const AuditEntry* audit) override;

  ApiKey create_api_key(ApiKey key, const AuditEntry* audit) override;
  std::optional<ApiKey> find_api_key_by_hash(std::string_view hash) override;
  std::optional<ApiKey> get_api_key(std::string_view id) override;
  PageResult<ApiKey> list_api_keys(std::string_view environment_id, const Page& page) override;
  bool revoke_api_key(std::string_view key_id, std::int64_t now_ms, const AuditEntry* audit) override;
  std::optional<ApiKey> rotate_api_key(std::string_view old_key_id, ApiKey replacement,
                                       std::int64_t old_expires_at, const AuditEntry* audit) override;
  void touch_api_keys(const std::vector<std::pair<std::string, std::int64_t>>& last_used) override;

  AdminKey create_admin_key(AdminKey key, const AuditEntry* audit) override;
  std::optional<AdminKey> find_admin_key_by_hash(std::string_view hash) override;
  PageResult<AdminKey> list_admin_keys(std::string_view org_id, const Page& page) override;
  bool revoke_admin_key(std::string_view key_id, std::int64_t now_ms, const AuditEntry* audit) override;

  PageResult<AuditEntry> list_audit(const AuditFilter& filter, const Page& page) override;

  void upsert_model(const Model& model) override;
  std::vector<Model> list_models() override;

  void upsert_node(const Node& node, const AuditEntry* audit) override;
  std::optional<Node> find_node(std::string_view id) override;
  std::optional<Node> find_node_by_token_hash(std::string_view hash) override;
  bool delete_node(std::string_view id, const AuditEntry* audit) override;
  bool update_node_state(std::string_view id, std::string_view state,
                         std::int64_t eviction_deadline, std::int64_t now_ms,
                         const AuditEntry* audit) override;
  std::vector<Node> list_nodes() override;
  void touch_node_heartbeats(const std::vector<std::pair<std::string, std::int64_t>>& beats) override;

  std::size_t insert_usage(const std::vector<UsageRecord>& records) override;
  std::vector<UsageHourly> list_usage_hourly(const UsageHourlyFilter& filter) override;
  std::vector<UsageRecord> list_usage(std::int64_t since_ms, std::size_t limit) override;
  std::size_t count_usage() override;

  // Credit ledger (sqlite_credits.cpp / postgres_credits.cpp).
  CreditAddResult add_credit(CreditEntry entry, const AuditEntry* audit) override;
  std::vector<CreditEntry> list_credits(std::string_view org_id) override;
  bool close_month(MonthlyInvoice invoice, const std::vector<CreditEntry>& consumptions) override;
  std::vector<MonthlyInvoice> list_monthly_invoices(std::string_view org_id) override;

  // Stripe and alerts (sqlite_stripe.cpp / postgres_stripe.cpp).
  StripeCustomer set_stripe_customer(StripeCustomer customer, const AuditEntry* audit) override;
  std::optional<StripeCustomer> find_stripe_customer(std::string_view org_id) override;
  std::vector<StripeCustomer> list_stripe_customers() override;
  bool insert_stripe_meter_report(const StripeMeterReport& report) override;
  bool update_stripe_meter_report(std::string_view identifier, std::string_view status, std::string_view error,
                                  std::optional<std::int64_t> acked_at) override;
  std::vector<StripeMeterReport> list_stripe_meter_reports(std::string_view org_id,
                                                           std::int64_t from_hour_ms) override;
  bool record_stripe_event(const StripeEvent& event) override;
  std::vector<StripeEvent> list_stripe_events(const StripeEventFilter& filter) override;
  bool claim_alert(const AlertRecord& alert) override;
  void update_alert_delivery(std::string_view alert_id, std::optional<std::int64_t> delivered_at) override;
  std::vector<AlertRecord> list_undelivered_alerts(std::int64_t since_ms, std::size_t limit) override;
  std::vector<AlertRecord> list_alerts(std::string_view org_id) override;

 private:
  // The helpers below expect mu_ to be held by the caller.
  // One environment by a WHERE clause with one or two text parameters (?1, ?2).
  std::optional<Environment> environment_where(const std::string& where, std::string_view a,
                                               std::optional<std::string_view> b);
  std::optional<ApiKey> api_key_where(const std::string& where, std::string_view a);
  void insert_api_key(const ApiKey& key);
  // Sets revoked_at on one key of `table` unless already revoked. 1 revoked now, 0 already
  // revoked, -1 not found.
  int revoke_key(const char* table, std::string_view key_id, std::int64_t now_ms);
  // One node by a WHERE clause with one text parameter (?1).
  std::optional<Node> node_where(const std::string& where, std::string_view a);
  // Writes `audit` (when not null) inside the caller's transaction.
  void write_audit(const AuditEntry* audit);

  std::mutex mu_;  // guards db_: a sqlite3 connection must not be used by two threads at once
  SqliteDb db_;
};

}  // namespace cic::store
