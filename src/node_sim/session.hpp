#pragma once
// One HTTP/1.1 connection of cic-node-sim. Only session.cpp and server.cpp include this header;
// everything request-independent lives in the Asio-free core files.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace cic::node_sim {

struct SimContext;

/// Serves requests on `socket` until the peer closes, keep-alive ends or the idle timeout
/// fires. The socket's executor must be a strand: the session runs several coroutines at once
/// (request loop, idle watchdog, disconnect watch) and relies on them never running in parallel.
boost::asio::awaitable<void> run_session(SimContext& ctx, boost::asio::ip::tcp::socket socket);

}  // namespace cic::node_sim
