// Stripe customers, meter reports, webhook events and alerts in PostgreSQL (migration 0007). No
// NOTIFY: none of it affects authentication, and every reader polls. Inserts that must happen once
// (reports, events, alerts) use ON CONFLICT DO NOTHING, so two replicas racing agree on one row.
#include "postgres_store.hpp"
#include "postgres_util.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

const std::string kCustomerColumns = "SELECT org_id, customer_id, created_at, updated_at FROM stripe_customers ";
const std::string kReportColumns =
    "SELECT identifier, org_id, event_name, customer_id, hour_start, seq, value, status, error,"
    " created_at, acked_at FROM stripe_meter_reports ";
const std::string kEventColumns =
    "SELECT id, type, customer_id, object_id, created, received_at, payload FROM stripe_events ";
const std::string kAlertColumns =
    "SELECT id, org_id, subject, kind, period, payload, created_at, delivered_at, attempts FROM alerts_sent ";

StripeCustomer read_customer(const pqxx::row& r) {
  return StripeCustomer{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>(),
                        r[3].as<std::int64_t>()};
}

StripeMeterReport read_report(const pqxx::row& r) {
  StripeMeterReport m;
  m.identifier = r[0].as<std::string>();
  m.org_id = r[1].as<std::string>();
  m.event_name = r[2].as<std::string>();
  m.customer_id = r[3].as<std::string>();
  m.hour_start = r[4].as<std::int64_t>();
  m.seq = r[5].as<std::int64_t>();
  m.value = r[6].as<std::int64_t>();
  m.status = r[7].as<std::string>();
  m.error = r[8].as<std::string>();
  m.created_at = r[9].as<std::int64_t>();
  m.acked_at = optional_int64(r[10]);
  return m;
}

StripeEvent read_event(const pqxx::row& r) {
  return StripeEvent{r[0].as<std::string>(),  r[1].as<std::string>(),  r[2].as<std::string>(),
                     r[3].as<std::string>(),  r[4].as<std::int64_t>(), r[5].as<std::int64_t>(),
                     r[6].as<std::string>()};
}

AlertRecord read_alert(const pqxx::row& r) {
  AlertRecord a;
  a.id = r[0].as<std::string>();
  a.org_id = r[1].as<std::string>();
  a.subject = r[2].as<std::string>();
  a.kind = r[3].as<std::string>();
  a.period = r[4].as<std::string>();
  a.payload_json = r[5].as<std::string>();
  a.created_at = r[6].as<std::int64_t>();
  a.delivered_at = optional_int64(r[7]);
  a.attempts = r[8].as<std::int64_t>();
  return a;
}

}  // namespace

StripeCustomer PostgresStore::set_stripe_customer(StripeCustomer customer, const AuditEntry* audit) {
  const std::int64_t now = now_unix_ms();
  if (customer.created_at == 0) customer.created_at = now;
  if (customer.updated_at == 0) customer.updated_at = now;
  return pool_.run([&](pqxx::connection& c) -> StripeCustomer {
    pqxx::work tx(c);
    // Locking the org row serializes concurrent changes of one org's mapping.
    if (tx.exec_params("SELECT 1 FROM orgs WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", customer.org_id)
            .empty()) {
      throw StoreError("postgres: stripe_customers: no org " + customer.org_id);
    }
    auto before = tx.exec_params(kCustomerColumns + "WHERE org_id = $1", customer.org_id);
    StripeCustomer out = customer;
    if (!before.empty()) out.created_at = before[0][2].as<std::int64_t>();
    tx.exec_params("INSERT INTO stripe_customers (org_id, customer_id, created_at, updated_at)"
                   " VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO UPDATE SET"
                   " customer_id = excluded.customer_id, updated_at = excluded.updated_at",
                   out.org_id, out.customer_id, out.created_at, out.updated_at);
    if (!before.empty() && before[0][1].as<std::string>() != out.customer_id) {
      tx.exec_params("UPDATE stripe_meter_reports SET status = 'pending', error = '', customer_id = $2"
                     " WHERE org_id = $1 AND status = 'rejected'",
                     out.org_id, out.customer_id);
    }
    pg_write_audit(tx, audit);
    tx.commit();
    return out;
  });
}

std::optional<StripeCustomer> PostgresStore::find_stripe_customer(std::string_view org_id) {
  return pool_.run([&](pqxx::connection& c) -> std::optional<StripeCustomer> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params(kCustomerColumns + "WHERE org_id = $1", std::string(org_id));
    if (rows.empty()) return std::nullopt;
    return read_customer(rows[0]);
  });
}

