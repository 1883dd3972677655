#pragma once
#include <functional>

#include "cic/store/records.hpp"

namespace cic::billing {

/// Where the gateway hands one usage record per request. Thread-safe; no call blocks on I/O.
class UsageSink {
 public:
  virtual ~UsageSink() = default;
  /// Takes the record and makes it durable in the background (fire and forget): for requests
  /// whose client is gone, where nothing waits for the outcome.
  virtual void record(store::UsageRecord usage) = 0;
  /// Takes the record and calls `done(true)` once it is durable (on disk, so it survives a
  /// crash), or `done(false)` when it could not be taken (the backlog is full, the sink stopped).
  /// `done` runs exactly once, on a thread of the sink (or at once on the caller's thread when
  /// the record is refused): post it to where it is needed, and keep it short.
  virtual void record_durable(store::UsageRecord usage, std::function<void(bool durable)> done) {
    record(std::move(usage));
    done(true);
  }
  /// False while new billable work must be refused: the backlog of records not yet in the store
  /// is full, so tokens served now could not be billed.
  virtual bool accepting() const { return true; }
};

}  // namespace cic::billing
