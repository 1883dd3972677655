#pragma once
// A real SQLite store in a temp directory, and an observer that sums what the writer reports.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "cic/billing/usage_writer.hpp"
#include "cic/common/ids.hpp"
#include "cic/store/store.hpp"

namespace cic::billing::testing {

class SqliteUsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / cic::new_id("cic-usage-writer-test");
    store_ = store::make_sqlite_store((dir_ / "cic.db").string());
    store_->migrate();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  UsageWriter::Observer observer() {
    return [this](std::size_t written, std::size_t duplicates, std::size_t dropped) {
      written_ += written;
      duplicates_ += duplicates;
      dropped_ += dropped;
      batches_ += 1;
    };
  }

  static store::UsageRecord usage(const std::string& request_id, int n = 1) {
    store::UsageRecord r;
    r.request_id = request_id;
    r.org_id = "org_1";
    r.environment_id = "env_1";
    r.api_key_id = "key_1";
    r.model = "llama-3-8b";
    r.region = "eu-west-1";
    r.node_id = "node_1";
    r.endpoint = "chat.completions";
    r.prompt_tokens = 10 + n;
    r.completion_tokens = 20 + n;
    r.cached_tokens = n;
    r.latency_ms = 100 + n;
    r.ttft_ms = 5 + n;
    r.status = 200;
    r.streamed = n % 2 == 1;
    r.cancelled = n % 3 == 0;
    r.created_at = 1'700'000'000'000 + n;
    return r;
  }

  /// Polls `done` until it holds or `timeout` passes; no fixed sleeps.
  static bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  static std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) {
    return std::chrono::steady_clock::now() + d;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::atomic<std::size_t> written_{0};
  std::atomic<std::size_t> duplicates_{0};
  std::atomic<std::size_t> dropped_{0};
  std::atomic<std::size_t> batches_{0};
};

}  // namespace cic::billing::testing
