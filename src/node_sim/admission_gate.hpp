#pragma once
// The simulated engine's batch limit (--max-concurrency): requests beyond it wait in FIFO order,
// which is what vLLM reports as num_requests_waiting. Asio-free: a waiter supplies a callback
// that wakes it on its own executor.

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace cic::node_sim {

class AdmissionGate {
 public:
  using Waker = std::function<void()>;

  explicit AdmissionGate(std::uint32_t limit) : limit_(limit) {}

  /// Takes a slot when one is free and nobody waits ahead. Any thread.
  bool try_acquire();

  /// Queues a waiter and returns its ticket. `wake` runs once the slot is handed to the ticket,
  /// on whichever thread frees it (possibly this one, before enqueue returns), outside the lock.
  std::uint64_t enqueue(Waker wake);

  /// Leaves the queue. Returns false when the slot was already handed over: the caller then
  /// owns it and must release() it.
  bool withdraw(std::uint64_t ticket);

  /// Frees a slot and hands free slots to the oldest waiters.
  void release();

  /// Changes the limit at run time (0 = unlimited); a larger limit admits waiters at once.
  void set_limit(std::uint32_t limit);

  std::uint32_t limit() const;
  std::size_t waiting() const;
  std::uint64_t running() const;

 private:
  bool has_room_locked() const { return limit_ == 0 || running_ < limit_; }
  // Moves wakers of newly admitted waiters into `out`; the caller runs them after unlocking.
  void admit_locked(std::vector<Waker>& out);
  void run(std::vector<Waker>& wakers);

  mutable std::mutex mutex_;
  std::uint32_t limit_;
  std::uint64_t running_ = 0;
  std::uint64_t next_ticket_ = 1;
  std::deque<std::pair<std::uint64_t, Waker>> queue_;
};

}  // namespace cic::node_sim
