#pragma once
// Appending JSON fragments straight into an output buffer. Responses are written by hand rather
// than through nlohmann::json because the simulator must never be a benchmark's bottleneck and
// because vLLM's key order and null fields are part of what we imitate.

#include <cstdint>
#include <string>
#include <string_view>

namespace cic::node_sim {

/// Appends `value` as a quoted JSON string, escaping quotes, backslashes and control bytes.
void append_json_string(std::string& out, std::string_view value);

void append_uint(std::string& out, std::uint64_t value);
void append_int(std::string& out, std::int64_t value);

/// Shortest round-trip representation (what Python's repr prints for the same float).
void append_float(std::string& out, float value);
void append_double(std::string& out, double value);

/// Python/Prometheus style: integral values keep a trailing ".0".
void append_prometheus_value(std::string& out, double value);

}  // namespace cic::node_sim
