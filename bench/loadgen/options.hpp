#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cic::bench {

/// Command-line settings of one cic-loadgen run, validated by parse_options().
struct Options {
  std::string url;
  std::string method;  // empty until parsed: POST when a body is given, GET otherwise
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string label;  // copied into the report so scripts can tell runs apart
  std::string ids_file;  // written at the end: x-request-id of every 2xx response read whole

  double rate = 0;           // open loop: requests per second over all threads
  double duration_s = 10;    // measured window
  double warmup_s = 0;       // run before the window; not recorded
  unsigned connections = 64;
  unsigned max_connections = 0;  // 0 = same as connections (the pool never grows)
  unsigned timeout_ms = 10'000;  // per exchange (connect, or write + whole response)
  unsigned threads = 1;          // io threads, each with its own io_context and share of the load

  bool closed_loop = false;
  bool stream = false;
  bool json = false;
};

/// Parses argv; on a usage error prints the reason and usage to stderr and exits with 2.
Options parse_options(int argc, char** argv);

}  // namespace cic::bench
