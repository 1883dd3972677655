#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cic::registry {

enum class NodeState { kLaunching, kReady, kDraining, kDrained, kDead };
const char* to_string(NodeState state);

/// Where a node answers: parsed once from its `http://host:port` endpoint.
struct NodeAddress {
  std::string scheme;  // http | https
  std::string host;
  std::uint16_t port = 0;
};

/// Live counters of one node, shared by every snapshot that contains it, updated lock-free by the
/// gateway threads.
struct NodeLoad {
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};
  /// Until this steady-clock time (ns since epoch) the node is ejected after connection failures.
  std::atomic<std::int64_t> ejected_until_ns{0};
};

/// One model node, immutable once published in a snapshot (only `load` changes).
struct Node {
  std::string id;
  std::string provider;
  std::string region;
  std::string instance_type;
  std::string endpoint;
  NodeAddress address;
  std::vector<std::string> models;
  bool spot = false;
  std::int64_t price_per_hour_micros = 0;
  std::int64_t capacity_tokens_per_sec = 0;
  NodeState state = NodeState::kReady;
  std::shared_ptr<NodeLoad> load = std::make_shared<NodeLoad>();

  bool serves(const std::string& model) const;
};

/// Parses "http://host:port" (port defaults to 80/443). Returns false with `error` set otherwise.
bool parse_endpoint(const std::string& endpoint, NodeAddress& out, std::string& error);

}  // namespace cic::registry
