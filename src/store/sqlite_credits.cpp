// The credit ledger of the SQLite store: append-only rows, deduplicated per org by idempotency
// key. Every public method holds mu_ for its whole duration.
#include "cic/common/ids.hpp"
#include "sqlite_store.hpp"
#include "store_util.hpp"

namespace cic::store {

namespace {

constexpr const char* kCreditColumns =
    "SELECT id, org_id, kind, amount_micros, expires_at, created_at, note, idempotency_key,"
    " grant_id FROM credit_ledger ";

CreditEntry read_credit(const SqliteQuery& q) {
  CreditEntry e;
  e.id = q.text(0);
  e.org_id = q.text(1);
  e.kind = q.text(2);
  e.amount_micros = q.int64(3);
  e.expires_at = q.optional_int64(4);
  e.created_at = q.int64(5);
  e.note = q.text(6);
  e.idempotency_key = q.text(7);
  e.grant_id = q.text(8);
  return e;
}

constexpr const char* kInvoiceColumns =
    "SELECT org_id, period_start, period_end, total_tokens, subtotal_micros, discount_micros,"
    " free_allowance_micros, promotional_credits_micros, paid_credits_micros, amount_due_micros,"
    " closed_at FROM monthly_invoices ";

MonthlyInvoice read_invoice(const SqliteQuery& q) {
  MonthlyInvoice m;
  m.org_id = q.text(0);
  m.period_start = q.int64(1);
  m.period_end = q.int64(2);
  m.total_tokens = q.int64(3);
  m.subtotal_micros = q.int64(4);
  m.discount_micros = q.int64(5);
  m.free_allowance_micros = q.int64(6);
  m.promotional_credits_micros = q.int64(7);
  m.paid_credits_micros = q.int64(8);
  m.amount_due_micros = q.int64(9);
  m.closed_at = q.int64(10);
  return m;
}

/// Fills in id, created_at (`now_ms`) and idempotency key where empty, then inserts the row unless
/// the org already has one with that key; true when it was written. The caller holds the lock and
/// the transaction.
bool insert_credit(SqliteDb& db, CreditEntry& entry, std::int64_t now_ms) {
  if (entry.id.empty()) entry.id = cic::new_id("crd");
  if (entry.created_at == 0) entry.created_at = now_ms;
  if (entry.idempotency_key.empty()) entry.idempotency_key = entry.id;
  db.query("INSERT INTO credit_ledger (id, org_id, kind, amount_micros, expires_at, created_at,"
           " note, idempotency_key, grant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
           " ON CONFLICT (org_id, idempotency_key) DO NOTHING")
      .bind(1, entry.id).bind(2, entry.org_id).bind(3, entry.kind).bind(4, entry.amount_micros)
      .bind(5, entry.expires_at).bind(6, entry.created_at).bind(7, entry.note)
      .bind(8, entry.idempotency_key).bind(9, entry.grant_id).run();
  return db.changes() != 0;
}

}  // namespace

CreditAddResult SqliteStore::add_credit(CreditEntry entry, const AuditEntry* audit) {
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  if (!insert_credit(db_, entry, now_unix_ms())) {
    // A replay: hand back the row the first call wrote; nothing to audit, nothing to commit.
    auto q = db_.query(std::string(kCreditColumns) + "WHERE org_id = ?1 AND idempotency_key = ?2");
    q.bind(1, entry.org_id).bind(2, entry.idempotency_key);
    if (!q.step()) throw StoreError("sqlite: credit_ledger: conflicting row vanished");
    return {read_credit(q), false};
  }
  write_audit(audit);
  txn.commit();
  return {std::move(entry), true};
}

std::vector<CreditEntry> SqliteStore::list_credits(std::string_view org_id) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kCreditColumns) + "WHERE org_id = ?1 ORDER BY created_at, id");
  q.bind(1, org_id);
  std::vector<CreditEntry> out;
  while (q.step()) out.push_back(read_credit(q));
  return out;
}

bool SqliteStore::close_month(MonthlyInvoice invoice, const std::vector<CreditEntry>& consumptions) {
  if (invoice.closed_at == 0) invoice.closed_at = now_unix_ms();
  std::lock_guard lock(mu_);
  SqliteTransaction txn(db_);
  db_.query("INSERT INTO monthly_invoices (org_id, period_start, period_end, total_tokens, subtotal_micros,"
            " discount_micros, free_allowance_micros, promotional_credits_micros, paid_credits_micros,"
            " amount_due_micros, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (org_id, period_start) DO NOTHING")
      .bind(1, invoice.org_id).bind(2, invoice.period_start).bind(3, invoice.period_end)
      .bind(4, invoice.total_tokens).bind(5, invoice.subtotal_micros).bind(6, invoice.discount_micros)
      .bind(7, invoice.free_allowance_micros).bind(8, invoice.promotional_credits_micros)
      .bind(9, invoice.paid_credits_micros).bind(10, invoice.amount_due_micros).bind(11, invoice.closed_at)
      .run();
  if (db_.changes() == 0) return false;  // closed before: the transaction rolls back, empty
  for (CreditEntry entry : consumptions) {
    entry.org_id = invoice.org_id;
    insert_credit(db_, entry, invoice.closed_at);
  }
  txn.commit();
  return true;
}

std::vector<MonthlyInvoice> SqliteStore::list_monthly_invoices(std::string_view org_id) {
  std::lock_guard lock(mu_);
  auto q = db_.query(std::string(kInvoiceColumns) + "WHERE org_id = ?1 ORDER BY period_start");
  q.bind(1, org_id);
  std::vector<MonthlyInvoice> out;
  while (q.step()) out.push_back(read_invoice(q));
  return out;
}

}  // namespace cic::store
