#pragma once
// A minimal blocking HTTP(S) client for the calls this module makes (Stripe's API, alert
// webhooks): one request per fresh connection, one deadline for all of it. Asio-free header; the
// Beast implementation lives in src/stripe/http_transport.cpp.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cic::stripe {

/// "http(s)://host[:port][/path]" split up. IPv6 literals in brackets.
struct Url {
  std::string scheme;  // http | https
  std::string host;
  std::uint16_t port = 0;
  std::string path;  // "" or "/..." without a trailing '/'
  bool is_loopback() const;
};
/// nullopt when `text` is not an absolute http(s) URL without query, fragment or user info.
std::optional<Url> parse_url(std::string_view text);

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // absolute
  std::map<std::string, std::string> headers;
  std::string body;
  std::chrono::milliseconds timeout{10'000};  // resolve + connect + TLS + request + whole answer
};

struct HttpResult {
  int status = 0;  // 0: no answer (connect failure, timeout, connection closed before an answer)
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string error;  // why there was no answer
  std::string header(const std::string& lowercase_name) const {
    auto it = headers.find(lowercase_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// Sends one request. BLOCKING: call it on a worker thread, never on an event loop. Thread-safe.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResult send(const HttpRequest& request) = 0;
};

/// Plain HTTP and HTTPS (system CA store, peer and host name verified, SNI). Answers larger than
/// 1 MiB count as no answer.
std::unique_ptr<HttpTransport> make_http_transport();

}  // namespace cic::stripe
