#include "target.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>

namespace cic::bench {
namespace {

bool iequals(const std::string& a, const std::string& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

bool has_header(const Options& o, const std::string& name) {
  return std::any_of(o.headers.begin(), o.headers.end(),
                     [&](const auto& h) { return iequals(h.first, name); });
}

}  // namespace

Target make_target(const Options& o) {
  constexpr std::string_view kScheme = "http://";
  if (o.url.rfind(kScheme, 0) != 0) throw std::invalid_argument("only http:// URLs are supported: " + o.url);
  const std::string rest = o.url.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Target t;
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  t.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    const unsigned long p = port.empty() ? 0 : std::stoul(port);
    if (p == 0 || p > 65535) throw std::invalid_argument("bad port in " + o.url);
    t.port = static_cast<std::uint16_t>(p);
  }
  if (t.host.empty()) throw std::invalid_argument("no host in " + o.url);

  std::string& r = t.request_bytes;
  r = o.method + " " + t.path + " HTTP/1.1\r\n";
  if (!has_header(o, "Host")) r += "Host: " + authority + "\r\n";
  if (!has_header(o, "User-Agent")) r += "User-Agent: cic-loadgen\r\n";
  if (!o.body.empty() && !has_header(o, "Content-Type")) r += "Content-Type: application/json\r\n";
  if (!o.body.empty() || o.method == "POST" || o.method == "PUT")
    r += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
  for (const auto& [name, value] : o.headers) r += name + ": " + value + "\r\n";
  r += "\r\n";
  r += o.body;
  return t;
}

}  // namespace cic::bench
