// The connection side of a session: HTTP/1.1 keep-alive loop, idle timeout, plain endpoints,
// disconnect detection and the write helpers generation uses.
#include "node_sim/session.hpp"

#include <array>
#include <cstdio>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

#include "node_sim/http_text.hpp"
#include "node_sim/session_impl.hpp"

namespace cic::node_sim {
namespace detail {
namespace {

using namespace asio::experimental::awaitable_operators;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::uint64_t kBodyLimit = 64ULL << 20;
constexpr std::size_t kPeerBufferLimit = 1 << 20;

}  // namespace

Session::Session(SimContext& ctx, tcp::socket socket)
    : ctx_(ctx),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      idle_timer_(socket_.get_executor()),
      peer_timer_(socket_.get_executor()),
      last_activity_(Clock::now()) {}

asio::awaitable<void> Session::run() {
  if (ctx_.options.keep_alive_ms == 0) {
    co_await serve();
  } else {
    co_await (serve() || idle_watchdog());
  }
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<void> Session::serve() {
  for (;;) {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    auto [ec, bytes] = co_await http::async_read(socket_, buffer_, *parser_, kAsTuple);
    if (ec) co_return;
    busy_ = true;
    Request request = parser_->release();
    bool keep_going = co_await handle(request);
    last_activity_ = Clock::now();
    busy_ = false;
    if (!keep_going) co_return;
  }
}

// Closes idle keep-alive connections as uvicorn's timeout does, with one timer wait per
// timeout period instead of one per read.
asio::awaitable<void> Session::idle_watchdog() {
  const auto limit = std::chrono::milliseconds(ctx_.options.keep_alive_ms);
  for (;;) {
    idle_timer_.expires_at(busy_ ? Clock::now() + limit : last_activity_ + limit);
    auto [ec] = co_await idle_timer_.async_wait(kAsTuple);
    if (ec) co_return;
    if (!busy_ && Clock::now() - last_activity_ >= limit) {
      boost::system::error_code ignored;
      socket_.close(ignored);
      co_return;
    }
  }
}

asio::awaitable<bool> Session::handle(Request& request) {
  keep_alive_ = request.keep_alive();
  Route route = classify(request.target());
  body_.clear();
  if (route == Route::kNotFound) {
    SimpleResponse r = handle_http_error(404, body_);
    co_return co_await write_body(r.status, kJson);
  }
  if (request.method_string() != route_method(route)) {
    SimpleResponse r = handle_http_error(405, body_);
    co_return co_await write_body(r.status, kJson);
  }
  if (is_generation(route)) co_return co_await handle_generation(request, route);
  SimpleResponse r = handle_simple(ctx_, route, request.target(), request.body(), body_);
  co_return co_await write_body(r.status, r.content_type);
}

asio::awaitable<bool> Session::write_body(unsigned status, std::string_view content_type) {
  bool ok = co_await write_body_only(status, content_type);
  co_return ok && keep_alive_;
}

asio::awaitable<bool> Session::write_body_only(unsigned status, std::string_view content_type) {
  head_.clear();
  append_response_head(head_, status, content_type, body_.size(), keep_alive_);
  std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
  auto [ec, bytes] = co_await asio::async_write(socket_, buffers, kAsTuple);
  co_return !ec;
}

asio::awaitable<bool> Session::flush() {
  auto [ec, bytes] = co_await asio::async_write(socket_, asio::buffer(out_), kAsTuple);
  out_.clear();
  co_return !ec;
}

asio::awaitable<bool> Session::sleep_until(Clock::time_point deadline) {
  timer_.expires_at(deadline);
  auto [ec] = co_await timer_.async_wait(kAsTuple);
  co_return !ec;
}

asio::awaitable<void> Session::wait_forever(asio::steady_timer& timer) {
  timer.expires_at(Clock::time_point::max());
  co_await timer.async_wait(kAsTuple);
}

// Completes when the peer closes or resets the connection (or when cancelled because the
// answer is complete). Bytes the client sends meanwhile, such as a pipelined request, stay in
// buffer_ for the next read.
asio::awaitable<void> Session::watch_peer() {
  for (;;) {
    if (buffer_.size() >= kPeerBufferLimit) {
      co_await wait_forever(peer_timer_);
      co_return;
    }
    auto [ec, bytes] = co_await socket_.async_read_some(buffer_.prepare(4096), kAsTuple);
    if (ec) co_return;
    buffer_.commit(bytes);
  }
}

}  // namespace detail

boost::asio::awaitable<void> run_session(SimContext& ctx, boost::asio::ip::tcp::socket socket) {
  try {
    detail::Session session(ctx, std::move(socket));
    co_await session.run();
  } catch (const std::exception& e) {
    // Only resource exhaustion gets here; drop this connection and keep serving the others.
    std::fprintf(stderr, "cic-node-sim: session ended: %s\n", e.what());
  }
}

}  // namespace cic::node_sim
