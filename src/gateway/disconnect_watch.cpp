#include "disconnect_watch.hpp"

namespace cic::gateway {

DisconnectWatch::DisconnectWatch(tcp::socket& socket, std::function<void()> on_gone)
    : socket_(socket), state_(std::make_shared<State>()) {
  state_->on_gone = std::move(on_gone);
  socket_.async_wait(tcp::socket::wait_read, [state = state_, &socket = socket_](beast::error_code ec) {
    if (state->stopped || ec == net::error::operation_aborted) return;
    beast::error_code available_ec;
    std::size_t available = ec ? 0 : socket.available(available_ec);
    if (ec || available_ec || available == 0) {
      state->gone = true;
      if (state->on_gone) state->on_gone();
    }
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
