#include "cic/billing/usage_writer.hpp"

#include <spdlog/spdlog.h>

namespace cic::billing {

UsageWriter::UsageWriter(store::Store& store, Options options, Observer observer)
    : store_(store), options_(options), observer_(std::move(observer)), thread_([this] { run(); }) {}

UsageWriter::~UsageWriter() { flush_and_stop(std::chrono::steady_clock::now() + std::chrono::seconds(5)); }

void UsageWriter::record(store::UsageRecord usage) {
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() >= options_.max_pending) {
      dropped = 1;
    } else {
      pending_.push_back(std::move(usage));
      if (pending_.size() < options_.batch_size) return;
    }
  }
  if (dropped) {
    spdlog::error("usage writer: backlog of {} records is full; dropping a record", options_.max_pending);
    if (observer_) observer_(0, 0, dropped);
    return;
  }
  wake_.notify_one();
}

std::size_t UsageWriter::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

void UsageWriter::flush_and_stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    stop_deadline_ = deadline;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool UsageWriter::write_batch(std::vector<store::UsageRecord>& batch) {
  try {
    std::size_t written = store_.insert_usage(batch);
    if (observer_) observer_(written, batch.size() - written, 0);
    return true;
  } catch (const std::exception& e) {
    spdlog::warn("usage writer: store rejected a batch of {} records, will retry: {}", batch.size(), e.what());
    return false;
  }
}

void UsageWriter::run() {
  auto backoff = std::chrono::milliseconds(100);
  std::vector<store::UsageRecord> batch;
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      if (batch.empty()) {
        wake_.wait_for(lock, options_.interval,
                       [&] { return stopping_ || pending_.size() >= options_.batch_size; });
        while (!pending_.empty() && batch.size() < options_.batch_size) {
          batch.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
      }
      stopping = stopping_;
      if (stopping && batch.empty() && pending_.empty()) return;
      if (stopping && std::chrono::steady_clock::now() > stop_deadline_) {
        spdlog::error("usage writer: stopping with {} records not written", batch.size() + pending_.size());
        return;
      }
    }
    if (batch.empty()) continue;
    if (write_batch(batch)) {
      batch.clear();
      backoff = std::chrono::milliseconds(100);
    } else {
      // Keep the batch and retry it; request ids make the retry harmless.
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, backoff, [&] { return stopping_ && std::chrono::steady_clock::now() > stop_deadline_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
}

}  // namespace cic::billing
