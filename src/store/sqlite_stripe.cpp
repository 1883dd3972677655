// Stripe customers, meter reports, webhook events and alerts in the SQLite store (migration
// 0007). Every public method holds mu_ for its whole duration.
#include "sqlite_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

constexpr const char* kCustomerColumns =
    "SELECT org_id, customer_id, created_at, updated_at FROM stripe_customers ";
constexpr const char* kReportColumns =
    "SELECT identifier, org_id, event_name, customer_id, hour_start, seq, value, status, error,"
    " created_at, acked_at FROM stripe_meter_reports ";
constexpr const char* kEventColumns =
    "SELECT id, type, customer_id, object_id, created, received_at, payload FROM stripe_events ";
constexpr const char* kAlertColumns =
    "SELECT id, org_id, subject, kind, period, payload, created_at, delivered_at, attempts"
    " FROM alerts_sent ";

StripeCustomer read_customer(const SqliteQuery& q) {
  return StripeCustomer{q.text(0), q.text(1), q.int64(2), q.int64(3)};
}

StripeMeterReport read_report(const SqliteQuery& q) {
  StripeMeterReport r;
  r.identifier = q.text(0);
  r.org_id = q.text(1);
  r.event_name = q.text(2);
  r.customer_id = q.text(3);
  r.hour_start = q.int64(4);
  r.seq = q.int64(5);
  r.value = q.int64(6);
  r.status = q.text(7);
  r.error = q.text(8);
  r.created_at = q.int64(9);
  r.acked_at = q.optional_int64(10);
  return r;
}

StripeEvent read_event(const SqliteQuery& q) {
  return StripeEvent{q.text(0), q.text(1), q.text(2), q.text(3), q.int64(4), q.int64(5), q.text(6)};
}

AlertRecord read_alert(const SqliteQuery& q) {
  AlertRecord a;
  a.id = q.text(0);
  a.org_id = q.text(1);
  a.subject = q.text(2);
  a.kind = q.text(3);
  a.period = q.text(4);
  a.payload_json = q.text(5);
  a.created_at = q.int64(6);
  a.delivered_at = q.optional_int64(7);
  a.attempts = q.int64(8);
  return a;
}

}  // namespace

StripeCustomer SqliteStore::set_stripe_customer(StripeCustomer customer, const AuditEntry* audit) {
  const std::int64_t now = now_unix_ms();
  if (customer.created_at == 0) customer.created_at = now;
  if (customer.updated_at == 0) customer.updated_at = now;
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  {
    auto exists = db_.query("SELECT 1 FROM orgs WHERE id = ?1 AND deleted_at IS NULL");
    exists.bind(1, customer.org_id);
    if (!exists.step()) throw StoreError("sqlite: stripe_customers: no org " + customer.org_id);
  }
  std::optional<StripeCustomer> before;
  {
    auto q = db_.query(std::string(kCustomerColumns) + "WHERE org_id = ?1");
    q.bind(1, customer.org_id);
    if (q.step()) before = read_customer(q);
  }
  if (before) customer.created_at = before->created_at;
  db_.query("INSERT INTO stripe_customers (org_id, customer_id, created_at, updated_at)"
            " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (org_id) DO UPDATE SET"
            " customer_id = excluded.customer_id, updated_at = excluded.updated_at")
      .bind(1, customer.org_id).bind(2, customer.customer_id).bind(3, customer.created_at)
      .bind(4, customer.updated_at).run();
  if (before && before->customer_id != customer.customer_id) {
    db_.query("UPDATE stripe_meter_reports SET status = 'pending', error = '', customer_id = ?2"
              " WHERE org_id = ?1 AND status = 'rejected'")
        .bind(1, customer.org_id).bind(2, customer.customer_id).run();
  }
  write_audit(audit);
  txn.commit();
  return customer;
}

std::optional<StripeCustomer> SqliteStore::find_stripe_customer(std::string_view org_id) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kCustomerColumns) + "WHERE org_id = ?1");
  q.bind(1, org_id);
  if (!q.step()) return std::nullopt;
  return read_customer(q);
}

std::vector<StripeCustomer> SqliteStore::list_stripe_customers() {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kCustomerColumns) + "ORDER BY org_id");
  std::vector<StripeCustomer> out;
  while (q.step()) out.push_back(read_customer(q));
  return out;
}

