// File helpers of the usage log, and the scan that validates a slot's segments at start.
#include "usage_log_io.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "cic/billing/usage_log_format.hpp"

namespace cic::billing::detail {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCheckpointMagic = "CICUCKP1";
constexpr std::size_t kCheckpointBytes = 32;

std::uint64_t get_le(std::string_view bytes, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return v;
}

void put_le(std::string& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error("usage log: " + what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

std::string segment_file(const std::string& dir, std::uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.wal", static_cast<unsigned long long>(sequence));
  return (fs::path(dir) / name).string();
}

std::map<std::uint64_t, std::uint64_t> list_segments(const std::string& dir) {
  std::map<std::uint64_t, std::uint64_t> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 24 || !name.ends_with(".wal")) continue;
    if (name.find_first_not_of("0123456789") != 20) continue;
    std::error_code ec;
    const auto size = fs::file_size(entry.path(), ec);
    if (ec) continue;
    out[std::stoull(name.substr(0, 20))] = size;
  }
  return out;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool pread_exact(int fd, std::uint64_t offset, std::size_t size, std::string& out) {
  out.resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void fsync_dir(int dir_fd) {
  if (dir_fd >= 0 && ::fsync(dir_fd) != 0) spdlog::warn("usage log: fsync of the log directory failed: {}", std::strerror(errno));
}

std::optional<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string out;
  const bool ok = ::fstat(fd, &st) == 0 && pread_exact(fd, 0, static_cast<std::size_t>(st.st_size), out);
  ::close(fd);
  if (!ok) return std::nullopt;
  return out;
}

void write_file_atomically(const std::string& dir, int dir_fd, const std::string& name, std::string_view bytes) {
  const std::string tmp = (fs::path(dir) / (name + ".tmp")).string();
  const std::string target = (fs::path(dir) / name).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("cannot create", tmp);
  const bool ok = write_all(fd, bytes) && ::fdatasync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!ok) throw io_error("cannot write", tmp);
  if (::rename(tmp.c_str(), target.c_str()) != 0) throw io_error("cannot rename to", target);
  // Without this the rename itself might not survive a power cut (the data would).
  fsync_dir(dir_fd);
}

std::string encode_checkpoint(LogPosition position) {
  std::string out(kCheckpointMagic);
  put_le(out, position.segment, 8);
  put_le(out, position.offset, 8);
  put_le(out, wal::crc32c(out), 4);
  put_le(out, 0, 4);
  return out;
}

std::optional<LogPosition> decode_checkpoint(std::string_view bytes) {
  if (bytes.size() != kCheckpointBytes || bytes.substr(0, 8) != kCheckpointMagic) return std::nullopt;
  if (wal::crc32c(bytes.substr(0, 24)) != get_le(bytes.substr(24), 4)) return std::nullopt;
  return LogPosition{get_le(bytes.substr(8), 8), get_le(bytes.substr(16), 8)};
}

SlotScan scan_slot(const std::string& dir, bool repair, const std::function<void(store::UsageRecord&&)>& on_record) {
  SlotScan scan;
  if (auto bytes = read_file((fs::path(dir) / "checkpoint").string())) {
    if (auto position = decode_checkpoint(*bytes)) {
      scan.checkpoint = *position;
    } else {
      // Replaying from the start instead is safe: the store ignores request ids it already has.
      scan.checkpoint_damaged = true;
    }
  }
  scan.segments = list_segments(dir);
  const std::uint64_t last = scan.segments.empty() ? 0 : scan.segments.rbegin()->first;
  std::vector<std::uint64_t> removed;
  for (auto& [sequence, size] : scan.segments) {
    if (sequence < scan.checkpoint.segment) continue;  // wholly in the store already
    const std::string path = segment_file(dir, sequence);
    if (size < wal::kSegmentHeaderBytes) {
      // A crash between creating a segment and writing its header.
      if (sequence == last && repair) {
        ::unlink(path.c_str());
        scan.torn_bytes += size;
        removed.push_back(sequence);
      } else {
        scan.lost_tail_bytes += size;
      }
      continue;
    }
    auto data = read_file(path);
    if (!data) throw io_error("cannot read", path);
    if (wal::parse_segment_header(*data) != sequence) {
      spdlog::warn("usage log: {} has a damaged header; reading its records anyway", path);
    }
    std::uint64_t start = wal::kSegmentHeaderBytes;
    if (sequence == scan.checkpoint.segment) start = std::max<std::uint64_t>(start, std::min<std::uint64_t>(scan.checkpoint.offset, data->size()));
    const auto result = wal::scan_frames(std::string_view(*data).substr(start), true, SIZE_MAX,
                                         [&](store::UsageRecord&& r, std::size_t) {
                                           if (on_record) on_record(std::move(r));
                                         });
    scan.records += result.records;
    scan.corrupt_gaps += result.skipped_gaps;
    scan.corrupt_bytes += result.skipped_bytes;
    if (result.tail_bytes == 0) continue;
    if (sequence == last) {
      // What SIGKILL or a power cut in the middle of a batch leaves: bytes of records that were
      // never acknowledged. Cut them off so that the next records start on a frame boundary.
      scan.torn_bytes += result.tail_bytes;
      if (repair) {
        const std::uint64_t keep = start + result.end;
        if (::truncate(path.c_str(), static_cast<off_t>(keep)) != 0) throw io_error("cannot truncate", path);
        size = keep;
      }
    } else {
      scan.lost_tail_bytes += result.tail_bytes;
    }
  }
  for (auto sequence : removed) scan.segments.erase(sequence);
  return scan;
}

}  // namespace cic::billing::detail
