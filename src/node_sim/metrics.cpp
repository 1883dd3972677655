#include "node_sim/metrics.hpp"

#include <algorithm>
#include <array>

#include "node_sim/json_text.hpp"

namespace cic::node_sim {
namespace {

// vLLM V1's buckets (vllm/v1/metrics/loggers.py).
constexpr std::array<double, 22> kTtftBuckets = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,   0.75,
    1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
constexpr std::array<double, 21> kLatencyBuckets = {
    0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
constexpr double kKvContexts = 16.0;

void append_family(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
  out.append("# HELP ");
  out.append(name);
  out.push_back(' ');
  out.append(help);
  out.append("\n# TYPE ");
  out.append(name);
  out.push_back(' ');
  out.append(type);
  out.push_back('\n');
}

void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   double value) {
  out.append(name);
  out.push_back('{');
  out.append(labels);
  out.append("} ");
  append_prometheus_value(out, value);
  out.push_back('\n');
}

std::string escape_label(std::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped.push_back('\\');
    if (c == '\n') {
      escaped.append("\\n");
      continue;
    }
    escaped.push_back(c);
  }
  return escaped;
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double seconds) {
  std::size_t i = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  std::string bucket_name = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::string bucket_labels(labels);
    bucket_labels.append(",le=\"");
    if (i < bounds_.size()) append_prometheus_value(bucket_labels, bounds_[i]);
    else bucket_labels.append("+Inf");
    bucket_labels.push_back('"');
    append_sample(out, bucket_name, bucket_labels, static_cast<double>(cumulative));
  }
  append_sample(out, std::string(name) + "_count", labels,
                static_cast<double>(count_.load(std::memory_order_relaxed)));
  append_sample(out, std::string(name) + "_sum", labels,
                static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
}

ModelMetrics::ModelMetrics(std::string_view model_name)
    : labels("model_name=\"" + escape_label(model_name) + "\",engine=\"0\""),
      ttft(kTtftBuckets),
      e2e(kLatencyBuckets) {}

MetricsRegistry::MetricsRegistry(const SimOptions& options)
    : max_model_len_(options.max_model_len) {
  for (const ModelSpec& spec : options.models) {
    models_.push_back(std::make_unique<ModelMetrics>(spec.id));
  }
}

void MetricsRegistry::render(std::string& out, std::uint32_t max_concurrency) const {
  auto gauge = [&](std::string_view name, std::string_view help, auto value_of) {
    append_family(out, name, "gauge", help);
    for (const auto& m : models_) append_sample(out, name, m->labels, value_of(*m));
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
        [](const ModelMetrics& m) { return static_cast<double>(m.running.load()); });
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
        [](const ModelMetrics& m) { return static_cast<double>(m.waiting.load()); });
  // Every model shares the one simulated engine, so the usage is computed from all of them.
  std::int64_t running = 0;
  std::int64_t kv_tokens = 0;
  for (const auto& m : models_) {
    running += m->running.load();
    kv_tokens += m->kv_tokens.load();
  }
  double usage = max_concurrency > 0
                     ? static_cast<double>(running) / max_concurrency
                     : static_cast<double>(kv_tokens) / (kKvContexts * max_model_len_);
  usage = std::clamp(usage, 0.0, 1.0);
  gauge("vllm:kv_cache_usage_perc", "KV-Cache usage. 1 means 100 percent usage.",
        [usage](const ModelMetrics&) { return usage; });

  auto counter = [&](std::string_view name, std::string_view help, auto value_of) {
    append_family(out, name, "counter", help);
    for (const auto& m : models_) append_sample(out, name, m->labels, value_of(*m));
  };
  counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.",
          [](const ModelMetrics& m) { return static_cast<double>(m.prompt_tokens.load()); });
  counter("vllm:generation_tokens_total", "Number of generation tokens processed.",
          [](const ModelMetrics& m) { return static_cast<double>(m.generation_tokens.load()); });

  append_family(out, "vllm:request_success_total", "counter",
                "Count of successfully processed requests.");
  for (const auto& m : models_) {
    for (int r = 0; r < kFinishReasonCount; ++r) {
      std::string labels = m->labels + ",finished_reason=\"" +
                           std::string(finish_reason_name(static_cast<FinishReason>(r))) + "\"";
      append_sample(out, "vllm:request_success_total", labels,
                    static_cast<double>(m->success[r].load()));
    }
  }
  append_family(out, "vllm:time_to_first_token_seconds", "histogram",
                "Histogram of time to first token in seconds.");
  for (const auto& m : models_) m->ttft.render(out, "vllm:time_to_first_token_seconds", m->labels);
  append_family(out, "vllm:e2e_request_latency_seconds", "histogram",
                "Histogram of e2e request latency in seconds.");
  for (const auto& m : models_) m->e2e.render(out, "vllm:e2e_request_latency_seconds", m->labels);
}

}  // namespace cic::node_sim
