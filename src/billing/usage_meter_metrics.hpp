#pragma once
// The meter's Prometheus metrics (cic_usage_log_*, cic_usage_flush_*); private to src/billing.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <mutex>

#include "cic/billing/usage_meter.hpp"

namespace cic::billing {

struct UsageMeter::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : backlog(prometheus::BuildGauge()
                    .Name("cic_usage_log_bytes")
                    .Help("Bytes of usage records in the write-ahead log that are not in the store yet")
                    .Register(r)
                    .Add({})),
        disk(prometheus::BuildGauge()
                 .Name("cic_usage_log_disk_bytes")
                 .Help("Bytes of every segment file of the usage write-ahead log")
                 .Register(r)
                 .Add({})),
        max(prometheus::BuildGauge()
                .Name("cic_usage_log_max_bytes")
                .Help("billing.wal_max_bytes: the backlog at which new billable requests are refused")
                .Register(r)
                .Add({})),
        pending(prometheus::BuildGauge()
                    .Name("cic_usage_log_records_pending")
                    .Help("Durable usage records not yet written to the store")
                    .Register(r)
                    .Add({})),
        full(prometheus::BuildGauge()
                 .Name("cic_usage_log_full")
                 .Help("1 while the usage log is full and billable requests are refused")
                 .Register(r)
                 .Add({})),
        refused(prometheus::BuildCounter()
                    .Name("cic_usage_log_refused_total")
                    .Help("Usage records the log could not take (full, stopped or a write error)")
                    .Register(r)
                    .Add({})),
        fsync(prometheus::BuildHistogram()
                  .Name("cic_usage_log_fsync_seconds")
                  .Help("fdatasync of one group-commit batch of the usage log")
                  .Register(r)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})),
        batch(prometheus::BuildHistogram()
                  .Name("cic_usage_log_batch_records")
                  .Help("Usage records per group-commit batch (one write, one fsync)")
                  .Register(r)
                  .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
        flush(prometheus::BuildHistogram()
                  .Name("cic_usage_flush_seconds")
                  .Help("One batch of usage records written to the store")
                  .Register(r)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                    0.5, 1, 2.5, 5})),
        flush_failures(prometheus::BuildCounter()
                           .Name("cic_usage_flush_failures_total")
                           .Help("Batches of usage records the store failed to take (each is retried)")
                           .Register(r)
                           .Add({})) {}

  prometheus::Gauge& backlog;
  prometheus::Gauge& disk;
  prometheus::Gauge& max;
  prometheus::Gauge& pending;
  prometheus::Gauge& full;
  prometheus::Counter& refused;
  prometheus::Histogram& fsync;
  prometheus::Histogram& batch;
  prometheus::Histogram& flush;
  prometheus::Counter& flush_failures;
  std::mutex mu;
  std::uint64_t refused_seen = 0;
};

}  // namespace cic::billing
