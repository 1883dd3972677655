#pragma once
#include <utility>  // before Asio (Boost 1.74's awaitable.hpp lacks it; harmless on 1.81)

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <memory>

#include "cic/cache/redis_client.hpp"

struct redisAsyncContext;
struct redisReply;

namespace cic::cache::detail {

/// The Asio side of one hiredis async context: hiredis's event hooks (addRead/delRead/addWrite/
/// delWrite/cleanup) become async_wait calls on a stream_descriptor over hiredis's socket.
/// Everything here runs on the client's io thread.
///
/// Lifetime: attach() makes the object own itself until hiredis calls the cleanup hook (when the
/// context is freed, by hiredis itself or by us); the descriptor then releases the socket without
/// closing it, because hiredis closes it.
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  RedisConnection(boost::asio::io_context& io, redisAsyncContext* context);

  /// Installs the hooks; from now on hiredis drives the waits.
  void attach();
  /// The context, or nullptr once hiredis has freed it.
  redisAsyncContext* context() const { return context_; }
  /// Frees the context now if it is still alive (pending callbacks get a NULL reply). Must not
  /// be called from inside a hiredis callback.
  void free_context();

  std::chrono::steady_clock::time_point last_read() const { return last_read_; }

 private:
  static void hook_add_read(void* self) noexcept;
  static void hook_del_read(void* self) noexcept;
  static void hook_add_write(void* self) noexcept;
  static void hook_del_write(void* self) noexcept;
  static void hook_cleanup(void* self) noexcept;

  void arm_read();
  void arm_write();
  void cleanup();

  redisAsyncContext* context_;
  boost::asio::posix::stream_descriptor socket_;
  bool want_read_ = false, want_write_ = false;
  bool reading_ = false, writing_ = false;  // an async_wait is outstanding
  std::chrono::steady_clock::time_point last_read_;
  std::shared_ptr<RedisConnection> self_;   // set by attach, dropped by cleanup
};

/// hiredis reply (or NULL: no reply, the context is going away) to a Reply.
Reply convert_reply(const redisReply* reply);

}  // namespace cic::cache::detail
