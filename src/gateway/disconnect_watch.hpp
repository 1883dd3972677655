#pragma once
#include <functional>
#include <memory>

#include "net.hpp"

namespace cic::gateway {

/// Notices a client that goes away while the node is still working, so the upstream request can be
/// cancelled. It waits for the client socket to become readable without consuming anything: EOF
/// or an error means the client left; bytes (a pipelined request) mean it is still there, and
/// watching ends. Runs on the connection's strand; `stop()` before the next read of the socket.
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
  tcp::socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace cic::gateway
