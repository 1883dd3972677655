// Framing and encoding of usage records in the write-ahead log (format: usage_log_format.hpp).
#include "cic/billing/usage_log_format.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace cic::billing::wal {
namespace {

// Ids, models and regions are tens of bytes; capping each string keeps any record within
// kMaxPayload (8 strings x 4 KiB + the numbers), so no record is ever unloggable.
constexpr std::size_t kMaxString = 4096;

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

std::uint32_t crc32c_soft(const unsigned char* p, std::size_t n, std::uint32_t crc) {
  for (std::size_t i = 0; i < n; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// SSE4.2 has CRC-32C as an instruction: an order of magnitude faster, which matters when a
// gigabyte of log is replayed at start.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const unsigned char* p, std::size_t n,
                                                             std::uint32_t crc) {
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
#endif

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

std::uint64_t get_le(std::string_view bytes, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return v;
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7Fu) | 0x80u));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_signed(std::string& out, std::int64_t v) {
  put_varint(out, (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}

void put_string(std::string& out, const std::string& s) {
  const std::size_t n = std::min(s.size(), kMaxString);
  put_varint(out, n);
  out.append(s, 0, n);
}

/// Reads the payload front to back; any overrun latches `ok` to false.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == data_.size(); }

  std::uint8_t byte() {
    if (pos_ >= data_.size()) return fail(), 0;
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t b = byte();
      if (!ok_) return 0;
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80u) == 0) return v;
    }
    fail();
    return 0;
  }
  std::int64_t signed_varint() {
    const std::uint64_t z = varint();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  std::string string() {
    const std::uint64_t n = varint();
    if (!ok_ || n > kMaxString || n > data_.size() - pos_) return fail(), std::string();
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }

 private:
  void fail() { ok_ = false; }
  std::string_view data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
#if defined(__x86_64__)
  if (kHasSse42) return ~crc32c_sse42(p, data.size(), ~crc);
#endif
  return ~crc32c_soft(p, data.size(), ~crc);
}

void encode_payload(const store::UsageRecord& r, std::string& out) {
  out.push_back(static_cast<char>(kPayloadVersion));
  out.push_back(static_cast<char>((r.streamed ? 1 : 0) | (r.cancelled ? 2 : 0)));
  put_signed(out, r.status);
  put_signed(out, r.prompt_tokens);
  put_signed(out, r.completion_tokens);
  put_signed(out, r.cached_tokens);
  put_signed(out, r.latency_ms);
  put_signed(out, r.ttft_ms);
  put_signed(out, r.created_at);
  for (const std::string* s : {&r.request_id, &r.org_id, &r.environment_id, &r.api_key_id, &r.model, &r.region,
                               &r.node_id, &r.endpoint}) {
    put_string(out, *s);
  }
}

std::optional<store::UsageRecord> decode_payload(std::string_view payload) {
  Reader in(payload);
  store::UsageRecord r;
  if (in.byte() != kPayloadVersion) return std::nullopt;
  const std::uint8_t flags = in.byte();
  if ((flags & ~3u) != 0) return std::nullopt;
  r.streamed = (flags & 1u) != 0;
  r.cancelled = (flags & 2u) != 0;
  r.status = static_cast<int>(in.signed_varint());
  r.prompt_tokens = in.signed_varint();
  r.completion_tokens = in.signed_varint();
  r.cached_tokens = in.signed_varint();
  r.latency_ms = in.signed_varint();
  r.ttft_ms = in.signed_varint();
  r.created_at = in.signed_varint();
  for (std::string* s : {&r.request_id, &r.org_id, &r.environment_id, &r.api_key_id, &r.model, &r.region,
                         &r.node_id, &r.endpoint}) {
    *s = in.string();
  }
  if (!in.ok() || !in.at_end()) return std::nullopt;
  return r;
}

void append_frame(const store::UsageRecord& record, std::string& out) {
  const std::size_t start = out.size();
  out.append(kFrameHeaderBytes, '\0');
  encode_payload(record, out);
  const auto n = static_cast<std::uint32_t>(out.size() - start - kFrameHeaderBytes);
  std::string length;
  put_u32(length, n);
  std::memcpy(out.data() + start, length.data(), 4);
  // The CRC covers the length too: a damaged length must not make a damaged frame look whole.
  std::uint32_t crc = crc32c(length);
  crc = crc32c(std::string_view(out).substr(start + kFrameHeaderBytes), crc);
  std::string crc_bytes;
  put_u32(crc_bytes, crc);
  std::memcpy(out.data() + start + 4, crc_bytes.data(), 4);
}

std::string segment_header(std::uint64_t sequence) {
  std::string out(kSegmentMagic);
  put_u64(out, sequence);
  return out;
}

std::optional<std::uint64_t> parse_segment_header(std::string_view bytes) {
  if (bytes.size() < kSegmentHeaderBytes || bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) return std::nullopt;
  return get_le(bytes.substr(8), 8);
}

std::size_t valid_frame_at(std::string_view data, store::UsageRecord* record) {
  if (data.size() < kFrameHeaderBytes) return 0;
  const auto n = static_cast<std::size_t>(get_le(data, 4));
  if (n == 0 || n > kMaxPayload || n > data.size() - kFrameHeaderBytes) return 0;
  const auto stored = static_cast<std::uint32_t>(get_le(data.substr(4), 4));
  const std::string_view payload = data.substr(kFrameHeaderBytes, n);
  if (crc32c(payload, crc32c(data.substr(0, 4))) != stored) return 0;
  auto decoded = decode_payload(payload);
  if (!decoded) return 0;
  if (record != nullptr) *record = std::move(*decoded);
  return kFrameHeaderBytes + n;
}

ScanResult scan_frames(std::string_view data, bool complete, std::size_t max_records,
                       const std::function<void(store::UsageRecord&&, std::size_t)>& on_record) {
  ScanResult result;
  std::size_t pos = 0;
  store::UsageRecord record;
  while (pos < data.size() && result.records < max_records) {
    const std::string_view rest = data.substr(pos);
    if (const std::size_t size = valid_frame_at(rest, &record); size > 0) {
      on_record(std::move(record), pos);
      ++result.records;
      pos += size;
      continue;
    }
    if (!complete) {
      // Either a frame that the window cuts (it may well be whole on disk) or a bad one: the
      // caller reads further before anything is judged.
      result.need_more = true;
      break;
    }
    // A bad frame. Skip it only if a valid frame starts somewhere after it; otherwise everything
    // from here on is a torn tail (what a crash in the middle of a write leaves behind).
    std::size_t next = pos + 1;
    while (next < data.size() && valid_frame_at(data.substr(next)) == 0) ++next;
    if (next >= data.size()) {
      result.tail_bytes = data.size() - pos;
      break;
    }
    ++result.skipped_gaps;
    result.skipped_bytes += next - pos;
    pos = next;
  }
  result.end = pos;
  return result;
}

}  // namespace cic::billing::wal
