#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cic/registry/node.hpp"
#include "net.hpp"

namespace cic::gateway {

/// Keep-alive connections to model nodes, shared by all loop threads. Idle connections are kept
/// as bare sockets; `acquire` rebinds one to the caller's executor (its connection strand), so a
/// request's client and upstream I/O always run on one strand and never race.
class UpstreamPool {
 public:
  explicit UpstreamPool(std::size_t max_idle_per_node);
  ~UpstreamPool();

  struct Lease {
    std::unique_ptr<beast::tcp_stream> stream;
    bool reused = false;  // came from the idle pool (may turn out stale)
  };

  /// An idle connection to `node`, or a new one (connect bounded by `connect_timeout`).
  net::awaitable<std::pair<beast::error_code, Lease>> acquire(const registry::Node& node,
                                                             std::chrono::milliseconds connect_timeout,
                                                             bool allow_reuse = true);
  /// Returns a connection whose last response was read completely and allows keep-alive.
  void release(const registry::Node& node, std::unique_ptr<beast::tcp_stream> stream);
  std::size_t idle_count() const;

 private:
  struct IdleSocket {
    tcp protocol;
    int fd;
  };
  net::awaitable<std::pair<beast::error_code, tcp::endpoint>> endpoint_for(const registry::Node& node);
  int pop_live_idle(const std::string& node_id, tcp& protocol);

  std::size_t max_idle_per_node_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<IdleSocket>> idle_;
  std::unordered_map<std::string, tcp::endpoint> endpoints_;  // "host:port" -> resolved
};

}  // namespace cic::gateway
