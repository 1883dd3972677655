#include "http_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <string_view>

namespace cic::bench {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;

const char* classify(const beast::error_code& ec, const char* otherwise) {
  if (ec == beast::error::timeout) return "timeout";
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == http::error::partial_message)
    return "closed";
  return otherwise;
}

// A close before any byte of the answer (a server dropping a keep-alive connection) and one in
// the middle of an answer (a crash or an aborted relay) have different causes; tell them apart.
template <class Parser>
const char* classify_read(const beast::error_code& ec, const Parser& parser) {
  const char* kind = classify(ec, "read");
  if (kind == std::string_view("closed") && parser.got_some()) return "truncated";
  return kind;
}

}  // namespace

HttpConnection::HttpConnection(asio::any_io_executor executor, asio::ip::tcp::endpoint endpoint,
                               const std::string& request_bytes, std::chrono::milliseconds timeout)
    : stream_(std::move(executor)), endpoint_(endpoint), request_bytes_(request_bytes), timeout_(timeout) {}

void HttpConnection::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.close();
  buffer_.clear();
}

asio::awaitable<const char*> HttpConnection::connect() {
  stream_.expires_after(timeout_);
  auto [ec] = co_await stream_.async_connect(endpoint_, kTuple);
  if (ec) {
    close();
    co_return classify(ec, "connect");
  }
  // Small requests and SSE events must leave at once; Nagle would add up to 40 ms of delay.
  stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  co_return nullptr;
}

asio::awaitable<ExchangeResult> HttpConnection::exchange(bool stream) {
  ExchangeResult result;
  if (!stream_.socket().is_open()) {
    if (const char* error = co_await connect()) {
      result.error = error;
      result.done = Clock::now();
      co_return result;
    }
  }
  // One deadline for the write and the whole response: tcp_stream applies it to every operation
  // started until it is set again.
  stream_.expires_after(timeout_);
  auto [wec, written] = co_await asio::async_write(stream_, asio::buffer(request_bytes_), kTuple);
  if (wec) {
    close();
    result.error = classify(wec, "write");
    result.done = Clock::now();
    co_return result;
  }
  result.error = co_await read_response(stream, result);
  result.done = Clock::now();
  if (!result.error) result.request_id = std::string(parser_->get()["x-request-id"]);
  if (result.error || !parser_->keep_alive()) close();
  co_return result;
}

asio::awaitable<const char*> HttpConnection::read_response(bool stream, ExchangeResult& result) {
  parser_.emplace();
  parser_->body_limit(kMaxResponseBytes);
  if (!stream) {
    auto [ec, n] = co_await http::async_read(stream_, buffer_, *parser_, kTuple);
    if (ec) co_return classify_read(ec, *parser_);
    result.status = parser_->get().result_int();
    result.first_body = Clock::now();
    co_return nullptr;
  }
  auto [hec, hn] = co_await http::async_read_header(stream_, buffer_, *parser_, kTuple);
  if (hec) co_return classify_read(hec, *parser_);
  result.status = parser_->get().result_int();
  // read_some parses whatever arrived; the first time the decoded body is non-empty is the
  // first chunk (bytes already buffered with the header count as arriving with it).
  while (!parser_->is_done() && parser_->get().body().empty()) {
    auto [ec, n] = co_await http::async_read_some(stream_, buffer_, *parser_, kTuple);
    if (ec) co_return classify_read(ec, *parser_);
  }
  result.first_body = Clock::now();
  if (!parser_->is_done()) {
    auto [ec, n] = co_await http::async_read(stream_, buffer_, *parser_, kTuple);
    if (ec) co_return classify_read(ec, *parser_);
  }
  const std::string& body = parser_->get().body();
  if (result.status >= 200 && result.status <= 299 && body.find("[DONE]") == std::string::npos)
    co_return "bad_stream";
  co_return nullptr;
}

}  // namespace cic::bench
