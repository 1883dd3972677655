#pragma once
// HTTP/1.1 response framing written by hand: Beast parses requests, but responses are plain byte
// strings so the hot path reuses one buffer per connection and streams need no serializer state.

#include <cstddef>
#include <string>
#include <string_view>

namespace cic::node_sim {

std::string_view status_reason(unsigned status);

/// Status line and headers of a response with a known body length.
void append_response_head(std::string& out, unsigned status, std::string_view content_type,
                          std::size_t content_length, bool keep_alive);

/// Status line and headers of a `text/event-stream` response sent with chunked encoding.
void append_stream_head(std::string& out, bool keep_alive);

/// Starts an HTTP chunk whose size is filled in by `end_chunk`; returns the mark to pass there.
/// The size is written as fixed-width hex (leading zeros are valid) so no copy is needed.
std::size_t begin_chunk(std::string& out);
void end_chunk(std::string& out, std::size_t mark);

/// The zero-length chunk that ends a chunked body.
void append_last_chunk(std::string& out);

}  // namespace cic::node_sim
