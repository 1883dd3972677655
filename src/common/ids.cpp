#include "cic/common/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <random>
#include <stdexcept>

namespace cic {
namespace {

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

void append_hex(std::string& out, const unsigned char* bytes, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
}

std::string new_id(std::string_view prefix) {
  std::array<unsigned char, 8> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string id(prefix);
  id.push_back('_');
  append_hex(id, bytes.data(), bytes.size());
  return id;
}

std::string new_request_id() {
  // Time-ordered (48-bit Unix ms, then 48 random bits) so the usage table's unique index on
  // request_id is appended to rather than written at random pages. Unique, not secret: a per-thread
  // generator seeded from the OS costs nanoseconds instead of a CSPRNG call per request.
  thread_local std::mt19937_64 gen{std::random_device{}()};
  std::uint64_t ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::uint64_t random = gen();
  unsigned char bytes[12];
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  for (int i = 0; i < 6; ++i) bytes[6 + i] = static_cast<unsigned char>(random >> (8 * i));
  std::string id = "req_";
  id.reserve(4 + 24);
  append_hex(id, bytes, sizeof bytes);
  return id;
}

bool is_acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace cic
