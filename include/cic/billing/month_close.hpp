#pragma once
// Closing a month: once a UTC month has ended (and the usage of its last requests has had time to
// reach the store), each org's invoice for it is computed once more and written with the credit
// it consumed — one negative ledger row per grant used — so the next month starts from what is
// left. Blocking (store): run it on a thread of its own, never on an event loop.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cic/billing/invoice.hpp"
#include "cic/config/config.hpp"
#include "cic/store/records.hpp"
#include "cic/store/store.hpp"

namespace cic::billing {

/// "2026-10" for any instant of October 2026 (UTC).
std::string utc_month_label(std::int64_t ms);

/// The idempotency key of the consumption of `grant_id` by the org's month starting at
/// `period_start`: "invoice:<org>:<yyyy-mm>:<grant id>".
std::string month_consumption_key(std::string_view org_id, std::int64_t period_start, std::string_view grant_id);

/// The invoice input of an org's month [period_start, next month): the month's hourly usage, the
/// plan's free allowance, and the credit balances as of `as_of_ms` — grants created after it are
/// left out (they cannot pay for a month that was over), every consumption and correction counts.
/// An invoice preview passes now; closing a month passes its last millisecond.
InvoiceInput month_invoice_input(store::Store& store, const config::Config& config, const store::Org& org,
                                 std::int64_t period_start, std::int64_t as_of_ms);

/// The ledger rows that record what `invoice` took from each grant: negative amounts of the
/// grant's kind naming it, keyed by month_consumption_key, dated the month's last millisecond.
std::vector<store::CreditEntry> month_consumptions(std::string_view org_id, std::int64_t period_start,
                                                   const Invoice& invoice);

/// Closes, oldest first, every month of every org (from the month the org was created) that ended
/// at least `delay` before `now_ms` and is not closed yet. Idempotent, and safe with several
/// replicas (Store::close_month writes a month once). Returns how many months this call closed.
std::size_t close_due_months(store::Store& store, const config::Config& config, std::int64_t now_ms,
                             std::chrono::milliseconds delay);

}  // namespace cic::billing
