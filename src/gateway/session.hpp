#pragma once
// One client connection: reads requests with limits and deadlines, hands each to a RequestHandler
// through a ClientChannel, and keeps the connection alive between requests. A template over the
// stream type (plain TCP or TLS); instantiated only in gateway.cpp.
#include <array>
#include <cstdio>
#include <optional>
#include <string>

#include <boost/asio/write.hpp>

#include "cic/config/config.hpp"
#include "client_channel.hpp"
#include "connection_tracker.hpp"

namespace cic::gateway {

/// What a session needs from its listener.
struct SessionContext {
  const config::ServerLimits& limits;
  RequestHandler& handler;
  ConnectionTracker& tracker;
  std::function<bool()> draining;
};

template <class Stream>
class StreamChannel final : public ClientChannel {
 public:
  StreamChannel(Stream& stream, const config::ServerLimits& limits, std::function<bool()> draining)
      : stream_(stream), limits_(limits), draining_(std::move(draining)) {}

  // Serialized by hand (status line, fields, Content-Length) and written with the body in one
  // gather write: this is every non-streamed answer, so it stays cheap.
  net::awaitable<bool> send(Response& response) override {
    response.keep_alive(keep_alive());
    std::string head;
    head.reserve(256);
    head.append("HTTP/1.1 ").append(std::to_string(response.result_int())).push_back(' ');
    head.append(response.reason()).append("\r\n");
    for (const auto& field : response) {
      if (field.name() == http::field::content_length) continue;
      head.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
    }
    head.append("Content-Length: ").append(std::to_string(response.body().size())).append("\r\n\r\n");
    std::array<net::const_buffer, 3> buffers{net::buffer(pending_head_), net::buffer(head), net::buffer(response.body())};
    co_return co_await write_all(buffers);
  }

  // The head of a chunked response is held back and leaves with the first chunk: one write
  // instead of two, and the client's first byte is its first event.
  net::awaitable<bool> send_head(StreamHead& head) override {
    head.keep_alive(keep_alive());
    pending_head_.clear();
    pending_head_.append("HTTP/1.1 ").append(std::to_string(head.result_int())).push_back(' ');
    pending_head_.append(head.reason()).append("\r\n");
    for (const auto& field : head) {
      pending_head_.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
    }
    pending_head_.append("\r\n");
    co_return true;
  }

  net::awaitable<bool> send_chunk(std::string_view data) override {
    if (data.empty()) co_return true;
    char size_line[24];
    int size_len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
    std::array<net::const_buffer, 4> buffers{net::buffer(pending_head_), net::buffer(size_line, size_len),
                                             net::buffer(data.data(), data.size()), net::buffer("\r\n", 2)};
    co_return co_await write_all(buffers);
  }

  net::awaitable<bool> finish_chunks() override {
    std::array<net::const_buffer, 2> buffers{net::buffer(pending_head_), net::buffer("0\r\n\r\n", 5)};
    co_return co_await write_all(buffers);
  }

  tcp::socket& socket() override { return beast::get_lowest_layer(stream_).socket(); }

 private:
  template <class Buffers>
  net::awaitable<bool> write_all(const Buffers& buffers) {
    beast::get_lowest_layer(stream_).expires_after(limits_.read_timeout);
    auto [ec, n] = co_await net::async_write(stream_, buffers, use_nothrow);
    pending_head_.clear();
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

 public:
  bool keep_alive() const override { return keep_alive_ && !draining_(); }
  void set_keep_alive(bool keep) override { keep_alive_ = keep; }

 private:
  Stream& stream_;
  const config::ServerLimits& limits_;
  std::function<bool()> draining_;
  bool keep_alive_ = true;
  std::string pending_head_;  // a chunked response's head, not yet written
};

/// Reads and serves requests until the client closes, an error, or draining.
template <class Stream>
net::awaitable<void> serve_connection(Stream& stream, SessionContext& ctx) {
  auto& lowest = beast::get_lowest_layer(stream);
  auto handle = ctx.tracker.add(co_await net::this_coro::executor, lowest);
  beast::flat_buffer buffer;
  StreamChannel<Stream> channel(stream, ctx.limits, ctx.draining);

  for (;;) {
    if (ctx.draining()) break;
    std::optional<http::request_parser<http::string_body>> parser;
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(ctx.limits.max_header_bytes));
    parser->body_limit(ctx.limits.max_body_bytes);

    handle->busy = false;
    lowest.expires_after(ctx.limits.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, *parser, use_nothrow);
    handle->busy = true;
    if (!ec && parser->get()[http::field::expect] == "100-continue" && !parser->is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      std::tie(ec, n) = co_await net::async_write(stream, net::buffer(kContinue.data(), kContinue.size()), use_nothrow);
    }
    if (!ec && !parser->is_done()) {
      lowest.expires_after(ctx.limits.read_timeout);
      std::tie(ec, n) = co_await http::async_read(stream, buffer, *parser, use_nothrow);
    }
    if (ec) {
      // Answer what deserves an answer; anything else (close, reset, idle timeout) just ends.
      int status = 0;
      if (ec == http::error::body_limit) status = 413;
      else if (ec == http::error::header_limit) status = 431;
      else if (ec == beast::error::timeout && buffer.size() > 0) status = 408;
      else if (&ec.category() == &http::make_error_code(http::error::bad_method).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) status = 400;
      if (status != 0) {
        ctx.tracker.request_started();
        co_await ctx.handler.reject(status, channel, ec.message());
        ctx.tracker.request_finished();
      }
      break;
    }

    Request request = parser->release();
    channel.set_keep_alive(request.keep_alive());
    ctx.tracker.request_started();
    co_await ctx.handler.handle(request, channel);
    ctx.tracker.request_finished();
    if (!channel.keep_alive()) break;
  }

  handle->stream = nullptr;
  ctx.tracker.remove(handle);
}

}  // namespace cic::gateway