std::vector<StripeCustomer> PostgresStore::list_stripe_customers() {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<StripeCustomer> out;
    for (const auto& r : tx.exec(kCustomerColumns + "ORDER BY org_id")) out.push_back(read_customer(r));
    return out;
  });
}

bool PostgresStore::insert_stripe_meter_report(const StripeMeterReport& r) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    auto result = tx.exec_params(
        "INSERT INTO stripe_meter_reports (identifier, org_id, event_name, customer_id, hour_start, seq,"
        " value, status, error, created_at, acked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT DO NOTHING",
        r.identifier, r.org_id, r.event_name, r.customer_id, r.hour_start, r.seq, r.value, r.status, r.error,
        r.created_at != 0 ? r.created_at : now_unix_ms(), r.acked_at);
    return result.affected_rows() == 1;
  });
}

bool PostgresStore::update_stripe_meter_report(std::string_view identifier, std::string_view status,
                                               std::string_view error, std::optional<std::int64_t> acked_at) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    auto result = tx.exec_params(
        "UPDATE stripe_meter_reports SET status = $2, error = $3, acked_at = $4 WHERE identifier = $1",
        std::string(identifier), std::string(status), std::string(error), acked_at);
    return result.affected_rows() == 1;
  });
}

std::vector<StripeMeterReport> PostgresStore::list_stripe_meter_reports(std::string_view org_id,
                                                                        std::int64_t from_hour_ms) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<StripeMeterReport> out;
    for (const auto& r : tx.exec_params(kReportColumns +
                                            "WHERE hour_start >= $1 AND ($2::text = '' OR org_id = $2::text)"
                                            " ORDER BY hour_start, org_id, seq",
                                        from_hour_ms, std::string(org_id))) {
      out.push_back(read_report(r));
    }
    return out;
  });
}

bool PostgresStore::record_stripe_event(const StripeEvent& e) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    auto result = tx.exec_params(
        "INSERT INTO stripe_events (id, type, customer_id, object_id, created, received_at, payload)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        e.id, e.type, e.customer_id, e.object_id, e.created, e.received_at != 0 ? e.received_at : now_unix_ms(),
        e.payload_json);
    return result.affected_rows() == 1;
  });
}

std::vector<StripeEvent> PostgresStore::list_stripe_events(const StripeEventFilter& filter) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<StripeEvent> out;
    for (const auto& r : tx.exec_params(kEventColumns + "WHERE received_at >= $1 ORDER BY received_at, id",
                                        filter.since_ms)) {
      if (out.size() >= filter.limit) break;
      StripeEvent e = read_event(r);
      bool wanted = filter.types.empty();
      for (const auto& t : filter.types) wanted = wanted || t == e.type;
      if (wanted) out.push_back(std::move(e));
    }
    return out;
  });
}

bool PostgresStore::claim_alert(const AlertRecord& a) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    auto result = tx.exec_params(
        "INSERT INTO alerts_sent (id, org_id, subject, kind, period, payload, created_at, delivered_at, attempts)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        a.id, a.org_id, a.subject, a.kind, a.period, a.payload_json,
        a.created_at != 0 ? a.created_at : now_unix_ms(), a.delivered_at, a.attempts);
    return result.affected_rows() == 1;
  });
}

void PostgresStore::update_alert_delivery(std::string_view alert_id, std::optional<std::int64_t> delivered_at) {
  pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params("UPDATE alerts_sent SET attempts = attempts + 1, delivered_at = COALESCE(delivered_at, $2)"
                   " WHERE id = $1",
                   std::string(alert_id), delivered_at);
  });
}

std::vector<AlertRecord> PostgresStore::list_undelivered_alerts(std::int64_t since_ms, std::size_t limit) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<AlertRecord> out;
    for (const auto& r : tx.exec_params(kAlertColumns +
                                            "WHERE delivered_at IS NULL AND created_at >= $1"
                                            " ORDER BY created_at, id LIMIT $2",
                                        since_ms, static_cast<std::int64_t>(limit))) {
      out.push_back(read_alert(r));
    }
    return out;
  });
}

std::vector<AlertRecord> PostgresStore::list_alerts(std::string_view org_id) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<AlertRecord> out;
    for (const auto& r : tx.exec_params(kAlertColumns + "WHERE org_id = $1 ORDER BY created_at, id",
                                        std::string(org_id))) {
      out.push_back(read_alert(r));
    }
    return out;
  });
}

}  // namespace cic::store
