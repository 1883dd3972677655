// The write-ahead log's record format: CRC-32C, payload encoding, framing, scanning damaged data.
#include <gtest/gtest.h>

#include <climits>
#include <limits>

#include "cic/billing/usage_log_format.hpp"
#include "usage_log_support.hpp"

namespace cic::billing::testing {
namespace {

using namespace cic::billing::wal;

void expect_same(const store::UsageRecord& a, const store::UsageRecord& b) {
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.org_id, b.org_id);
  EXPECT_EQ(a.environment_id, b.environment_id);
  EXPECT_EQ(a.api_key_id, b.api_key_id);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.region, b.region);
  EXPECT_EQ(a.node_id, b.node_id);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_EQ(a.cached_tokens, b.cached_tokens);
  EXPECT_EQ(a.latency_ms, b.latency_ms);
  EXPECT_EQ(a.ttft_ms, b.ttft_ms);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.streamed, b.streamed);
  EXPECT_EQ(a.cancelled, b.cancelled);
  EXPECT_EQ(a.created_at, b.created_at);
}

std::string frames(int first, int count) {
  std::string out;
  for (int i = first; i < first + count; ++i) append_frame(usage(rid(i), i), out);
  return out;
}

std::vector<std::string> scan_ids(std::string_view data, ScanResult* result = nullptr, bool complete = true) {
  std::vector<std::string> ids;
  auto r = scan_frames(data, complete, SIZE_MAX, [&](store::UsageRecord&& u, std::size_t) { ids.push_back(u.request_id); });
  if (result) *result = r;
  return ids;
}

TEST(UsageLogFormat, Crc32cMatchesPublishedCheckValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC catalogue's check value
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720, B.4
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  // Continuing a CRC over pieces equals the CRC of the whole, whatever the split (the
  // hardware path works on 8-byte words).
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over: 0123456789";
  for (std::size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(crc32c(text.substr(split), crc32c(text.substr(0, split))), crc32c(text)) << split;
  }
}

TEST(UsageLogFormat, EveryFieldRoundTrips) {
  store::UsageRecord r = usage("req_roundtrip", 7);
  r.prompt_tokens = std::numeric_limits<std::int64_t>::max();
  r.completion_tokens = -1;  // never written by the gateway, but the format must not care
  r.cached_tokens = std::numeric_limits<std::int64_t>::min();
  r.status = 499;
  r.streamed = true;
  r.cancelled = true;
  r.node_id = "";
  r.region = "ünïcödé";
  std::string payload;
  encode_payload(r, payload);
  auto decoded = decode_payload(payload);
  ASSERT_TRUE(decoded.has_value());
  expect_same(*decoded, r);

  r.streamed = false;
  r.cancelled = false;
  payload.clear();
  encode_payload(r, payload);
  ASSERT_TRUE(decode_payload(payload).has_value());
  EXPECT_FALSE(decode_payload(payload)->streamed);
  EXPECT_FALSE(decode_payload(payload)->cancelled);
}

TEST(UsageLogFormat, RecordsAreCompact) {
  std::string frame;
  append_frame(usage("req_" + std::string(26, 'x'), 12), frame);
  EXPECT_LT(frame.size(), 170u) << "a typical record, framed";
}

