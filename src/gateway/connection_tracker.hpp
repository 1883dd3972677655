#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "net.hpp"

namespace cic::gateway {

/// One open client connection as the tracker sees it. Fields are touched only on the connection's
/// strand (`executor`).
struct ConnectionHandle {
  net::any_io_executor executor;
  beast::tcp_stream* stream = nullptr;  // null once the session ended
  bool busy = false;                     // a request is being handled
};

/// Counts connections and in-flight requests and closes idle connections when draining.
/// Thread-safe.
class ConnectionTracker {
 public:
  std::shared_ptr<ConnectionHandle> add(net::any_io_executor executor, beast::tcp_stream& stream);
  void remove(const std::shared_ptr<ConnectionHandle>& handle);
  std::size_t connections() const;

  void request_started() { active_.fetch_add(1, std::memory_order_relaxed); }
  /// Returns the number of requests still in flight.
  std::size_t request_finished() { return active_.fetch_sub(1, std::memory_order_acq_rel) - 1; }
  std::size_t active_requests() const { return active_.load(std::memory_order_acquire); }

  /// Closes every connection that is waiting for its next request (on each one's strand).
  void close_idle();

 private:
  mutable std::mutex mutex_;
  std::unordered_set<std::shared_ptr<ConnectionHandle>> handles_;
  std::atomic<std::size_t> active_{0};
};

}  // namespace cic::gateway
