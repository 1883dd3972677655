#include "recorder.hpp"

#include <algorithm>
#include <cmath>

namespace cic::bench {

void Recorder::set_window(TimePoint start, TimePoint end) {
  start_ = start;
  end_ = end;
}

void Recorder::on_scheduled(TimePoint ref) {
  if (measured(ref)) ++scheduled_;
}

void Recorder::on_sent(TimePoint ref) {
  if (measured(ref)) ++sent_;
}

void Recorder::on_result(TimePoint ref, const ExchangeResult& r) {
  if (keep_ids_ && !r.error && r.status >= 200 && r.status <= 299 && !r.request_id.empty()) {
    completed_ids_.push_back(r.request_id);
  }
  // Throughput counts completions inside the window whatever their start, so a warmup request
  // finishing late still shows the rate the target sustained.
  if (!r.error && r.done >= start_ && r.done < end_) ++completed_in_window_;
  if (!measured(ref)) {
    ++warmup_;
    return;
  }
  if (r.error) {
    ++errors_;
    ++error_counts_[r.error];
    return;
  }
  ++status_counts_[r.status];
  if (r.status < 200 || r.status > 299) {
    // Kept out of the latency samples: a fast 429 or 502 must not make the target look quick.
    ++non_2xx_;
    return;
  }
  ++ok_;
  latency_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(r.done - ref).count());
  first_body_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(r.first_body - ref).count());
}

void Recorder::merge(Recorder&& o) {
  scheduled_ += o.scheduled_;
  sent_ += o.sent_;
  ok_ += o.ok_;
  non_2xx_ += o.non_2xx_;
  errors_ += o.errors_;
  warmup_ += o.warmup_;
  completed_in_window_ += o.completed_in_window_;
  connections_opened_ += o.connections_opened_;
  for (const auto& [k, v] : o.status_counts_) status_counts_[k] += v;
  for (const auto& [k, v] : o.error_counts_) error_counts_[k] += v;
  latency_ns_.insert(latency_ns_.end(), o.latency_ns_.begin(), o.latency_ns_.end());
  first_body_ns_.insert(first_body_ns_.end(), o.first_body_ns_.begin(), o.first_body_ns_.end());
  completed_ids_.insert(completed_ids_.end(), std::make_move_iterator(o.completed_ids_.begin()),
                        std::make_move_iterator(o.completed_ids_.end()));
}

Percentiles compute_percentiles(std::vector<std::int64_t>& samples) {
  Percentiles p;
  if (samples.empty()) return p;
  std::sort(samples.begin(), samples.end());
  const auto n = samples.size();
  // Nearest rank: the smallest sample with at least q of all samples at or below it.
  auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
    return samples[std::clamp<std::size_t>(rank, 1, n) - 1];
  };
  p.count = n;
  p.min = samples.front();
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = samples.back();
  return p;
}

}  // namespace cic::bench
