#pragma once
// One client connection: reads requests with limits and deadlines, hands each to a RequestHandler
// through a ClientChannel, and keeps the connection alive between requests. A template over the
// stream type (plain TCP or TLS); instantiated only in gateway.cpp.
#include <optional>

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

  net::awaitable<bool> send(Response& response) override {
    response.keep_alive(keep_alive());
    response.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(limits_.read_timeout);
    auto [ec, n] = co_await http::async_write(stream_, response, use_nothrow);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  net::awaitable<bool> send_head(StreamHead& head) override {
    head.keep_alive(keep_alive());
    http::response_serializer<http::empty_body> serializer{head};
    beast::get_lowest_layer(stream_).expires_after(limits_.read_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, use_nothrow);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  net::awaitable<bool> send_chunk(std::string_view data) override {
    if (data.empty()) co_return true;
    beast::get_lowest_layer(stream_).expires_after(limits_.read_timeout);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk(net::buffer(data.data(), data.size())), use_nothrow);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  net::awaitable<bool> finish_chunks() override {
    beast::get_lowest_layer(stream_).expires_after(limits_.read_timeout);
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), use_nothrow);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  tcp::socket& socket() override { return beast::get_lowest_layer(stream_).socket(); }
  bool keep_alive() const override { return keep_alive_ && !draining_(); }
  void set_keep_alive(bool keep) override { keep_alive_ = keep; }

 private:
  Stream& stream_;
  const config::ServerLimits& limits_;
  std::function<bool()> draining_;
  bool keep_alive_ = true;
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
