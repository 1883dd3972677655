#pragma once
// Private to the gateway: the Asio/Beast names its I/O code uses. Never include from a public header.
#include <utility>  // Boost.Asio's awaitable.hpp relies on it being included first

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace cic::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using StreamHead = http::response<http::empty_body>;

/// Completion token that returns (error_code, results...) as a tuple instead of throwing.
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

/// Runs `fn` on the blocking pool and resumes the caller on its own executor with the result.
/// Exceptions thrown by `fn` are rethrown in the caller.
template <class Fn>
net::awaitable<std::invoke_result_t<Fn>> run_blocking(net::thread_pool& pool, Fn fn) {
  using Result = std::invoke_result_t<Fn>;
  co_return co_await net::co_spawn(
      pool, [fn = std::move(fn)]() mutable -> net::awaitable<Result> { co_return fn(); }, net::use_awaitable);
}

}  // namespace cic::gateway
