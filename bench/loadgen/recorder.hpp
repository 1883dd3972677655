#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cic::bench {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

/// What one request/response exchange produced.
struct ExchangeResult {
  const char* error = nullptr;  // null on a complete response; else "connect", "timeout", ...
  unsigned status = 0;
  TimePoint first_body{};  // first body bytes parsed (the whole response when not streaming)
  TimePoint done{};
  std::string request_id;  // the response's x-request-id (when the response was read whole)
};

/// Collects the outcome of every request of one worker. Only the worker's own thread calls it.
///
/// A request belongs to the measured window when its reference time (scheduled send time in the
/// open loop, actual send time in the closed loop) lies in [start, end); earlier ones are warmup.
/// Latencies are kept as raw nanosecond samples so percentiles are exact (sorted vector), not
/// averaged or bucketed.
class Recorder {
 public:
  void set_window(TimePoint start, TimePoint end);
  TimePoint window_start() const { return start_; }
  TimePoint window_end() const { return end_; }

  void on_scheduled(TimePoint ref);
  void on_sent(TimePoint ref);
  void on_result(TimePoint ref, const ExchangeResult& r);
  void add_connection_opened() { ++connections_opened_; }
  /// Also keep the x-request-id of every 2xx response read whole (warmup included): --ids-file.
  void keep_ids(bool keep) { keep_ids_ = keep; }
  const std::vector<std::string>& completed_ids() const { return completed_ids_; }

  /// Folds another worker's samples and counters into this one.
  void merge(Recorder&& other);

  std::uint64_t scheduled() const { return scheduled_; }
  std::uint64_t sent() const { return sent_; }
  std::uint64_t ok() const { return ok_; }
  std::uint64_t non_2xx() const { return non_2xx_; }
  std::uint64_t errors() const { return errors_; }
  std::uint64_t warmup() const { return warmup_; }
  std::uint64_t completed_in_window() const { return completed_in_window_; }
  std::uint64_t connections_opened() const { return connections_opened_; }
  const std::map<unsigned, std::uint64_t>& status_counts() const { return status_counts_; }
  const std::map<std::string, std::uint64_t>& error_counts() const { return error_counts_; }
  std::vector<std::int64_t>& latency_ns() { return latency_ns_; }
  std::vector<std::int64_t>& first_body_ns() { return first_body_ns_; }

 private:
  bool measured(TimePoint ref) const { return ref >= start_ && ref < end_; }

  TimePoint start_{};
  TimePoint end_{};
  std::uint64_t scheduled_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t ok_ = 0;
  std::uint64_t non_2xx_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t warmup_ = 0;
  std::uint64_t completed_in_window_ = 0;  // responses (any status) that finished inside the window
  std::uint64_t connections_opened_ = 0;
  std::map<unsigned, std::uint64_t> status_counts_;
  std::map<std::string, std::uint64_t> error_counts_;
  std::vector<std::int64_t> latency_ns_;     // 2xx responses only
  std::vector<std::int64_t> first_body_ns_;  // 2xx responses only
  bool keep_ids_ = false;
  std::vector<std::string> completed_ids_;
};

/// Exact percentiles of a sample set (nearest-rank), in nanoseconds.
struct Percentiles {
  std::uint64_t count = 0;
  std::int64_t min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

/// Sorts `samples` in place and reads the percentiles off it.
Percentiles compute_percentiles(std::vector<std::int64_t>& samples);

}  // namespace cic::bench
