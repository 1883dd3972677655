#pragma once
// The on-disk format of the usage write-ahead log (docs/billing.md, "File format"). Pure functions
// on bytes: no files, no threads. Little-endian throughout.
//
//   segment  = header frame*
//   header   = "CICUWAL1" (8 bytes) | u64 segment sequence number            (16 bytes)
//   frame    = u32 payload length n | u32 CRC32C(length bytes + payload) | payload (n bytes)
//   payload  = u8 version (1) | u8 flags (1 streamed, 2 cancelled) | varint status
//              | zigzag varints: prompt_tokens completion_tokens cached_tokens latency_ms
//                ttft_ms created_at
//              | strings (varint length + bytes): request_id org_id environment_id api_key_id
//                model region node_id endpoint
//
// A frame is valid when 1 <= n <= kMaxPayload, it lies wholly inside the data, its CRC matches and
// the payload decodes to exactly n bytes.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cic/store/records.hpp"

namespace cic::billing::wal {

inline constexpr std::string_view kSegmentMagic = "CICUWAL1";
inline constexpr std::size_t kSegmentHeaderBytes = 16;
inline constexpr std::size_t kFrameHeaderBytes = 8;
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::uint8_t kPayloadVersion = 1;

/// CRC-32C (Castagnoli), as in iSCSI, ext4 and LevelDB; `crc` continues an earlier value.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

/// Appends the frame of `record` to `out`. Fields longer than the payload limit allows are
/// truncated (ids and names are far shorter in practice).
void append_frame(const store::UsageRecord& record, std::string& out);
/// The payload alone (what the frame's CRC covers after the length).
void encode_payload(const store::UsageRecord& record, std::string& out);
/// nullopt when the payload is malformed (unknown version, overrun, trailing bytes).
std::optional<store::UsageRecord> decode_payload(std::string_view payload);

/// The 16-byte header of segment `sequence`; and the sequence a header names (nullopt: no header).
std::string segment_header(std::uint64_t sequence);
std::optional<std::uint64_t> parse_segment_header(std::string_view bytes);

/// The length of the valid frame starting at data[0] (header + payload), or 0 when there is none;
/// `record` receives the decoded record when given.
std::size_t valid_frame_at(std::string_view data, store::UsageRecord* record = nullptr);

/// What scan_frames found.
struct ScanResult {
  std::size_t end = 0;            // just past the last valid frame read (or where it stopped)
  std::size_t records = 0;        // valid frames read
  std::size_t skipped_gaps = 0;   // runs of bad bytes followed by a valid frame (skipped)
  std::size_t skipped_bytes = 0;  // bytes in those runs
  std::size_t tail_bytes = 0;     // bytes after `end` with no valid frame in them (a torn tail)
  bool need_more = false;         // stopped at a frame that runs past `data` but may complete
};

/// Reads frames from `data` (which starts at a frame boundary) until `max_records` were read or
/// the data ends, calling `on_record(record, frame_offset)` for each. A bad frame is skipped when
/// a valid frame follows it somewhere in `data` (the bytes in between count as a skipped gap);
/// otherwise the scan ends there and the rest is `tail_bytes`. With `complete` false, `data` is
/// only a window of what exists: a plausible frame that runs past it stops the scan with
/// `need_more` instead of being judged, and a bad frame stops it with `need_more` too (the caller
/// rescans with everything up to its limit before skipping anything).
ScanResult scan_frames(std::string_view data, bool complete, std::size_t max_records,
                       const std::function<void(store::UsageRecord&&, std::size_t)>& on_record);

}  // namespace cic::billing::wal
