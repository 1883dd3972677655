#include "cic/common/periodic_task.hpp"

#include <spdlog/spdlog.h>

namespace cic {

PeriodicTask::PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<void()> pass)
    : name_(std::move(name)), interval_(interval), pass_(std::move(pass)) {}

PeriodicTask::~PeriodicTask() { stop(); }

void PeriodicTask::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void PeriodicTask::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool PeriodicTask::sleep_for(std::chrono::milliseconds pause) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, pause, [this] { return stopping_; });
}

void PeriodicTask::run() {
  do {
    try {
      pass_();
    } catch (const std::exception& e) {
      // The store or the network failed mid-pass; nothing was acknowledged that did not happen,
      // so the next pass simply tries again.
      spdlog::warn("{}: pass failed: {}; retrying in {} ms", name_, e.what(), interval_.count());
    }
  } while (sleep_for(interval_));
}

}  // namespace cic
