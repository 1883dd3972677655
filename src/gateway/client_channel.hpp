#pragma once
#include <string_view>

#include "net.hpp"

namespace cic::gateway {

/// The client side of one connection, as the request handlers see it: they write through this and
/// never know whether the connection is plain TCP or TLS. Runs on the connection's strand.
class ClientChannel {
 public:
  virtual ~ClientChannel() = default;

  /// Sends a complete response. False when the client is gone.
  virtual net::awaitable<bool> send(Response& response) = 0;
  /// Starts a chunked response (SSE); then send_chunk() any number of times, then finish_chunks().
  virtual net::awaitable<bool> send_head(StreamHead& head) = 0;
  virtual net::awaitable<bool> send_chunk(std::string_view data) = 0;
  virtual net::awaitable<bool> finish_chunks() = 0;

  /// The TCP socket underneath, for watching for a disconnect while a node works.
  virtual tcp::socket& socket() = 0;
  /// Whether the connection may serve another request after this one.
  virtual bool keep_alive() const = 0;
  virtual void set_keep_alive(bool keep) = 0;
};

/// Handles one request of a listener. Implementations are shared by all connections.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual net::awaitable<void> handle(Request& request, ClientChannel& channel) = 0;
  /// Answers requests the session could not read completely (413, 431, 400, 408).
  virtual net::awaitable<void> reject(int status, ClientChannel& channel, std::string_view detail) = 0;
};

}  // namespace cic::gateway
