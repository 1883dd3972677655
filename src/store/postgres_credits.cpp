// The credit ledger in PostgreSQL: append-only rows, deduplicated per org by idempotency key.
// A write runs in one transaction with its audit entry; no NOTIFY (credits do not affect
// authentication, and nothing caches them).
#include "cic/common/ids.hpp"
#include "postgres_store.hpp"
#include "postgres_util.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

const std::string kCreditColumns =
    "SELECT id, org_id, kind, amount_micros, expires_at, created_at, note, idempotency_key,"
    " grant_id FROM credit_ledger ";

CreditEntry read_credit(const pqxx::row& r) {
  CreditEntry e;
  e.id = r[0].as<std::string>();
  e.org_id = r[1].as<std::string>();
  e.kind = r[2].as<std::string>();
  e.amount_micros = r[3].as<std::int64_t>();
  e.expires_at = optional_int64(r[4]);
  e.created_at = r[5].as<std::int64_t>();
  e.note = r[6].as<std::string>();
  e.idempotency_key = r[7].as<std::string>();
  e.grant_id = r[8].as<std::string>();
  return e;
}

const std::string kInvoiceColumns =
    "SELECT org_id, period_start, period_end, total_tokens, subtotal_micros, discount_micros,"
    " free_allowance_micros, promotional_credits_micros, paid_credits_micros, amount_due_micros,"
    " closed_at FROM monthly_invoices ";

MonthlyInvoice read_invoice(const pqxx::row& r) {
  MonthlyInvoice m;
  m.org_id = r[0].as<std::string>();
  m.period_start = r[1].as<std::int64_t>();
  m.period_end = r[2].as<std::int64_t>();
  m.total_tokens = r[3].as<std::int64_t>();
  m.subtotal_micros = r[4].as<std::int64_t>();
  m.discount_micros = r[5].as<std::int64_t>();
  m.free_allowance_micros = r[6].as<std::int64_t>();
  m.promotional_credits_micros = r[7].as<std::int64_t>();
  m.paid_credits_micros = r[8].as<std::int64_t>();
  m.amount_due_micros = r[9].as<std::int64_t>();
  m.closed_at = r[10].as<std::int64_t>();
  return m;
}

/// Fills in id, created_at (`now_ms`) and idempotency key where empty, then inserts the row unless
/// the org already has one with that key; true when it was written. A concurrent insert of the
/// same key makes this one wait for its commit and then do nothing.
bool insert_credit(pqxx::work& tx, CreditEntry& entry, std::int64_t now_ms) {
  if (entry.id.empty()) entry.id = cic::new_id("crd");
  if (entry.created_at == 0) entry.created_at = now_ms;
  if (entry.idempotency_key.empty()) entry.idempotency_key = entry.id;
  auto inserted = tx.exec_params(
      "INSERT INTO credit_ledger (id, org_id, kind, amount_micros, expires_at, created_at, note,"
      " idempotency_key, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
      " ON CONFLICT (org_id, idempotency_key) DO NOTHING",
      entry.id, entry.org_id, entry.kind, entry.amount_micros, entry.expires_at, entry.created_at, entry.note,
      entry.idempotency_key, entry.grant_id);
  return inserted.affected_rows() != 0;
}

}  // namespace

CreditAddResult PostgresStore::add_credit(CreditEntry entry, const AuditEntry* audit) {
  const std::int64_t now_ms = now_unix_ms();
  return pool_.run([&](pqxx::connection& c) -> CreditAddResult {
    pqxx::work tx(c);
    if (!insert_credit(tx, entry, now_ms)) {
      // The SELECT (a new statement, a new snapshot) sees the row that won.
      auto existing = tx.exec_params(kCreditColumns + "WHERE org_id = $1 AND idempotency_key = $2",
                                     entry.org_id, entry.idempotency_key);
      if (existing.empty()) throw StoreError("postgres: credit_ledger: conflicting row vanished");
      return {read_credit(existing[0]), false};
    }
    pg_write_audit(tx, audit);
    tx.commit();
    return {entry, true};
  });
}

std::vector<CreditEntry> PostgresStore::list_credits(std::string_view org_id) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<CreditEntry> out;
    for (const auto& r : tx.exec_params(kCreditColumns + "WHERE org_id = $1 ORDER BY created_at, id",
                                        std::string(org_id))) {
      out.push_back(read_credit(r));
    }
    return out;
  });
}

bool PostgresStore::close_month(MonthlyInvoice invoice, const std::vector<CreditEntry>& consumptions) {
  if (invoice.closed_at == 0) invoice.closed_at = now_unix_ms();
  return pool_.run([&](pqxx::connection& c) -> bool {
    pqxx::work tx(c);
    // Another replica closing the same month at once makes this insert wait for its commit and
    // then do nothing: the month's consumptions are written once.
    auto inserted = tx.exec_params(
        "INSERT INTO monthly_invoices (org_id, period_start, period_end, total_tokens, subtotal_micros,"
        " discount_micros, free_allowance_micros, promotional_credits_micros, paid_credits_micros,"
        " amount_due_micros, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (org_id, period_start) DO NOTHING",
        invoice.org_id, invoice.period_start, invoice.period_end, invoice.total_tokens,
        invoice.subtotal_micros, invoice.discount_micros, invoice.free_allowance_micros,
        invoice.promotional_credits_micros, invoice.paid_credits_micros, invoice.amount_due_micros,
        invoice.closed_at);
    if (inserted.affected_rows() == 0) return false;  // closed before; nothing to commit
    for (CreditEntry entry : consumptions) {
      entry.org_id = invoice.org_id;
      insert_credit(tx, entry, invoice.closed_at);
    }
    tx.commit();
    return true;
  });
}

std::vector<MonthlyInvoice> PostgresStore::list_monthly_invoices(std::string_view org_id) {
  return pool_.run([&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<MonthlyInvoice> out;
    for (const auto& r : tx.exec_params(kInvoiceColumns + "WHERE org_id = $1 ORDER BY period_start",
                                        std::string(org_id))) {
      out.push_back(read_invoice(r));
    }
    return out;
  });
}

}  // namespace cic::store
