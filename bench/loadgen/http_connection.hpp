#pragma once
#include <utility>  // before Asio, see docs/TOOLCHAIN gotchas

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "recorder.hpp"

namespace cic::bench {

/// One keep-alive HTTP/1.1 client connection that replays the same pre-serialised request.
/// Used from a single coroutine on its worker's thread; (re)connects on demand.
class HttpConnection {
 public:
  HttpConnection(boost::asio::any_io_executor executor, boost::asio::ip::tcp::endpoint endpoint,
                 const std::string& request_bytes, std::chrono::milliseconds timeout);

  /// Opens the socket; returns an error kind ("connect", "timeout") or null.
  boost::asio::awaitable<const char*> connect();

  /// Sends the request and reads the whole response. With `stream`, also notes when the first
  /// body bytes arrive and requires the SSE terminator `[DONE]` in a 2xx body.
  boost::asio::awaitable<ExchangeResult> exchange(bool stream);

 private:
  boost::asio::awaitable<const char*> read_response(bool stream, ExchangeResult& result);
  void close();

  boost::beast::tcp_stream stream_;
  boost::asio::ip::tcp::endpoint endpoint_;
  const std::string& request_bytes_;
  std::chrono::milliseconds timeout_;
  boost::beast::flat_buffer buffer_;  // reused across responses of this connection
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
};

}  // namespace cic::bench
