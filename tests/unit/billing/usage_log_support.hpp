#pragma once
// Usage log tests run on real files in a fresh temp directory; a real SQLite store where a store
// is needed. Nothing here is a mock: the only seam is UsageLogOptions::sync_file, which tests use
// to count, slow down or fail fsyncs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cic/billing/usage_log.hpp"
#include "cic/common/ids.hpp"
#include "cic/store/records.hpp"

namespace cic::billing::testing {

inline store::UsageRecord usage(const std::string& request_id, int n = 1) {
  store::UsageRecord r;
  r.request_id = request_id;
  r.org_id = "org_" + std::to_string(n % 3);
  r.environment_id = "env_" + std::to_string(n % 3);
  r.api_key_id = "key_1";
  r.model = n % 2 ? "llama-3.1-8b-instruct" : "mistral-7b-instruct";
  r.region = "india";
  r.node_id = "node_" + std::to_string(n % 4);
  r.endpoint = "chat.completions";
  r.prompt_tokens = 10 + n;
  r.completion_tokens = 20 + n;
  r.cached_tokens = n % 5;
  r.latency_ms = 100 + n;
  r.ttft_ms = 5 + n;
  r.status = 200;
  r.streamed = n % 2 == 1;
  r.cancelled = n % 3 == 0;
  r.created_at = 1'700'000'000'000 + n;
  return r;
}

inline std::string rid(int i) { return "req_" + std::to_string(i); }

/// Polls `done` until it holds or `timeout` passes; no fixed sleeps.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class UsageLogTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = std::filesystem::temp_directory_path() / cic::new_id("cic-usage-log-test"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  UsageLogOptions options(std::string owner = "sqlite:/test.db") const {
    UsageLogOptions o;
    o.dir = dir_.string();
    o.owner = std::move(owner);
    o.group_commit_max_delay = std::chrono::microseconds(0);
    return o;
  }

  /// Appends and waits for the outcome.
  static bool append_sync(UsageLog& log, const store::UsageRecord& r) {
    std::promise<bool> outcome;
    auto future = outcome.get_future();
    log.append(r, [&outcome](bool durable) { outcome.set_value(durable); });
    return future.get();
  }

  /// Every record from the checkpoint on, in order, in batches of `batch`.
  static std::vector<store::UsageRecord> read_all(UsageLog& log, std::size_t batch = 100,
                                                  LogPosition* end = nullptr) {
    std::vector<store::UsageRecord> out;
    LogPosition pos = log.checkpoint();
    for (;;) {
      auto b = log.read(pos, batch);
      pos = b.next;
      if (b.records.empty()) break;
      for (auto& r : b.records) out.push_back(std::move(r));
    }
    if (end != nullptr) *end = pos;
    return out;
  }

  /// Reads everything and commits it, as the flusher does after the store took it.
  static std::size_t commit_all(UsageLog& log) {
    LogPosition end;
    const auto records = read_all(log, 100, &end);
    log.commit(end, records.size());
    return records.size();
  }

  std::filesystem::path slot(int n = 0) const { return dir_ / ("slot-" + std::to_string(n)); }

  /// The slot's segment files, in order.
  std::vector<std::filesystem::path> segments(int n = 0) const { return segments_in(slot(n)); }
  static std::vector<std::filesystem::path> segments_in(const std::filesystem::path& slot_dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(slot_dir)) {
      if (e.path().extension() == ".wal") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  std::filesystem::path dir_;
};

}  // namespace cic::billing::testing
