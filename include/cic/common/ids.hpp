#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace cic {

/// A new random identifier such as "org_3f9a0c1d2b4e5f60": `prefix` + '_' + 16 hex digits from a
/// CSPRNG. Thread-safe.
std::string new_id(std::string_view prefix);

/// A request id for `x-request-id` and the usage record: "req_" + 24 hex digits, the first 12 a
/// millisecond timestamp (ids sort by time). Cheap (thread-local generator); not a secret.
std::string new_request_id();

/// Appends `n` bytes as lowercase hex, two digits a byte.
void append_hex(std::string& out, const unsigned char* bytes, std::size_t n);

/// Whether a client-supplied x-request-id is safe to echo and log (1..128 of [A-Za-z0-9._:-]).
bool is_acceptable_request_id(std::string_view id);

}  // namespace cic
