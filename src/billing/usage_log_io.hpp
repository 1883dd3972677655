#pragma once
// File helpers and the slot scan shared by usage_log.cpp and usage_log_slot.cpp. POSIX only.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cic/billing/usage_log.hpp"

namespace cic::billing::detail {

/// "<dir>/<20-digit sequence>.wal"
std::string segment_file(const std::string& dir, std::uint64_t sequence);
/// Every segment file in `dir`: sequence -> size in bytes.
std::map<std::uint64_t, std::uint64_t> list_segments(const std::string& dir);

/// write() until everything is written (EINTR retried). False on error (errno set).
bool write_all(int fd, std::string_view bytes);
/// pread() of exactly `size` bytes at `offset` into `out` (resized). False on error or short file.
bool pread_exact(int fd, std::uint64_t offset, std::size_t size, std::string& out);
/// fsync of a directory (so a created, renamed or removed entry survives a crash).
void fsync_dir(int dir_fd);
/// The whole file, or nullopt when it cannot be read.
std::optional<std::string> read_file(const std::string& path);
/// Writes `bytes` to `dir/name` atomically: temp file, fdatasync, rename, fsync of the directory.
/// Throws std::runtime_error.
void write_file_atomically(const std::string& dir, int dir_fd, const std::string& name, std::string_view bytes);

/// The checkpoint file's bytes and their parse (nullopt: missing or damaged).
std::string encode_checkpoint(LogPosition position);
std::optional<LogPosition> decode_checkpoint(std::string_view bytes);

/// What a slot holds after its checkpoint.
struct SlotScan {
  LogPosition checkpoint;       // as read; {0, 0} when missing or damaged
  bool checkpoint_damaged = false;
  std::map<std::uint64_t, std::uint64_t> segments;  // sequence -> size, after any truncation
  std::size_t records = 0;
  std::size_t torn_bytes = 0;
  std::size_t corrupt_gaps = 0;
  std::size_t corrupt_bytes = 0;
  std::size_t lost_tail_bytes = 0;
};

/// Validates every segment at or after the checkpoint. With `repair`, a torn tail of the last
/// segment is truncated (and a last segment too short for its header removed). `on_record`, when
/// given, receives every valid record after the checkpoint, segment by segment, in order.
SlotScan scan_slot(const std::string& dir, bool repair,
                   const std::function<void(store::UsageRecord&&)>& on_record = {});

}  // namespace cic::billing::detail
