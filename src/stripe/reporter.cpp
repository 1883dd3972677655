// One reporting pass: compare each (org, hour)'s tokens in the rollups with what its meter reports
// account for, and send the difference. Written-ahead as a pending row, so a retry (after a lost
// answer, a crash, a restart) repeats the very same identifier and value, which Stripe refuses to
// count twice. See docs/billing.md, "Stripe and alerts".
#include "cic/stripe/reporter.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

namespace cic::stripe {
namespace {

using HourKey = std::pair<std::int64_t, std::string>;  // (hour_start, org): hour order first

struct Account {
  std::int64_t reported = 0;  // sum of every report's value, whatever its status
  std::int64_t max_seq = 0;
};

/// A report to send in this pass: one left pending earlier, or a new one for a difference.
struct Work {
  store::StripeMeterReport report;
  bool is_new = false;
};

}  // namespace

UsageReporter::UsageReporter(store::Store& store, billing::UsageSource& usage, StripeClient& client,
                             ReporterOptions options, ReporterHooks hooks)
    : store_(store), usage_(usage), client_(client), options_(std::move(options)), hooks_(std::move(hooks)) {}

bool UsageReporter::send(const store::StripeMeterReport& report, std::int64_t now_ms, PassSummary& summary) {
  const MeterEvent event{report.event_name, report.customer_id, report.value, report.identifier,
                         report.hour_start / 1000};
  const MeterResult result = client_.send_meter_event(event);
  if (hooks_.on_outcome) hooks_.on_outcome(to_string(result.outcome));
  switch (result.outcome) {
    case MeterResult::Outcome::kAccepted:
    case MeterResult::Outcome::kDuplicate:
      // "Already exists" proves an earlier attempt (whose answer was lost) got through with this
      // identifier, and a pending row never changes its value: Stripe holds exactly this report.
      store_.update_stripe_meter_report(report.identifier, "acked", "", now_ms);
      ++(result.outcome == MeterResult::Outcome::kAccepted ? summary.accepted : summary.duplicates);
      return true;
    case MeterResult::Outcome::kRejected:
      spdlog::error("stripe: meter event {} ({} tokens of org {} for customer {}) rejected: {}", report.identifier,
                    report.value, report.org_id, report.customer_id, result.message);
      store_.update_stripe_meter_report(report.identifier, "rejected", result.message, std::nullopt);
      ++summary.rejected;
      return true;
    case MeterResult::Outcome::kFailed:
      break;
  }
  spdlog::warn("stripe: meter event {} not delivered after {} attempt(s): {}; retrying next pass", report.identifier,
               result.attempts, result.message);
  ++summary.failed;
  return false;
}

PassSummary UsageReporter::run_once(std::int64_t now_ms) {
  PassSummary summary;
  if (scan_from_ms_ < 0) scan_from_ms_ = hour_floor(now_ms - options_.lookback_hours * kHourMs);
  const std::int64_t closed_before = hour_floor(now_ms - options_.close_delay.count());
  const std::int64_t to_ms = options_.report_open_hours ? hour_floor(now_ms) + kHourMs : closed_before;

  std::map<std::string, store::StripeCustomer> customers;
  for (auto& c : store_.list_stripe_customers()) customers.emplace(c.org_id, std::move(c));

  std::map<HourKey, std::int64_t> usage;
  if (!customers.empty() && to_ms > scan_from_ms_) {
    for (const auto& row : usage_.hourly(billing::UsageFilter{.from_ms = scan_from_ms_, .to_ms = to_ms})) {
      auto customer = customers.find(row.org_id);
      // Usage from before the org was mapped belongs to no Stripe subscription.
      if (customer == customers.end() || row.hour_start_ms < hour_floor(customer->second.created_at)) continue;
      usage[{row.hour_start_ms, row.org_id}] += row.tokens.total();
    }
  }

  std::map<HourKey, Account> accounts;
  std::vector<Work> work;
  for (auto& r : store_.list_stripe_meter_reports("", scan_from_ms_)) {
    Account& a = accounts[{r.hour_start, r.org_id}];
    a.reported += r.value;
    a.max_seq = std::max(a.max_seq, r.seq);
    if (r.status == "pending") work.push_back(Work{std::move(r), false});
  }
  for (const auto& [key, tokens] : usage) {
    const Account& a = accounts[key];
    if (tokens < a.reported) {
      spdlog::warn("stripe: org {} hour {}: {} tokens reported but only {} in the store", key.second, key.first,
                   a.reported, tokens);
    }
    if (tokens <= a.reported) continue;
    store::StripeMeterReport r;
    r.org_id = key.second;
    r.hour_start = key.first;
    r.seq = a.max_seq + 1;
    r.event_name = options_.meter_event_name;
    r.customer_id = customers.at(key.second).customer_id;
    r.value = tokens - a.reported;
    r.identifier = meter_identifier(r.org_id, r.event_name, r.hour_start, r.seq);
    r.status = "pending";
    r.created_at = now_ms;
    work.push_back(Work{std::move(r), true});
  }

  std::int64_t oldest_behind = std::numeric_limits<std::int64_t>::max();
  bool failed = false;
  for (const Work& item : work) {
    const auto& r = item.report;
    if (failed) {
      oldest_behind = std::min(oldest_behind, r.hour_start);
      continue;
    }
    // Written before the first attempt: whatever happens next, a later pass resends this exact
    // row. Another replica may have written the same (org, hour, seq) first; it sends that one.
    if (item.is_new && !store_.insert_stripe_meter_report(r)) {
      oldest_behind = std::min(oldest_behind, r.hour_start);
      continue;
    }
    if (!send(r, now_ms, summary)) {
      failed = true;
      oldest_behind = std::min(oldest_behind, r.hour_start);
    }
  }

  // Only closed hours can be late; a running hour reported as it grows is on time.
  if (oldest_behind < closed_before) {
    summary.lag_seconds = std::max(0.0, static_cast<double>(now_ms - (oldest_behind + kHourMs)) / 1000.0);
  }
  if (hooks_.on_lag) hooks_.on_lag(summary.lag_seconds);
  // Nothing left behind: later passes need not look as far back. After a failure the window stays,
  // so the hours that were not sent are found again.
  if (!failed) scan_from_ms_ = std::max(scan_from_ms_, hour_floor(now_ms - options_.rescan_hours * kHourMs));
  return summary;
}

}  // namespace cic::stripe
