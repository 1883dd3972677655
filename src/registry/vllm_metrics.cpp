#include "cic/registry/vllm_metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>

namespace cic::registry {
namespace {

enum class Series { kNone, kRunning, kWaiting, kKvCache, kGpuCache };

Series classify(std::string_view name) {
  if (name == "vllm:num_requests_running") return Series::kRunning;
  if (name == "vllm:num_requests_waiting") return Series::kWaiting;
  if (name == "vllm:kv_cache_usage_perc") return Series::kKvCache;
  if (name == "vllm:gpu_cache_usage_perc") return Series::kGpuCache;
  return Series::kNone;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_label_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_label_char(char c) { return is_label_start(c) || (c >= '0' && c <= '9'); }

/// Reads one sample line whose name has already been matched. `pos` points just past the name.
/// Returns false if the line is malformed or filtered out; otherwise sets `value`.
bool read_sample(std::string_view line, std::size_t pos, std::string_view model_filter, double& value) {
  const std::size_t n = line.size();
  bool model_seen = false;
  bool model_matches = false;
  const std::size_t after_name = pos;
  while (pos < n && is_blank(line[pos])) ++pos;
  const bool labelled = pos < n && line[pos] == '{';
  if (!labelled) pos = after_name;
  if (labelled) {
    ++pos;
    std::string unescaped;
    for (;;) {
      while (pos < n && is_blank(line[pos])) ++pos;
      if (pos >= n) return false;
      if (line[pos] == '}') {
        ++pos;
        break;
      }
      const std::size_t name_begin = pos;
      if (!is_label_start(line[pos])) return false;
      while (pos < n && is_label_char(line[pos])) ++pos;
      const std::string_view label = line.substr(name_begin, pos - name_begin);
      while (pos < n && is_blank(line[pos])) ++pos;
      if (pos >= n || line[pos] != '=') return false;
      ++pos;
      while (pos < n && is_blank(line[pos])) ++pos;
      if (pos >= n || line[pos] != '"') return false;
      ++pos;
      const bool is_model = label == "model_name";
      unescaped.clear();
      bool closed = false;
      while (pos < n) {
        char c = line[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (pos >= n) return false;
          char e = line[pos++];
          c = e == 'n' ? '\n' : e;  // \\ and \" stand for themselves
        }
        if (is_model) unescaped.push_back(c);
      }
      if (!closed) return false;
      if (is_model) {
        if (model_seen) return false;  // a label may appear once
        model_seen = true;
        model_matches = unescaped == model_filter;
      }
      while (pos < n && is_blank(line[pos])) ++pos;
      if (pos < n && line[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < n && line[pos] == '}') continue;
      return false;
    }
  }
  if (!model_filter.empty() && !model_matches) return false;

  // The value must be separated from the name/labels by blanks.
  if (pos >= n || !is_blank(line[pos])) return false;
  while (pos < n && is_blank(line[pos])) ++pos;
  const std::size_t value_begin = pos;
  while (pos < n && !is_blank(line[pos])) ++pos;
  const std::string_view token = line.substr(value_begin, pos - value_begin);
  if (token.empty()) return false;
  double parsed = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), parsed);
  if (ec != std::errc() || end != token.data() + token.size()) return false;
  if (!std::isfinite(parsed) || parsed < 0) return false;

  // An optional integer timestamp, then nothing else.
  while (pos < n && is_blank(line[pos])) ++pos;
  if (pos < n) {
    const std::size_t ts_begin = pos;
    while (pos < n && !is_blank(line[pos])) ++pos;
    const std::string_view ts = line.substr(ts_begin, pos - ts_begin);
    std::int64_t ignored = 0;
    auto [ts_end, ts_ec] = std::from_chars(ts.data(), ts.data() + ts.size(), ignored);
    if (ts_ec != std::errc() || ts_end != ts.data() + ts.size()) return false;
    while (pos < n && is_blank(line[pos])) ++pos;
    if (pos < n) return false;
  }
  value = parsed;
  return true;
}

}  // namespace

VllmLoad parse_vllm_metrics(std::string_view body, const VllmMetricsOptions& options) {
  if (body.size() > options.max_bytes) body = body.substr(0, options.max_bytes);

  VllmLoad out;
  double kv_sum = 0, gpu_sum = 0;
  std::size_t kv_count = 0, gpu_count = 0;

  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t newline = body.find('\n', start);
    if (newline == std::string_view::npos) newline = body.size();
    std::string_view line = body.substr(start, newline - start);
    start = newline + 1;

    if (line.size() > options.max_line_bytes) continue;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t pos = 0;
    while (pos < line.size() && is_blank(line[pos])) ++pos;
    if (pos >= line.size() || line[pos] == '#') continue;

    const std::size_t name_begin = pos;
    while (pos < line.size() && line[pos] != '{' && !is_blank(line[pos])) ++pos;
    const Series series = classify(line.substr(name_begin, pos - name_begin));
    if (series == Series::kNone) continue;

    double value = 0;
    if (!read_sample(line, pos, options.model_name, value)) continue;
    switch (series) {
      case Series::kRunning:
        out.running += value;
        out.has_running = true;
        break;
      case Series::kWaiting:
        out.waiting += value;
        out.has_waiting = true;
        break;
      case Series::kKvCache:
        kv_sum += value;
        ++kv_count;
        break;
      case Series::kGpuCache:
        gpu_sum += value;
        ++gpu_count;
        break;
      case Series::kNone:
        break;
    }
  }

  // vLLM 0.9-0.10 can expose both names for the same cache; the newer one wins.
  if (kv_count > 0) {
    out.kv_cache_usage = std::clamp(kv_sum / static_cast<double>(kv_count), 0.0, 1.0);
    out.has_kv = true;
  } else if (gpu_count > 0) {
    out.kv_cache_usage = std::clamp(gpu_sum / static_cast<double>(gpu_count), 0.0, 1.0);
    out.has_kv = true;
  }
  return out;
}

void apply(const VllmLoad& load, NodeLoad& out) {
  // Counts are finite and >= 0 by construction; the clamp only guards against absurd sums.
  auto to_count = [](bool has, double v) -> std::int64_t {
    if (!has || !(v > 0)) return 0;
    return static_cast<std::int64_t>(std::llround(std::min(v, 1e15)));
  };
  const std::int64_t running = to_count(load.has_running, load.running);
  const std::int64_t waiting = to_count(load.has_waiting, load.waiting);
  out.reported_running.store(running, std::memory_order_relaxed);
  out.reported_waiting.store(waiting, std::memory_order_relaxed);
  // Our own requests are on the engine too (running, or queued behind a full batch), and
  // in_flight already counts them live.
  std::int64_t ours = std::max<std::int64_t>(0, out.in_flight.load(std::memory_order_relaxed));
  const std::int64_t ours_running = std::min(ours, running);
  ours -= ours_running;
  out.requests_running.store(running - ours_running, std::memory_order_relaxed);
  out.requests_waiting.store(waiting - std::min(ours, waiting), std::memory_order_relaxed);
  std::int64_t milli = 0;
  if (load.has_kv) milli = std::clamp<std::int64_t>(std::llround(std::clamp(load.kv_cache_usage, 0.0, 1.0) * 1000.0), 0, 1000);
  out.kv_cache_usage_milli.store(milli, std::memory_order_relaxed);
}

}  // namespace cic::registry
