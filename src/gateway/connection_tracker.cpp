#include "connection_tracker.hpp"

#include <boost/asio/post.hpp>

namespace cic::gateway {

std::shared_ptr<ConnectionHandle> ConnectionTracker::add(net::any_io_executor executor, beast::tcp_stream& stream) {
  auto handle = std::make_shared<ConnectionHandle>();
  handle->executor = std::move(executor);
  handle->stream = &stream;
  std::lock_guard lock(mutex_);
  handles_.insert(handle);
  return handle;
}

void ConnectionTracker::remove(const std::shared_ptr<ConnectionHandle>& handle) {
  std::lock_guard lock(mutex_);
  handles_.erase(handle);
}

std::size_t ConnectionTracker::connections() const {
  std::lock_guard lock(mutex_);
  return handles_.size();
}

void ConnectionTracker::close_idle() {
  std::lock_guard lock(mutex_);
  for (const auto& handle : handles_) {
    net::post(handle->executor, [handle] {
      if (handle->stream && !handle->busy) handle->stream->cancel();
    });
  }
}

}  // namespace cic::gateway
