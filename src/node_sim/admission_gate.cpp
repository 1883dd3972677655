#include "node_sim/admission_gate.hpp"

#include <algorithm>

namespace cic::node_sim {

bool AdmissionGate::try_acquire() {
  std::lock_guard lock(mutex_);
  if (!queue_.empty() || !has_room_locked()) return false;
  ++running_;
  return true;
}

std::uint64_t AdmissionGate::enqueue(Waker wake) {
  std::vector<Waker> wakers;
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    ticket = next_ticket_++;
    queue_.emplace_back(ticket, std::move(wake));
    admit_locked(wakers);
  }
  run(wakers);
  return ticket;
}

bool AdmissionGate::withdraw(std::uint64_t ticket) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(queue_.begin(), queue_.end(),
                         [ticket](const auto& entry) { return entry.first == ticket; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

void AdmissionGate::release() {
  std::vector<Waker> wakers;
  {
    std::lock_guard lock(mutex_);
    if (running_ > 0) --running_;
    admit_locked(wakers);
  }
  run(wakers);
}

void AdmissionGate::set_limit(std::uint32_t limit) {
  std::vector<Waker> wakers;
  {
    std::lock_guard lock(mutex_);
    limit_ = limit;
    admit_locked(wakers);
  }
  run(wakers);
}

std::uint32_t AdmissionGate::limit() const {
  std::lock_guard lock(mutex_);
  return limit_;
}

std::size_t AdmissionGate::waiting() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::uint64_t AdmissionGate::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

void AdmissionGate::admit_locked(std::vector<Waker>& out) {
  while (!queue_.empty() && has_room_locked()) {
    ++running_;
    out.push_back(std::move(queue_.front().second));
    queue_.pop_front();
  }
}

void AdmissionGate::run(std::vector<Waker>& wakers) {
  for (Waker& wake : wakers) wake();
}

}  // namespace cic::node_sim
