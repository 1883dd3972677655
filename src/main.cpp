// cic-control: flags, config, App::run(). Nothing else lives here.
#include <cstring>
#include <iostream>
#include <string>

#include "cic/app/app.hpp"
#include "cic/config/config.hpp"

namespace {

constexpr const char* kUsage =
    "usage: cic-control [--config FILE] [--ready-file FILE]\n"
    "       cic-control --check-config FILE   (or: --config FILE --check-config)\n"
    "       cic-control --version\n"
    "\n"
    "  --config FILE       YAML configuration (default: /etc/cic/cic.yaml)\n"
    "  --check-config FILE validate FILE, print every problem, exit 0 if valid, 2 if not\n"
    "  --ready-file FILE   once serving, write {\"pid\",\"http_port\",\"admin_port\"} as JSON to FILE\n";

int report(const cic::config::ConfigError& error) {
  for (const auto& issue : error.issues()) std::cerr << issue.to_string() << '\n';
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/cic/cic.yaml";
  std::string check_path;
  bool check_mode = false;
  cic::app::AppOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "cic-control: " << flag << " needs a value\n" << kUsage;
        std::exit(64);
      }
      return argv[++i];
    };
    if (arg == "--config") config_path = value("--config");
    else if (arg == "--check-config") {
      // Either `--check-config FILE` or `--config FILE --check-config`.
      check_mode = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') check_path = argv[++i];
    }
    else if (arg == "--ready-file") options.ready_file = value("--ready-file");
    else if (arg == "--version") { std::cout << "cic-control 0.1.0\n"; return 0; }
    else if (arg == "--help" || arg == "-h") { std::cout << kUsage; return 0; }
    else { std::cerr << "cic-control: unknown argument '" << arg << "'\n" << kUsage; return 64; }
  }

  if (check_mode) {
    if (check_path.empty()) check_path = config_path;
    try {
      cic::config::load_config(check_path);
      std::cout << check_path << ": OK\n";
      return 0;
    } catch (const cic::config::ConfigError& e) {
      return report(e);
    }
  }

  try {
    cic::config::Config config = cic::config::load_config(config_path);
    cic::app::App app(std::move(config), options);
    return app.run();
  } catch (const cic::config::ConfigError& e) {
    return report(e);
  } catch (const std::exception& e) {
    std::cerr << "cic-control: " << e.what() << '\n';
    return 1;
  }
}
