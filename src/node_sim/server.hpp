#pragma once
// Listener, io threads and process lifetime of cic-node-sim (kept free of Asio in the header so
// main.cpp compiles fast).

#include "node_sim/options.hpp"

namespace cic::node_sim {

/// Binds, announces readiness (stdout line and --ready-file), serves until SIGTERM/SIGINT and
/// then exits the process with status 0. Returns non-zero only when startup fails.
int run_server(const SimOptions& options);

}  // namespace cic::node_sim
