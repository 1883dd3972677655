#include "redis_connection.hpp"

#include <hiredis/async.h>

namespace cic::cache::detail {

namespace asio = boost::asio;

RedisConnection::RedisConnection(asio::io_context& io, redisAsyncContext* context)
    : context_(context), socket_(io, context->c.fd), last_read_(std::chrono::steady_clock::now()) {}

void RedisConnection::attach() {
  self_ = shared_from_this();
  context_->ev.data = this;
  context_->ev.addRead = &hook_add_read;
  context_->ev.delRead = &hook_del_read;
  context_->ev.addWrite = &hook_add_write;
  context_->ev.delWrite = &hook_del_write;
  context_->ev.cleanup = &hook_cleanup;
}

void RedisConnection::free_context() {
  if (context_ != nullptr) redisAsyncFree(context_);  // calls hook_cleanup, which clears context_
}

// The hooks are called by hiredis (C): nothing may throw through them.
void RedisConnection::hook_add_read(void* self) noexcept {
  auto* c = static_cast<RedisConnection*>(self);
  c->want_read_ = true;
  try {
    if (!c->reading_) c->arm_read();
  } catch (...) {
  }
}

void RedisConnection::hook_del_read(void* self) noexcept { static_cast<RedisConnection*>(self)->want_read_ = false; }

void RedisConnection::hook_add_write(void* self) noexcept {
  auto* c = static_cast<RedisConnection*>(self);
  c->want_write_ = true;
  try {
    if (!c->writing_) c->arm_write();
  } catch (...) {
  }
}

void RedisConnection::hook_del_write(void* self) noexcept {
  static_cast<RedisConnection*>(self)->want_write_ = false;
}

void RedisConnection::hook_cleanup(void* self) noexcept {
  try {
    static_cast<RedisConnection*>(self)->cleanup();
  } catch (...) {
  }
}

// A wait left outstanding after delRead is not cancelled: when it fires, want_read_ is checked
// and hiredis is not called. That keeps add/del cheap and idempotent, as hiredis expects.
void RedisConnection::arm_read() {
  reading_ = true;
  socket_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->reading_ = false;
                       if (ec || self->context_ == nullptr || !self->want_read_) return;
                       self->last_read_ = std::chrono::steady_clock::now();
                       redisAsyncHandleRead(self->context_);  // may free the context (cleanup)
                       if (self->context_ != nullptr && self->want_read_ && !self->reading_) self->arm_read();
                     });
}

void RedisConnection::arm_write() {
  writing_ = true;
  socket_.async_wait(asio::posix::stream_descriptor::wait_write,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->writing_ = false;
                       if (ec || self->context_ == nullptr || !self->want_write_) return;
                       redisAsyncHandleWrite(self->context_);  // completes a connect, flushes output
                       if (self->context_ != nullptr && self->want_write_ && !self->writing_) self->arm_write();
                     });
}

void RedisConnection::cleanup() {
  // hiredis closes the socket itself right after this hook: give it back without closing it.
  // release() also completes our outstanding waits with operation_aborted.
  context_ = nullptr;
  want_read_ = want_write_ = false;
  socket_.release();
  auto keep = std::move(self_);  // may be the last owner: `this` lives until the end of this call
}

}  // namespace cic::cache::detail
