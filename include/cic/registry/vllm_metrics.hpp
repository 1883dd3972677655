#pragma once
#include <cstddef>
#include <string_view>

#include "cic/registry/node.hpp"

namespace cic::registry {

/// Engine load read from one node's `/metrics` body (vLLM or cic-node-sim).
struct VllmLoad {
  /// Sum of `vllm:num_requests_running` over every matching label set (engines, models).
  double running = 0;
  /// Sum of `vllm:num_requests_waiting` over every matching label set.
  double waiting = 0;
  /// KV-cache usage 0..1: the MEAN of the matching `vllm:kv_cache_usage_perc` series (or, only if
  /// the body has none of those, of the pre-0.9 `vllm:gpu_cache_usage_perc`). Averaged, not
  /// summed: each data-parallel engine reports its own cache, and cic-node-sim repeats the one
  /// shared value once per model. Clamped to [0, 1].
  double kv_cache_usage = 0;
  bool has_running = false;
  bool has_waiting = false;
  bool has_kv = false;
};

struct VllmMetricsOptions {
  /// When not empty, only series whose `model_name` label equals this count; series without a
  /// `model_name` label are then skipped too.
  std::string_view model_name;
  /// Only this many leading bytes of the body are looked at (a vLLM /metrics body is ~100 KiB).
  std::size_t max_bytes = 8u << 20;
  /// Lines longer than this are skipped unread.
  std::size_t max_line_bytes = 64u << 10;
};

/// Parses Prometheus text exposition (0.0.4, also OpenMetrics' `# EOF`). Reads only the exact
/// sample names above, so comments, other metrics and histogram `_bucket`/`_sum`/`_count` series
/// are ignored. Samples whose value is NaN, +-Inf, negative or unparsable, and malformed lines
/// (bad label syntax, unterminated quotes, missing value), are skipped. Never throws; the work is
/// linear in min(body.size(), max_bytes).
VllmLoad parse_vllm_metrics(std::string_view body, const VllmMetricsOptions& options = {});

/// Stores `load` into the engine gauges of `out`: reported_running / reported_waiting rounded to
/// integers, and requests_running / requests_waiting the same less `out.in_flight` as it is now
/// (this gateway's requests, taken from running first, then from waiting; never below 0);
/// kv_cache_usage_milli = round(1000 x usage) in 0..1000. A gauge the body did not carry (has_*
/// false) is stored as 0, so a value never outlives the scrape that reported it and the
/// load_aware strategy falls back to the gateway's own in_flight.
void apply(const VllmLoad& load, NodeLoad& out);

}  // namespace cic::registry
