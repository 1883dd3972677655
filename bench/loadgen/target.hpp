#pragma once
#include <cstdint>
#include <string>

#include "options.hpp"

namespace cic::bench {

/// Where requests go, and the exact bytes of the request, serialised once and reused for every
/// send (the load generator must not spend the shared CPU rebuilding identical requests).
struct Target {
  std::string host;
  std::uint16_t port = 80;
  std::string path;
  std::string request_bytes;
};

/// Builds the target from --url (plain http:// only), --method, --header and --body.
/// Throws std::invalid_argument on a URL it cannot use.
Target make_target(const Options& options);

}  // namespace cic::bench
