#include "cic/registry/node.hpp"

#include <algorithm>
#include <charconv>

namespace cic::registry {

const char* to_string(NodeState state) {
  switch (state) {
    case NodeState::kLaunching: return "launching";
    case NodeState::kReady: return "ready";
    case NodeState::kDraining: return "draining";
    case NodeState::kDrained: return "drained";
    case NodeState::kDead: return "dead";
  }
  return "unknown";
}

bool Node::serves(const std::string& model) const {
  return std::find(models.begin(), models.end(), model) != models.end();
}

bool parse_endpoint(const std::string& endpoint, NodeAddress& out, std::string& error) {
  std::string_view rest = endpoint;
  if (rest.starts_with("http://")) {
    out.scheme = "http";
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    out.scheme = "https";
    rest.remove_prefix(8);
  } else {
    error = "endpoint must start with http:// or https://";
    return false;
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view host = rest;
  std::string_view port;
  if (rest.starts_with('[')) {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 address";
      return false;
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        error = "expected ':' after IPv6 address";
        return false;
      }
      port = rest.substr(close + 2);
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) {
    error = "endpoint has no host";
    return false;
  }
  out.host = std::string(host);
  out.port = out.scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      error = "invalid port '" + std::string(port) + "'";
      return false;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return true;
}

}  // namespace cic::registry
