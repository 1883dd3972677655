#include "disconnect_watch.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace cic::gateway {
namespace {

enum class Peek { kGone, kData, kNothing };

// What is really on the socket. Readiness alone is not proof: with edge-triggered epoll a wait can
// complete on a stale event for bytes that an earlier read already took.
Peek peek(tcp::socket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return Peek::kData;
  if (n == 0) return Peek::kGone;
  return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? Peek::kNothing : Peek::kGone;
}

}  // namespace

DisconnectWatch::DisconnectWatch(tcp::socket& socket, std::function<void()> on_gone)
    : socket_(socket), state_(std::make_shared<State>()) {
  state_->on_gone = std::move(on_gone);
  arm(socket_, state_);
}

void DisconnectWatch::arm(tcp::socket& socket, std::shared_ptr<State> state) {
  socket.async_wait(tcp::socket::wait_read, [state, &socket](beast::error_code ec) {
    if (state->stopped || ec == net::error::operation_aborted) return;
    Peek seen = ec ? Peek::kGone : peek(socket);
    if (seen == Peek::kNothing) {
      arm(socket, state);  // spurious wake-up: keep watching
    } else if (seen == Peek::kGone) {
      state->gone = true;
      if (state->on_gone) state->on_gone();
    }
    // kData: a pipelined request; the client is there, and the next read will take it.
  });
}

DisconnectWatch::~DisconnectWatch() { stop(); }

void DisconnectWatch::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->on_gone = nullptr;
  beast::error_code ec;
  socket_.cancel(ec);  // completes the pending wait with operation_aborted
}

}  // namespace cic::gateway
