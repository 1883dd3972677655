#pragma once
// Helpers of the health monitor tests: a real cic-node-sim process, a scripted misbehaving TCP
// server, a blocking HTTP client and a recorder of probe results. No Asio here.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cic/health/health_monitor.hpp"

namespace cic::health::testing {

using namespace std::chrono_literals;

/// Polls `predicate` every 10 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);

/// One cic-node-sim process (binary from CIC_NODE_SIM_PATH), started on 127.0.0.1:<port> (0 = any).
class NodeSim {
 public:
  explicit NodeSim(std::vector<std::string> args, std::uint16_t port = 0);
  ~NodeSim();  // SIGKILL if still running
  NodeSim(const NodeSim&) = delete;
  NodeSim& operator=(const NodeSim&) = delete;

  std::uint16_t port() const { return port_; }
  registry::NodeAddress address() const { return {"http", "127.0.0.1", port_}; }
  /// SIGKILL and reap.
  void kill();

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string ready_file_;
};

/// A listener on 127.0.0.1 that answers every connection with `reply` (after reading the request
/// head) and closes it. An empty `reply` closes at once without reading.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::string reply);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  registry::NodeAddress address() const { return {"http", "127.0.0.1", port_}; }
  int connections() const { return connections_.load(); }

 private:
  void serve();

  std::string reply_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

/// A blocking HTTP/1.1 exchange with 127.0.0.1:port: the answer's body, or nullopt on failure.
std::optional<std::string> http_get(std::uint16_t port, const std::string& path);

/// Opens a connection and sends a POST without reading the answer; returns the socket (or -1).
/// The caller closes it, which makes cic-node-sim abort the request.
int post_and_hold(std::uint16_t port, const std::string& path, const std::string& body);

/// Collects what `report` receives, from the io thread, and lets a test wait for results.
class Recorder {
 public:
  void add(const ProbeResult& result);
  std::vector<ProbeResult> all() const;
  std::size_t size() const;
  std::size_t count(const std::string& node_id, ProbeKind kind) const;
  /// The first result at index >= `from` that matches, waiting up to `timeout` for it.
  std::optional<ProbeResult> wait_for(const std::function<bool(const ProbeResult&)>& match,
                                      std::chrono::milliseconds timeout, std::size_t from = 0) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<ProbeResult> results_;
};

/// Matchers for Recorder::wait_for.
std::function<bool(const ProbeResult&)> is(const std::string& node_id, ProbeKind kind);
std::function<bool(const ProbeResult&)> is(const std::string& node_id, ProbeKind kind, bool ok);

}  // namespace cic::health::testing
