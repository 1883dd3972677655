#include "cic/auth/api_key.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <stdexcept>

namespace cic::auth {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kRandomChars = 40;
constexpr std::size_t kChecksumChars = 6;

std::uint32_t crc32(std::string_view data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string checksum(std::string_view head) {
  std::uint64_t value = crc32(head);
  std::string out(kChecksumChars, '0');
  for (std::size_t i = kChecksumChars; i-- > 0;) {
    out[i] = kAlphabet[value % 62];
    value /= 62;
  }
  return out;
}

bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_env_name(std::string_view env) {
  if (env.empty() || env.size() > 16) return false;
  for (char c : env) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

// Position just past "sk_{env}_", or npos when the key does not start that way.
std::size_t body_start(std::string_view key) {
  if (key.substr(0, 3) != "sk_") return std::string_view::npos;
  std::size_t sep = key.find('_', 3);
  if (sep == std::string_view::npos || !is_env_name(key.substr(3, sep - 3))) return std::string_view::npos;
  return sep + 1;
}

}  // namespace

std::string generate_api_key(std::string_view env) {
  if (!is_env_name(env)) throw std::invalid_argument("api key environment must be lowercase letters");
  std::string key = "sk_";
  key.append(env).push_back('_');
  // Rejection sampling keeps every character uniform over the 62 symbols.
  std::array<unsigned char, 64> pool{};
  std::size_t produced = 0;
  while (produced < kRandomChars) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : pool) {
      if (b >= 248) continue;  // 248 = 4 * 62
      key.push_back(kAlphabet[b % 62]);
      if (++produced == kRandomChars) break;
    }
  }
  key += checksum(key);
  return key;
}

bool has_valid_api_key_shape(std::string_view key) {
  std::size_t start = body_start(key);
  if (start == std::string_view::npos) return false;
  if (key.size() != start + kRandomChars + kChecksumChars) return false;
  for (std::size_t i = start; i < key.size(); ++i) {
    if (!is_base62(key[i])) return false;
  }
  std::string_view head = key.substr(0, key.size() - kChecksumChars);
  return checksum(head) == key.substr(key.size() - kChecksumChars);
}

std::string_view api_key_environment(std::string_view key) {
  if (!has_valid_api_key_shape(key)) return {};
  std::size_t start = body_start(key);
  return key.substr(3, start - 4);
}

std::string api_key_prefix(std::string_view key) {
  std::size_t start = body_start(key);
  if (start == std::string_view::npos) return {};
  return std::string(key.substr(0, std::min(key.size(), start + 4)));
}

}  // namespace cic::auth
