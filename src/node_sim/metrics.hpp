#pragma once
// Prometheus metrics under vLLM's names and labels (model_name, engine="0"), written as the
// text exposition format by hand. All updates are relaxed atomics: any thread, no locks.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "node_sim/generator.hpp"
#include "node_sim/options.hpp"

namespace cic::node_sim {

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void observe(double seconds);
  /// Appends `_bucket` (cumulative), `_count` and `_sum` samples; `labels` is `k="v",...`.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Per served model.
struct ModelMetrics {
  explicit ModelMetrics(std::string_view model_name);

  std::string labels;  // model_name="...",engine="0"
  std::atomic<std::int64_t> running{0};
  std::atomic<std::int64_t> waiting{0};
  std::atomic<std::int64_t> kv_tokens{0};  // prompt + planned output of running requests
  std::atomic<std::uint64_t> prompt_tokens{0};
  std::atomic<std::uint64_t> generation_tokens{0};
  std::atomic<std::uint64_t> success[kFinishReasonCount] = {};
  Histogram ttft;
  Histogram e2e;
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(const SimOptions& options);
  ModelMetrics& model(std::size_t index) { return *models_[index]; }

  /// The /metrics body. kv_cache_usage_perc is running/max_concurrency when a limit is set,
  /// else the tokens held by running requests over 16 full contexts (capped at 1).
  void render(std::string& out, std::uint32_t max_concurrency) const;

 private:
  std::vector<std::unique_ptr<ModelMetrics>> models_;
  std::uint32_t max_model_len_;
};

}  // namespace cic::node_sim
