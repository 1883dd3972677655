#pragma once
#include <functional>
#include <memory>

#include "net.hpp"

namespace cic::gateway {

/// Notices a client that goes away while the node is still working, so the upstream request can be
/// cancelled. It waits for the client socket to become readable and peeks without consuming
/// anything: EOF or an error means the client left; bytes (a pipelined request) mean it is still
/// there, and watching ends; nothing at all was a stale wake-up, and watching goes on. Runs on the connection's strand; `stop()` before the next read of the socket.
class DisconnectWatch {
 public:
  DisconnectWatch(tcp::socket& socket, std::function<void()> on_gone);
  ~DisconnectWatch();
  DisconnectWatch(const DisconnectWatch&) = delete;
  DisconnectWatch& operator=(const DisconnectWatch&) = delete;

  bool gone() const { return state_->gone; }
  void stop();

 private:
  struct State {
    bool stopped = false;
    bool gone = false;
    std::function<void()> on_gone;
  };
  static void arm(tcp::socket& socket, std::shared_ptr<State> state);
  tcp::socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace cic::gateway
