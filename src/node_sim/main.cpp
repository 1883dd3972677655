// cic-node-sim: flags in, server out. See docs/node-sim.md.
#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

#include "node_sim/options.hpp"
#include "node_sim/server.hpp"

int main(int argc, char** argv) {
  using namespace cic::node_sim;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  ParseOutcome outcome = parse_options(args);
  if (outcome.help) {
    std::fputs(usage_text().c_str(), stdout);
    return 0;
  }
  if (!outcome.options) {
    std::fprintf(stderr, "cic-node-sim: %s\n%s", outcome.error.c_str(), usage_text().c_str());
    return 2;
  }
  try {
    return run_server(*outcome.options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cic-node-sim: %s\n", e.what());
    return 1;
  }
}
