// The Beast side of HttpTransport: one request on a fresh connection, driven by a private
// io_context on the calling thread (the reporter's or the alerts' own thread), so no event loop of
// the gateway ever waits on Stripe. The only coroutine translation unit of the module.
#include <utility>  // Boost.Asio's awaitable.hpp relies on it being included first

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include <cctype>

#include "cic/stripe/http.hpp"

namespace cic::stripe {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr std::uint64_t kBodyLimit = 1u << 20;
// On top of the request's own deadline, for a getaddrinfo that ignores it.
constexpr std::chrono::milliseconds kGrace{2'000};

HttpResult failure(std::string error) {
  HttpResult r;
  r.error = std::move(error);
  return r;
}

std::string describe(const char* stage, const beast::error_code& ec) {
  if (ec == beast::error::timeout) return std::string(stage) + ": timeout";
  if (ec == http::error::body_limit) return std::string(stage) + ": answer too large";
  return std::string(stage) + ": " + ec.message();
}

std::chrono::milliseconds remaining(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

http::request<http::string_body> build(const Url& url, const HttpRequest& request) {
  const std::string path = url.path.empty() ? std::string("/") : url.path;
  http::request<http::string_body> r{http::string_to_verb(request.method), path, 11};
  const bool default_port = (url.scheme == "https" && url.port == 443) || (url.scheme == "http" && url.port == 80);
  const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  r.set(http::field::host, default_port ? host : host + ":" + std::to_string(url.port));
  r.set(http::field::user_agent, "cic-control");
  for (const auto& [name, value] : request.headers) r.set(name, value);
  r.body() = request.body;
  r.prepare_payload();
  r.keep_alive(false);
  return r;
}

HttpResult to_result(http::response<http::string_body>&& answer) {
  HttpResult out;
  out.status = static_cast<int>(answer.result_int());
  for (const auto& field : answer) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(answer.body());
  return out;
}

/// Writes the request and reads the answer on a connected (and, for TLS, handshaken) stream.
template <class Stream>
net::awaitable<HttpResult> talk(Stream& stream, beast::tcp_stream& lowest, http::request<http::string_body>& request,
                                SteadyClock::time_point deadline) {
  lowest.expires_after(remaining(deadline));
  auto [write_ec, written] = co_await http::async_write(stream, request, use_nothrow);
  if (write_ec) co_return failure(describe("send", write_ec));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  lowest.expires_after(remaining(deadline));
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use_nothrow);
  // A connection closed before a complete answer is "no answer": the request may or may not have
  // been acted on, which is exactly the case identifiers and idempotency keys exist for.
  if (read_ec) co_return failure(describe("answer", read_ec));
  co_return to_result(parser.release());
}

net::awaitable<HttpResult> exchange(const Url& url, const HttpRequest& request, ssl::context& tls,
                                    SteadyClock::time_point deadline) {
  auto executor = co_await net::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(url.host, std::to_string(url.port), use_nothrow);
  if (resolve_ec) co_return failure("resolve " + url.host + ": " + resolve_ec.message());
  auto message = build(url, request);

  if (url.scheme == "http") {
    beast::tcp_stream stream(executor);
    stream.expires_after(remaining(deadline));
    auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, use_nothrow);
    if (connect_ec) co_return failure(describe("connect", connect_ec));
    HttpResult result = co_await talk(stream, stream, message, deadline);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return result;
  }

  beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) co_return failure("tls: cannot set SNI");
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(remaining(deadline));
  auto [connect_ec, endpoint] = co_await lowest.async_connect(endpoints, use_nothrow);
  if (connect_ec) co_return failure(describe("connect", connect_ec));
  lowest.expires_after(remaining(deadline));
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, use_nothrow);
  if (handshake_ec) co_return failure(describe("tls handshake", handshake_ec));
  HttpResult result = co_await talk(stream, lowest, message, deadline);
  lowest.expires_after(std::chrono::milliseconds(500));
  co_await stream.async_shutdown(use_nothrow);  // best effort: the answer is already complete
  co_return result;
}

class BeastTransport final : public HttpTransport {
 public:
  BeastTransport() : tls_(ssl::context::tls_client) {
    tls_.set_default_verify_paths();
    tls_.set_verify_mode(ssl::verify_peer);
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  HttpResult send(const HttpRequest& request) override {
    const auto url = parse_url(request.url);
    if (!url) return failure("invalid URL");
    const auto deadline = SteadyClock::now() + request.timeout;
    std::optional<HttpResult> outcome;
    // Declared last: destroying it (and with it an unfinished exchange) comes first.
    net::io_context io(1);
    net::co_spawn(io, exchange(*url, request, tls_, deadline),
                  [&outcome](std::exception_ptr error, HttpResult result) {
                    if (error) {
                      try {
                        std::rethrow_exception(error);
                      } catch (const std::exception& e) {
                        outcome = failure(std::string("error: ") + e.what());
                      } catch (...) {
                        outcome = failure("error");
                      }
                      return;
                    }
                    outcome = std::move(result);
                  });
    io.run_for(request.timeout + kGrace);
    if (!outcome) return failure("timeout after " + std::to_string(request.timeout.count()) + " ms");
    return std::move(*outcome);
  }

 private:
  ssl::context tls_;  // shared by every request; SSL objects are created per connection
};

}  // namespace

std::unique_ptr<HttpTransport> make_http_transport() { return std::make_unique<BeastTransport>(); }

}  // namespace cic::stripe
