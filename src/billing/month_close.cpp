#include "cic/billing/month_close.hpp"

#include <chrono>
#include <cstdio>
#include <set>

#include "cic/billing/invoice_usage.hpp"
#include "cic/billing/price_book.hpp"

namespace cic::billing {

std::string utc_month_label(std::int64_t ms) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{utc_day_start(ms) / 86'400'000}}};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()));
  return text;
}

std::string month_consumption_key(std::string_view org_id, std::int64_t period_start, std::string_view grant_id) {
  std::string key = "invoice:";
  key += org_id;
  key += ':';
  key += utc_month_label(period_start);
  key += ':';
  key += grant_id;
  return key;
}

InvoiceInput month_invoice_input(store::Store& store, const config::Config& config, const store::Org& org,
                                 std::int64_t period_start, std::int64_t as_of_ms) {
  InvoiceInput input;
  UsageFilter filter;
  filter.org_id = org.id;
  filter.from_ms = period_start;
  filter.to_ms = utc_next_month_start(period_start);
  for (const auto& row : make_store_usage_source(store)->hourly(filter)) {
    input.usage.push_back(UsageLine{row.model, row.region, row.requests, row.tokens});
  }
  const config::PlanConfig* plan = config.find_plan(org.plan);
  input.free_tokens = plan ? plan->monthly_free_tokens : 0;
  std::vector<store::CreditEntry> ledger = store.list_credits(org.id);
  std::erase_if(ledger, [as_of_ms](const store::CreditEntry& e) { return e.amount_micros > 0 && e.created_at > as_of_ms; });
  input.credits = credit_balances(ledger);
  input.as_of_ms = as_of_ms;
  return input;
}

std::vector<store::CreditEntry> month_consumptions(std::string_view org_id, std::int64_t period_start,
                                                   const Invoice& invoice) {
  std::vector<store::CreditEntry> out;
  const std::int64_t last_ms = utc_next_month_start(period_start) - 1;
  for (const CreditApplication& applied : invoice.credits_applied) {
    if (applied.amount_micros <= 0) continue;
    store::CreditEntry e;
    e.org_id = std::string(org_id);
    e.kind = to_string(applied.kind);
    e.amount_micros = -applied.amount_micros;
    e.created_at = last_ms;
    e.note = "invoice " + utc_month_label(period_start);
    e.idempotency_key = month_consumption_key(org_id, period_start, applied.credit_id);
    e.grant_id = applied.credit_id;
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

std::size_t close_org_months(store::Store& store, const config::Config& config, const PriceBook& book,
                             const store::Org& org, std::int64_t now_ms, std::int64_t delay_ms) {
  std::set<std::int64_t> closed;
  for (const auto& m : store.list_monthly_invoices(org.id)) closed.insert(m.period_start);
  std::size_t count = 0;
  for (std::int64_t start = utc_month_start(org.created_at);; start = utc_next_month_start(start)) {
    const std::int64_t end = utc_next_month_start(start);
    if (end + delay_ms > now_ms) break;  // not over yet, or its last usage may still be on its way
    if (closed.count(start)) continue;
    // Months close in order, so the balances read here already lost what earlier months took.
    const Invoice invoice = compute_invoice(book, month_invoice_input(store, config, org, start, end - 1));
    store::MonthlyInvoice row;
    row.org_id = org.id;
    row.period_start = start;
    row.period_end = end;
    row.total_tokens = invoice.billable_tokens;
    row.subtotal_micros = invoice.subtotal_micros;
    row.discount_micros = invoice.discount_micros;
    row.free_allowance_micros = invoice.free_allowance_micros;
    row.promotional_credits_micros = invoice.promotional_credits_micros;
    row.paid_credits_micros = invoice.paid_credits_micros;
    row.amount_due_micros = invoice.amount_due_micros;
    row.closed_at = now_ms;
    if (store.close_month(row, month_consumptions(org.id, start, invoice))) ++count;
  }
  return count;
}

}  // namespace

std::size_t close_due_months(store::Store& store, const config::Config& config, std::int64_t now_ms,
                             std::chrono::milliseconds delay) {
  const PriceBook book(config.models);
  std::size_t count = 0;
  store::Page page;
  page.limit = 200;
  for (;;) {
    store::PageResult<store::Org> orgs = store.list_orgs(page);
    for (const store::Org& org : orgs.items) count += close_org_months(store, config, book, org, now_ms, delay.count());
    if (!orgs.has_more || orgs.items.empty()) break;
    page.after = orgs.items.back().id;
  }
  return count;
}

}  // namespace cic::billing
