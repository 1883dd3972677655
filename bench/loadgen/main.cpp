// cic-loadgen: constant-rate (open loop) and maximum-throughput (closed loop) HTTP/1.1 load
// generator for benchmarking cic-control against a direct node and nginx. See docs/benchmarks.md.
#include <utility>  // before Asio, see docs/TOOLCHAIN gotchas

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdio>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <iostream>
#include <thread>
#include <vector>

#include "options.hpp"
#include "recorder.hpp"
#include "report.hpp"
#include "target.hpp"
#include "worker.hpp"

namespace {

// Resolved once before the run so no request pays for name lookup.
std::string resolve(const cic::bench::Target& t) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  const auto results = resolver.resolve(t.host, std::to_string(t.port));
  return results.begin()->endpoint().address().to_string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cic::bench;
  const Options options = parse_options(argc, argv);
  try {
    const Target target = make_target(options);
    const std::string address = resolve(target);

    std::vector<Recorder> recorders(options.threads);
    std::vector<std::exception_ptr> failures(options.threads);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < options.threads; ++i) {
      threads.emplace_back([&, i] {
        try {
          recorders[i] = run_worker(options, target, address, WorkerShare{i, options.threads});
        } catch (...) {
          failures[i] = std::current_exception();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (auto& f : failures)
      if (f) std::rethrow_exception(f);

    Recorder merged = std::move(recorders[0]);
    for (unsigned i = 1; i < options.threads; ++i) merged.merge(std::move(recorders[i]));
    if (!options.ids_file.empty()) {
      std::ofstream ids(options.ids_file, std::ios::trunc);
      for (const auto& id : merged.completed_ids()) ids << id << '\n';
      if (!ids) throw std::runtime_error("cannot write --ids-file " + options.ids_file);
    }
    const auto report = make_report(options, merged);
    if (options.json)
      std::cout << report.dump(2) << '\n';
    else
      print_text_report(report);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "cic-loadgen: " << e.what() << '\n';
    return 1;
  }
}
