#include "node_sim/http_text.hpp"

#include "node_sim/json_text.hpp"

namespace cic::node_sim {
namespace {
constexpr std::size_t kChunkSizeDigits = 8;
}

std::string_view status_reason(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

void append_response_head(std::string& out, unsigned status, std::string_view content_type,
                          std::size_t content_length, bool keep_alive) {
  out.append("HTTP/1.1 ");
  append_uint(out, status);
  out.push_back(' ');
  out.append(status_reason(status));
  out.append("\r\nserver: cic-node-sim\r\n");
  if (!content_type.empty()) {
    out.append("content-type: ");
    out.append(content_type);
    out.append("\r\n");
  }
  out.append("content-length: ");
  append_uint(out, content_length);
  out.append(keep_alive ? "\r\n\r\n" : "\r\nconnection: close\r\n\r\n");
}

void append_stream_head(std::string& out, bool keep_alive) {
  out.append(
      "HTTP/1.1 200 OK\r\nserver: cic-node-sim\r\ncontent-type: text/event-stream; "
      "charset=utf-8\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n");
  out.append(keep_alive ? "\r\n" : "connection: close\r\n\r\n");
}

std::size_t begin_chunk(std::string& out) {
  std::size_t mark = out.size();
  out.append(kChunkSizeDigits, '0');
  out.append("\r\n");
  return mark;
}

void end_chunk(std::string& out, std::size_t mark) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t size = out.size() - mark - kChunkSizeDigits - 2;
  for (std::size_t i = 0; i < kChunkSizeDigits; ++i) {
    out[mark + kChunkSizeDigits - 1 - i] = kHex[(size >> (4 * i)) & 0xf];
  }
  out.append("\r\n");
}

void append_last_chunk(std::string& out) { out.append("0\r\n\r\n"); }

}  // namespace cic::node_sim
