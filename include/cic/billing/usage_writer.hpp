#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "cic/billing/usage_sink.hpp"
#include "cic/store/store.hpp"

namespace cic::billing {

/// Batches usage records in memory and writes them to the store from its own thread: every
/// `interval` or as soon as `batch_size` records wait. Inserts are idempotent on request_id, so a
/// batch that failed is simply retried (with backoff) until the store takes it.
class UsageWriter final : public UsageSink {
 public:
  struct Options {
    std::chrono::milliseconds interval{1000};
    std::size_t batch_size = 1000;
    std::size_t max_pending = 1'000'000;  // beyond this, records are dropped and counted
  };
  /// `on_written(new_rows, duplicates, dropped)` is called from the writer thread after each batch.
  using Observer = std::function<void(std::size_t written, std::size_t duplicates, std::size_t dropped)>;

  UsageWriter(store::Store& store, Options options, Observer observer = {});
  ~UsageWriter() override;

  void record(store::UsageRecord usage) override;
  /// Writes everything pending, retrying until `deadline`; then stops the thread. Idempotent.
  void flush_and_stop(std::chrono::steady_clock::time_point deadline);
  std::size_t pending() const;

 private:
  void run();
  bool write_batch(std::vector<store::UsageRecord>& batch);

  store::Store& store_;
  Options options_;
  Observer observer_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<store::UsageRecord> pending_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::thread thread_;
};

}  // namespace cic::billing
