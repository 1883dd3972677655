#include "node_sim/server.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "node_sim/session.hpp"
#include "node_sim/sim_state.hpp"

namespace cic::node_sim {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// 500 concurrent streams plus the gateway's pools exceed the usual soft limit of 1024.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Written to a temporary name and renamed, so a poller never reads half a file.
void write_ready_file(const std::string& path, unsigned port) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream file(tmp, std::ios::trunc);
    file << "{\"port\": " << port << ", \"pid\": " << ::getpid() << "}\n";
    if (!file) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename to " + path);
}

asio::awaitable<void> accept_loop(SimContext& ctx, tcp::acceptor& acceptor) {
  for (;;) {
    // Every connection gets its own strand: the session's coroutines share its state.
    tcp::socket socket(asio::make_strand(acceptor.get_executor()));
    auto [ec] = co_await acceptor.async_accept(socket, kAsTuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or a transient error: back off instead of spinning.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(10));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    boost::system::error_code ignored;
    if (ctx.options.refuse_connections) {
      // SO_LINGER 0 turns close() into an RST: the client sees "connection reset".
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, run_session(ctx, std::move(socket)), asio::detached);
  }
}

}  // namespace

int run_server(const SimOptions& options) {
  raise_fd_limit();
  SimContext ctx(options);
  asio::io_context ioc(static_cast<int>(options.threads));

  tcp::endpoint endpoint(asio::ip::make_address(options.listen_host), options.listen_port);
  tcp::acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  const unsigned port = acceptor.local_endpoint().port();

  std::printf("cic-node-sim listening on %s:%u\n", options.listen_host.c_str(), port);
  std::fflush(stdout);
  if (!options.ready_file.empty()) write_ready_file(options.ready_file, port);

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](const boost::system::error_code&, int) { ioc.stop(); });
  asio::co_spawn(ioc, accept_loop(ctx, acceptor), asio::detached);

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (std::thread& t : threads) t.join();
  // Sessions still in flight hold references into `ctx`; the simulator keeps nothing worth
  // flushing, so leave without unwinding them rather than risk a slow or racy teardown.
  std::fflush(stdout);
  std::_Exit(0);
}

}  // namespace cic::node_sim
