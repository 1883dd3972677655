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

/// Keep-alive connections to model nodes. Each io_context is run by one thread, and an idle
/// connection is handed back only to a request running on the context that owns it, so a
/// connection's I/O never crosses threads. Thread-safe (a short lock around the idle lists).
class UpstreamPool {
 public:
  explicit UpstreamPool(std::size_t max_idle_per_node);
  ~UpstreamPool();

  struct Lease {
    std::unique_ptr<beast::tcp_stream> stream;
    bool reused = false;  // came from the idle pool (may turn out stale)
  };

  /// An idle connection to `node` owned by the caller's io_context, or a new one (connect bounded
  /// by `connect_timeout`).
  net::awaitable<std::pair<beast::error_code, Lease>> acquire(const registry::Node& node,
                                                             std::chrono::milliseconds connect_timeout,
                                                             bool allow_reuse = true);
  /// Returns a connection whose last response was read completely and allows keep-alive.
  void release(const registry::Node& node, std::unique_ptr<beast::tcp_stream> stream);
  std::size_t idle_count() const;

 private:
  using Key = std::pair<std::string, const void*>;  // node id, owning io_context
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept {
      return std::hash<std::string>{}(key.first) ^ std::hash<const void*>{}(key.second);
    }
  };
  net::awaitable<std::pair<beast::error_code, tcp::endpoint>> endpoint_for(const registry::Node& node);
  std::unique_ptr<beast::tcp_stream> pop_idle(const Key& key);

  std::size_t max_idle_per_node_;
  mutable std::mutex mutex_;
  std::unordered_map<Key, std::vector<std::unique_ptr<beast::tcp_stream>>, KeyHash> idle_;
  std::unordered_map<std::string, tcp::endpoint> endpoints_;  // "host:port" -> resolved
};

}  // namespace cic::gateway
