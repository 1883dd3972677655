#include "cic/stripe/meter.hpp"

#include <openssl/evp.h>

#include <algorithm>

#include "cic/common/ids.hpp"

namespace cic::stripe {
namespace {

constexpr char kUpperHex[] = "0123456789ABCDEF";  // percent-encoding, as RFC 3986 recommends

std::string sha256_hex_prefix(std::string_view text, std::size_t hex_chars) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  append_hex(out, digest, std::min<std::size_t>(length, (hex_chars + 1) / 2));
  return out.substr(0, hex_chars);
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

void append_encoded(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    if (is_unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kUpperHex[c >> 4]);
      out.push_back(kUpperHex[c & 0x0f]);
    }
  }
}

}  // namespace

std::int64_t hour_floor(std::int64_t ms) {
  std::int64_t q = ms / kHourMs;
  if (ms % kHourMs != 0 && ms < 0) --q;
  return q * kHourMs;
}

std::string meter_identifier(std::string_view org_id, std::string_view meter, std::int64_t hour_start_ms,
                             std::int64_t seq) {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "-" + to_string().
  std::string tail = "-";
  tail += std::to_string(hour_floor(hour_start_ms) / 1000);
  if (seq > 1) {
    tail += '-';
    tail += std::to_string(seq);
  }
  std::string id = "cic-" + std::string(org_id) + "-" + std::string(meter) + tail;
  if (id.size() > kMaxIdentifierChars) id = "cic-" + std::string(org_id) + "-" + sha256_hex_prefix(meter, 16) + tail;
  return id;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out.push_back('&');
    append_encoded(out, key);
    out.push_back('=');
    append_encoded(out, value);
  }
  return out;
}

std::string meter_event_form(const MeterEvent& event) {
  return form_encode({{"event_name", event.event_name},
                      {"payload[stripe_customer_id]", event.customer_id},
                      {"payload[value]", std::to_string(event.value)},
                      {"identifier", event.identifier},
                      {"timestamp", std::to_string(event.timestamp_s)}});
}

}  // namespace cic::stripe
