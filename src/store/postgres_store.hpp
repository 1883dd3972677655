#pragma once
#include <string>

#include "cic/store/store.hpp"
#include "pg_pool.hpp"

namespace cic::store {

/// The production store: PostgreSQL through libpqxx 6.4 with a small connection pool. Each call
/// leases one connection for its duration, so up to `pool_size` calls run in parallel and the
/// rest wait. Single-statement calls run in autocommit (`nontransaction`, one round trip);
/// multi-statement calls (usage batches, key touches, migrations) and every audited or notifying
/// mutation run in one `work`.
class PostgresStore final : public Store {
 public:
  PostgresStore(const std::string& dsn, unsigned pool_size);

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
  /// Registers every named statement on a fresh connection (libpqxx prepares lazily on first use).
  static void prepare_statements(pqxx::connection& conn);
  /// The hot lookups of postgres_tenancy.cpp and postgres_keys.cpp.
  static void prepare_tenancy_statements(pqxx::connection& conn);
  static void prepare_key_statements(pqxx::connection& conn);
  /// The node reads and upsert of postgres_nodes.cpp.
  static void prepare_node_statements(pqxx::connection& conn);
  /// The usage batch merge and rollup reads of postgres_usage.cpp.
  static void prepare_usage_statements(pqxx::connection& conn);

  PgPool pool_;
};

}  // namespace cic::store
