#include "cic/stripe/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <cstdlib>
#include <vector>

namespace cic::stripe {

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string sign_payload(std::string_view secret, std::int64_t unix_s, std::string_view body) {
  const std::string t = std::to_string(unix_s);
  std::string signed_payload;
  signed_payload.reserve(t.size() + 1 + body.size());
  signed_payload.append(t).append(".").append(body);
  return "t=" + t + ",v1=" + hmac_sha256_hex(secret, signed_payload);
}

const char* to_string(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kValid: return "valid";
    case SignatureCheck::kMissing: return "missing";
    case SignatureCheck::kMalformed: return "malformed";
    case SignatureCheck::kMismatch: return "mismatch";
    case SignatureCheck::kOutOfTolerance: return "out_of_tolerance";
  }
  return "unknown";
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

SignatureCheck verify_signature(std::string_view header, std::string_view body, std::string_view secret,
                                std::int64_t now_s, std::int64_t tolerance_s) {
  std::string_view timestamp;
  std::vector<std::string_view> candidates;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "t") timestamp = value;
    if (key == "v1") candidates.push_back(value);  // other schemes (v0: test mode) are ignored
  }
  if (timestamp.empty() || candidates.empty()) return SignatureCheck::kMissing;
  std::int64_t t = 0;
  const auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), t);
  if (ec != std::errc{} || end != timestamp.data() + timestamp.size()) return SignatureCheck::kMalformed;

  std::string signed_payload;
  signed_payload.reserve(timestamp.size() + 1 + body.size());
  signed_payload.append(timestamp).append(".").append(body);
  const std::string expected = hmac_sha256_hex(secret, signed_payload);
  bool match = false;
  // Every candidate is compared, so the time taken does not say which one (if any) matched.
  for (std::string_view candidate : candidates) match = constant_time_equals(expected, candidate) || match;
  if (!match) return SignatureCheck::kMismatch;
  if (std::llabs(now_s - t) > tolerance_s) return SignatureCheck::kOutOfTolerance;
  return SignatureCheck::kValid;
}

}  // namespace cic::stripe
