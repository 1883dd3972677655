#pragma once
// A named thread that runs a pass, then waits `interval`, until stopped. The pass may sleep
// through sleep_for(), which stop() interrupts. For work that blocks (store, HTTP) and must
// stay off the event loops: Stripe reporting, alerts, closing billing months.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace cic {

class PeriodicTask {
 public:
  PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<void()> pass);
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;
  ~PeriodicTask();

  void start();
  /// Wakes the thread and joins it: a pass in progress finishes its current HTTP exchange (bounded
  /// by its timeout) and skips its remaining pauses. Idempotent.
  void stop();
  /// Waits `pause` or until stop(); false when stopping.
  bool sleep_for(std::chrono::milliseconds pause);

 private:
  void run();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<void()> pass_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace cic
