#pragma once
// Usage reporting to Stripe's metered billing: every pass sends, for each org mapped to a Stripe
// customer, the tokens of each closed hour that Stripe does not hold yet. BLOCKING (store and
// HTTP): runs on its own thread (ReporterService in services.hpp), never on an event loop.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cic/store/store.hpp"
#include "cic/stripe/client.hpp"
#include "cic/billing/invoice_usage.hpp"

namespace cic::stripe {

struct ReporterOptions {
  std::string meter_event_name = "cic_tokens";
  /// An hour is closed (reported) once it ended this long ago: usage records reach the store
  /// in batches, a little after the request.
  std::chrono::milliseconds close_delay{300'000};
  /// Tests and demos: report the running hour too (its later growth goes out as further reports).
  bool report_open_hours = false;
  /// How far back the first pass after a start looks (Stripe takes timestamps of the last 35 days).
  std::int64_t lookback_hours = 816;
  /// After a pass that left nothing behind, later passes look back only this far (usage that
  /// reaches the store late, e.g. a replayed write-ahead log, still gets reported).
  std::int64_t rescan_hours = 48;
};

/// Counters the pass reports to (Prometheus in production); any may be empty.
struct ReporterHooks {
  /// Once per meter event attempt that ended: accepted | duplicate | rejected | failed.
  std::function<void(std::string_view outcome)> on_outcome;
  /// After every pass: seconds since the end of the oldest closed hour not fully reported (0 = none).
  std::function<void(double seconds)> on_lag;
};

/// What one pass did.
struct PassSummary {
  std::size_t accepted = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;
  std::size_t failed = 0;   // a failure ends the pass: Stripe is down, later hours would fail too
  double lag_seconds = 0;
};

class UsageReporter {
 public:
  UsageReporter(store::Store& store, billing::UsageSource& usage, StripeClient& client, ReporterOptions options,
                ReporterHooks hooks = {});

  /// One pass at wall time `now_ms`. Order: reports left pending by an earlier pass are sent
  /// again first, unchanged (same identifier, same value); then every (org, hour) whose usage
  /// exceeds what its reports account for gets a new report for the difference, written as
  /// pending before it is sent. A report becomes acked only on Stripe's 2xx (or its "already
  /// exists"). Hours before an org's mapping was created are never reported. BLOCKING.
  PassSummary run_once(std::int64_t now_ms);

 private:
  bool send(const store::StripeMeterReport& report, std::int64_t now_ms, PassSummary& summary);

  store::Store& store_;
  billing::UsageSource& usage_;
  StripeClient& client_;
  const ReporterOptions options_;
  ReporterHooks hooks_;
  std::int64_t scan_from_ms_ = -1;  // -1 until the first pass
};

}  // namespace cic::stripe