bool SqliteStore::insert_stripe_meter_report(const StripeMeterReport& r) {
  std::lock_guard lock(mu_);
  // OR IGNORE covers both unique keys (identifier, and org + hour + seq).
  db_.query("INSERT OR IGNORE INTO stripe_meter_reports (identifier, org_id, event_name, customer_id,"
            " hour_start, seq, value, status, error, created_at, acked_at)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
      .bind(1, r.identifier).bind(2, r.org_id).bind(3, r.event_name).bind(4, r.customer_id)
      .bind(5, r.hour_start).bind(6, r.seq).bind(7, r.value).bind(8, r.status).bind(9, r.error)
      .bind(10, r.created_at != 0 ? r.created_at : now_unix_ms()).bind(11, r.acked_at).run();
  return db_.changes() == 1;
}

bool SqliteStore::update_stripe_meter_report(std::string_view identifier, std::string_view status,
                                             std::string_view error,
                                             std::optional<std::int64_t> acked_at) {
  std::lock_guard lock(mu_);
  db_.query("UPDATE stripe_meter_reports SET status = ?2, error = ?3, acked_at = ?4 WHERE identifier = ?1")
      .bind(1, identifier).bind(2, status).bind(3, error).bind(4, acked_at).run();
  return db_.changes() == 1;
}

std::vector<StripeMeterReport> SqliteStore::list_stripe_meter_reports(std::string_view org_id,
                                                                      std::int64_t from_hour_ms) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kReportColumns) +
                     "WHERE hour_start >= ?1 AND (?2 = '' OR org_id = ?2) ORDER BY hour_start, org_id, seq");
  q.bind(1, from_hour_ms).bind(2, org_id);
  std::vector<StripeMeterReport> out;
  while (q.step()) out.push_back(read_report(q));
  return out;
}

bool SqliteStore::record_stripe_event(const StripeEvent& e) {
  std::lock_guard lock(mu_);
  db_.query("INSERT OR IGNORE INTO stripe_events (id, type, customer_id, object_id, created, received_at,"
            " payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
      .bind(1, e.id).bind(2, e.type).bind(3, e.customer_id).bind(4, e.object_id).bind(5, e.created)
      .bind(6, e.received_at != 0 ? e.received_at : now_unix_ms()).bind(7, e.payload_json).run();
  return db_.changes() == 1;
}

std::vector<StripeEvent> SqliteStore::list_stripe_events(const StripeEventFilter& filter) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kEventColumns) + "WHERE received_at >= ?1 ORDER BY received_at, id");
  q.bind(1, filter.since_ms);
  std::vector<StripeEvent> out;
  // Few types and few events: the type filter is applied here rather than with a variable IN list,
  // which would defeat the statement cache.
  while (out.size() < filter.limit && q.step()) {
    StripeEvent e = read_event(q);
    bool wanted = filter.types.empty();
    for (const auto& t : filter.types) wanted = wanted || t == e.type;
    if (wanted) out.push_back(std::move(e));
  }
  return out;
}

bool SqliteStore::claim_alert(const AlertRecord& a) {
  std::lock_guard lock(mu_);
  db_.query("INSERT OR IGNORE INTO alerts_sent (id, org_id, subject, kind, period, payload, created_at,"
            " delivered_at, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
      .bind(1, a.id).bind(2, a.org_id).bind(3, a.subject).bind(4, a.kind).bind(5, a.period)
      .bind(6, a.payload_json).bind(7, a.created_at != 0 ? a.created_at : now_unix_ms())
      .bind(8, a.delivered_at).bind(9, a.attempts).run();
  return db_.changes() == 1;
}

void SqliteStore::update_alert_delivery(std::string_view alert_id, std::optional<std::int64_t> delivered_at) {
  std::lock_guard lock(mu_);
  db_.query("UPDATE alerts_sent SET attempts = attempts + 1,"
            " delivered_at = COALESCE(delivered_at, ?2) WHERE id = ?1")
      .bind(1, alert_id).bind(2, delivered_at).run();
}

std::vector<AlertRecord> SqliteStore::list_undelivered_alerts(std::int64_t since_ms, std::size_t limit) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kAlertColumns) +
                     "WHERE delivered_at IS NULL AND created_at >= ?1 ORDER BY created_at, id LIMIT ?2");
  q.bind(1, since_ms).bind(2, static_cast<std::int64_t>(limit));
  std::vector<AlertRecord> out;
  while (q.step()) out.push_back(read_alert(q));
  return out;
}

std::vector<AlertRecord> SqliteStore::list_alerts(std::string_view org_id) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kAlertColumns) + "WHERE org_id = ?1 ORDER BY created_at, id");
  q.bind(1, org_id);
  std::vector<AlertRecord> out;
  while (q.step()) out.push_back(read_alert(q));
  return out;
}

}  // namespace cic::store
