#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

namespace cic::bench {
namespace {

constexpr const char* kUsage = R"(usage: cic-loadgen --url http://HOST:PORT/PATH [options]

Load shape (one of):
  --rate R                open loop: R requests/s scheduled at t0 + i/R whatever the responses;
                          latency counts from the scheduled time (no coordinated omission)
  --closed-loop           each connection sends its next request as soon as the last one ends
  --concurrency N         closed loop with N connections (e.g. N concurrent streams)

Request:
  --method M              default POST with a body, GET without
  --body STRING | --body-file F
  --header 'Name: value'  repeatable
  --stream                response is a stream: also measure time to first body chunk

Run:
  --duration S            measured seconds (default 10)
  --warmup S              seconds run before measuring (default 0)
  --connections N         keep-alive connection pool (default 64)
  --max-connections N     open loop: grow the pool up to N when every connection is busy
  --timeout-ms MS         per request (connect, or send + whole response); default 10000
  --threads T             io threads (default 1; the machine is shared with the target)
  --label NAME            copied into the report
  --ids-file PATH         write the x-request-id of every request that completed with a 2xx
                          (whole response; streams up to [DONE]), one per line, warmup included
  --json                  machine-readable report on stdout
)";

[[noreturn]] void usage_error(const std::string& why) {
  std::cerr << "cic-loadgen: " << why << "\n\n" << kUsage;
  std::exit(2);
}

double to_double(std::string_view flag, const std::string& v) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || d < 0) usage_error(std::string(flag) + ": not a number >= 0: " + v);
  return d;
}

unsigned to_unsigned(std::string_view flag, const std::string& v) {
  char* end = nullptr;
  const unsigned long u = std::strtoul(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || u > 1'000'000) usage_error(std::string(flag) + ": bad count: " + v);
  return static_cast<unsigned>(u);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) usage_error("cannot read --body-file " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::pair<std::string, std::string> split_header(const std::string& h) {
  const auto colon = h.find(':');
  if (colon == std::string::npos || colon == 0) usage_error("--header wants 'Name: value': " + h);
  std::string value = h.substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  value = first == std::string::npos ? std::string() : value.substr(first);
  return {h.substr(0, colon), value};
}

void validate(Options& o, bool concurrency_given) {
  if (o.url.empty()) usage_error("--url is required");
  if (concurrency_given) o.closed_loop = true;
  if (!o.closed_loop && o.rate <= 0) usage_error("give --rate R (open loop) or --closed-loop / --concurrency N");
  if (o.closed_loop && o.rate > 0) usage_error("--rate and --closed-loop/--concurrency exclude each other");
  if (o.duration_s <= 0) usage_error("--duration must be > 0");
  if (o.connections == 0) usage_error("--connections must be > 0");
  if (o.threads == 0 || o.threads > 16) usage_error("--threads must be 1..16");
  if (o.threads > o.connections) usage_error("--threads cannot exceed --connections");
  if (o.max_connections == 0) o.max_connections = o.connections;
  if (o.max_connections < o.connections) usage_error("--max-connections is below --connections");
  if (o.timeout_ms == 0) usage_error("--timeout-ms must be > 0");
  if (o.method.empty()) o.method = o.body.empty() ? "GET" : "POST";
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  bool concurrency_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (flag == "--url") {
      o.url = value();
    } else if (flag == "--method") {
      o.method = value();
    } else if (flag == "--body") {
      o.body = value();
    } else if (flag == "--body-file") {
      o.body = read_file(value());
    } else if (flag == "--header") {
      o.headers.push_back(split_header(value()));
    } else if (flag == "--label") {
      o.label = value();
    } else if (flag == "--ids-file") {
      o.ids_file = value();
    } else if (flag == "--rate") {
      o.rate = to_double(flag, value());
    } else if (flag == "--duration") {
      o.duration_s = to_double(flag, value());
    } else if (flag == "--warmup") {
      o.warmup_s = to_double(flag, value());
    } else if (flag == "--connections") {
      o.connections = to_unsigned(flag, value());
    } else if (flag == "--concurrency") {
      o.connections = to_unsigned(flag, value());
      concurrency_given = true;
    } else if (flag == "--max-connections") {
      o.max_connections = to_unsigned(flag, value());
    } else if (flag == "--timeout-ms") {
      o.timeout_ms = to_unsigned(flag, value());
    } else if (flag == "--threads") {
      o.threads = to_unsigned(flag, value());
    } else if (flag == "--closed-loop") {
      o.closed_loop = true;
    } else if (flag == "--stream") {
      o.stream = true;
    } else if (flag == "--json") {
      o.json = true;
    } else {
      usage_error("unknown flag " + std::string(flag));
    }
  }
  validate(o, concurrency_given);
  return o;
}

}  // namespace cic::bench
