#pragma once
// Signed webhooks, both directions: Stripe's `Stripe-Signature` on the events it sends us, and the
// same scheme (`X-CIC-Signature`) on the alerts we send. Header: "t=<unix s>,v1=<hex>[,v1=<hex>...]"
// where each v1 is the lowercase hex HMAC-SHA256, keyed with the whole secret, of "<t>.<raw body>".
// Pure functions (OpenSSL only); thread-safe.
#include <cstdint>
#include <string>
#include <string_view>

namespace cic::stripe {

/// Lowercase hex HMAC-SHA256 of `data` keyed with `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// Compares two strings in time that depends only on their lengths.
bool constant_time_equals(std::string_view a, std::string_view b);

/// "t=<unix_s>,v1=<hex HMAC(secret, "<unix_s>.<body>")>".
std::string sign_payload(std::string_view secret, std::int64_t unix_s, std::string_view body);

enum class SignatureCheck {
  kValid,
  kMissing,     // no header, or no t= / no v1= in it
  kMalformed,   // t= is not an integer
  kMismatch,    // no v1 matches the body
  kOutOfTolerance,  // a v1 matches, but t is more than `tolerance_s` away from now
};
const char* to_string(SignatureCheck check);

/// Verifies a signature header as Stripe's libraries do: any v1 may match (secrets being rolled
/// sign twice), other schemes (v0) are ignored, every comparison is constant-time, and the
/// timestamp must lie within `tolerance_s` of `now_s` (replays of an old, valid event fail).
SignatureCheck verify_signature(std::string_view header, std::string_view body, std::string_view secret,
                                std::int64_t now_s, std::int64_t tolerance_s = 300);

}  // namespace cic::stripe