TEST(UsageLogFormat, OverlongStringsAreCappedSoEveryRecordFits) {
  store::UsageRecord r = usage("req_big");
  r.model = std::string(100'000, 'm');
  r.org_id = std::string(100'000, 'o');
  std::string frame;
  append_frame(r, frame);
  EXPECT_LE(frame.size(), kFrameHeaderBytes + kMaxPayload);
  store::UsageRecord back;
  ASSERT_EQ(valid_frame_at(frame, &back), frame.size());
  EXPECT_EQ(back.model, std::string(4096, 'm'));
  EXPECT_EQ(back.request_id, "req_big");
}

TEST(UsageLogFormat, MalformedPayloadsAreRejected) {
  std::string payload;
  encode_payload(usage("req_1"), payload);
  EXPECT_FALSE(decode_payload(payload + "x").has_value()) << "trailing byte";
  EXPECT_FALSE(decode_payload(payload.substr(0, payload.size() - 1)).has_value()) << "truncated";
  std::string version = payload;
  version[0] = 2;
  EXPECT_FALSE(decode_payload(version).has_value()) << "unknown version";
  std::string flags = payload;
  flags[1] = 4;
  EXPECT_FALSE(decode_payload(flags).has_value()) << "unknown flag";
  EXPECT_FALSE(decode_payload("").has_value());
}

TEST(UsageLogFormat, AnyFlippedBitMakesTheFrameInvalid) {
  std::string frame;
  append_frame(usage("req_flip", 3), frame);
  ASSERT_EQ(valid_frame_at(frame), frame.size());
  for (std::size_t i = 0; i < frame.size(); ++i) {
    for (int bit : {0, 3, 7}) {
      std::string damaged = frame;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      EXPECT_EQ(valid_frame_at(damaged), 0u) << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_EQ(valid_frame_at(frame.substr(0, frame.size() - 1)), 0u);
  EXPECT_EQ(valid_frame_at(std::string(64, '\0')), 0u) << "zeros (a preallocated or zeroed tail)";
}

TEST(UsageLogFormat, SegmentHeaderNamesItsSequence) {
  const std::string header = segment_header(42);
  EXPECT_EQ(header.size(), kSegmentHeaderBytes);
  EXPECT_EQ(parse_segment_header(header), 42u);
  EXPECT_FALSE(parse_segment_header(header.substr(0, 15)).has_value());
  EXPECT_FALSE(parse_segment_header("XXXXXXXX" + header.substr(8)).has_value());
}

TEST(UsageLogFormat, ScanReadsEveryFrameInOrder) {
  const std::string data = frames(0, 50);
  ScanResult result;
  const auto ids = scan_ids(data, &result);
  ASSERT_EQ(ids.size(), 50u);
  EXPECT_EQ(ids.front(), rid(0));
  EXPECT_EQ(ids.back(), rid(49));
  EXPECT_EQ(result.end, data.size());
  EXPECT_EQ(result.tail_bytes, 0u);
  EXPECT_EQ(result.skipped_gaps, 0u);

  // At most max_records, and `end` is where the next read starts.
  std::size_t seen = 0;
  auto partial = scan_frames(data, true, 20, [&](store::UsageRecord&&, std::size_t) { ++seen; });
  EXPECT_EQ(seen, 20u);
  EXPECT_EQ(scan_ids(std::string_view(data).substr(partial.end)).front(), rid(20));
}

TEST(UsageLogFormat, TornTailEndsTheScan) {
  const std::string whole = frames(0, 10);
  const std::string last = frames(10, 1);
  for (std::size_t cut = 1; cut < last.size(); ++cut) {
    ScanResult result;
    const auto ids = scan_ids(whole + last.substr(0, cut), &result);
    EXPECT_EQ(ids.size(), 10u) << cut;
    EXPECT_EQ(result.end, whole.size());
    EXPECT_EQ(result.tail_bytes, cut);
    EXPECT_EQ(result.skipped_gaps, 0u);
  }
  ScanResult zeros;
  EXPECT_EQ(scan_ids(whole + std::string(4096, '\0'), &zeros).size(), 10u);
  EXPECT_EQ(zeros.tail_bytes, 4096u);
}

TEST(UsageLogFormat, CorruptRecordInTheMiddleIsSkipped) {
  // Policy: a damaged record followed by valid ones is skipped (counted), not the end of the log;
  // stopping there would throw away every good record behind it.
  std::string data = frames(0, 5);
  const std::size_t damaged_at = data.size();
  data += frames(5, 1);
  const std::size_t damaged_size = data.size() - damaged_at;
  data += frames(6, 4);
  data[damaged_at + 12] ^= 0x40;  // inside the payload
  ScanResult result;
  const auto ids = scan_ids(data, &result);
  ASSERT_EQ(ids.size(), 9u);
  EXPECT_EQ(ids[4], rid(4));
  EXPECT_EQ(ids[5], rid(6));
  EXPECT_EQ(result.skipped_gaps, 1u);
  EXPECT_EQ(result.skipped_bytes, damaged_size);
  EXPECT_EQ(result.tail_bytes, 0u);

  // A damaged length too: the scan finds the next frame by its checksum.
  std::string bad_length = frames(0, 3) + std::string("\xff\xff\x00\x00", 4) + "garbage" + frames(3, 3);
  ScanResult r2;
  EXPECT_EQ(scan_ids(bad_length, &r2).size(), 6u);
  EXPECT_EQ(r2.skipped_gaps, 1u);
  EXPECT_EQ(r2.skipped_bytes, 11u);
}

TEST(UsageLogFormat, WindowThatCutsAFrameAsksForMore) {
  const std::string data = frames(0, 3);
  ScanResult result;
  const auto ids = scan_ids(std::string_view(data).substr(0, data.size() - 5), &result, false);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_TRUE(result.need_more);
  EXPECT_EQ(result.tail_bytes, 0u) << "not judged until the caller reads to its limit";
}

}  // namespace
}  // namespace cic::billing::testing
