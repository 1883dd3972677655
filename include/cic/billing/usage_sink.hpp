#pragma once
#include "cic/store/records.hpp"

namespace cic::billing {

/// Where the gateway hands one usage record per request. `record` never blocks on I/O and never
/// fails: the sink owns the record from then on. Thread-safe.
class UsageSink {
 public:
  virtual ~UsageSink() = default;
  virtual void record(store::UsageRecord usage) = 0;
};

}  // namespace cic::billing
