#pragma once
#include <memory>
#include <string>

#include "cic/config/config.hpp"

namespace cic::app {

struct AppOptions {
  /// When set, written (atomically) once both listeners accept connections:
  /// {"pid":..,"http_port":..,"admin_port":..[,"api_key_file":..]}
  std::string ready_file;
};

/// Builds the object graph from a validated Config and runs it: store + migrations, bootstrap,
/// node registry, gateway on one io_context with `server.threads` threads, timers, signals.
class App {
 public:
  App(config::Config config, AppOptions options);
  ~App();
  /// Blocks until SIGTERM/SIGINT has drained the gateway. Returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cic::app
