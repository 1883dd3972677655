// Opening the usage log: take a slot of the directory, replay it, adopt orphaned slots.
//
// Several processes may point at one directory (replicas on a host, or parallel test runs): each
// holds an flock on `slot-N/LOCK` for its lifetime, so two never write the same files, and the
// kernel drops the lock when a process dies, even by SIGKILL. A restarted process takes the lowest
// free slot, which after a crash is usually its own old one; the records of any other unlocked
// slot written for the same store are copied into the new log, so no slot is left stranded.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "cic/billing/usage_log.hpp"
#include "cic/billing/usage_log_format.hpp"
#include "usage_log_io.hpp"

namespace cic::billing {
namespace fs = std::filesystem;
namespace {

constexpr unsigned kMaxSlots = 64;
constexpr std::uint64_t kHeader = wal::kSegmentHeaderBytes;
constexpr std::size_t kAdoptChunk = 8 << 20;

std::string slot_path(const std::string& dir, unsigned n) { return (fs::path(dir) / ("slot-" + std::to_string(n))).string(); }

/// The slot's lock, held (LOCK_EX) when the result is >= 0.
int try_lock_slot(const std::string& slot, bool create) {
  const std::string path = (fs::path(slot) / "LOCK").string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
  if (fd < 0) {
    if (create) throw std::runtime_error("usage log: cannot open " + path + ": " + std::strerror(errno));
    return -1;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string slot_owner(const std::string& slot) { return detail::read_file((fs::path(slot) / "owner").string()).value_or(""); }

/// Removes every segment and the checkpoint: what a slot looks like before its first record.
void clear_slot(const std::string& slot) {
  for (const auto& [sequence, size] : detail::list_segments(slot)) ::unlink(detail::segment_file(slot, sequence).c_str());
  ::unlink((fs::path(slot) / "checkpoint").string().c_str());
}

}  // namespace

UsageLog::UsageLog(UsageLogOptions options, SyncObserver on_sync)
    : options_(std::move(options)), on_sync_(std::move(on_sync)) {
  if (options_.max_bytes == 0) throw std::invalid_argument("usage log: max_bytes must be positive");
  reserve_bytes_ = std::max<std::uint64_t>(1 << 20, options_.max_bytes / 100);
  try {
    open_slot();
    recover();
    adopt_orphans();
  } catch (...) {
    for (int fd : {active_fd_, dir_fd_, lock_fd_}) {
      if (fd >= 0) ::close(fd);
    }
    throw;
  }
  {
    std::lock_guard lock(mu_);
    refresh_fill_locked();
  }
  const LogRecovery& r = recovery_;
  spdlog::info("usage log: {} (slot {}): {} records to replay from segment {} offset {}{}{}", slot_dir_, r.slot,
               r.records, r.checkpoint.segment, r.checkpoint.offset,
               r.adopted_records ? fmt::format(" ({} adopted from orphaned slots)", r.adopted_records) : "",
               r.torn_bytes ? fmt::format("; a torn tail of {} bytes was cut off", r.torn_bytes) : "");
  if (r.corrupt_gaps > 0 || r.lost_tail_bytes > 0) {
    spdlog::error("usage log: {} damaged runs ({} bytes) skipped and {} bytes at segment ends unreadable: records "
                  "in them are lost",
                  r.corrupt_gaps, r.corrupt_bytes, r.lost_tail_bytes);
  }
  log_fill_level();
  observe_ = true;  // adoption above wrote batches before anyone could observe them
  writer_ = std::thread([this] { run_writer(); });
}

void UsageLog::open_slot() {
  fs::create_directories(options_.dir);
  for (unsigned n = 0; n < kMaxSlots; ++n) {
    const std::string slot = slot_path(options_.dir, n);
    fs::create_directories(slot);
    const int fd = try_lock_slot(slot, true);
    if (fd < 0) continue;  // a live process has it
    const std::string owner = slot_owner(slot);
    if (!owner.empty() && owner != options_.owner) {
      // Written for another store: usable only when nothing in it is waiting for that store.
      const std::size_t waiting = detail::scan_slot(slot, false).records;
      if (waiting > 0) {
        spdlog::warn("usage log: {} holds {} records for another store ({}); leaving them there", slot, waiting, owner);
        ::close(fd);
        continue;
      }
      clear_slot(slot);
    }
    dir_fd_ = ::open(slot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) {
      ::close(fd);
      throw std::runtime_error("usage log: cannot open " + slot + ": " + std::strerror(errno));
    }
    lock_fd_ = fd;
    slot_dir_ = slot;
    recovery_.slot = n;
    if (owner != options_.owner) detail::write_file_atomically(slot, dir_fd_, "owner", options_.owner);
    return;
  }
  throw std::runtime_error("usage log: all " + std::to_string(kMaxSlots) + " slots of " + options_.dir + " are in use");
}

void UsageLog::recover() {
  const detail::SlotScan scan = detail::scan_slot(slot_dir_, true);
  if (scan.checkpoint_damaged) {
    spdlog::warn("usage log: {}/checkpoint is damaged; replaying the whole slot (the store skips what it has)", slot_dir_);
  }
  recovery_.records = scan.records;
  recovery_.torn_bytes = scan.torn_bytes;
  recovery_.corrupt_gaps = scan.corrupt_gaps;
  recovery_.corrupt_bytes = scan.corrupt_bytes;
  recovery_.lost_tail_bytes = scan.lost_tail_bytes;

  LogPosition checkpoint = scan.checkpoint;
  std::uint64_t last = checkpoint.segment;
  for (const auto& [sequence, size] : scan.segments) {
    if (sequence < checkpoint.segment) {
      // Its records are in the store: a crash came between the checkpoint and this removal.
      ::unlink(detail::segment_file(slot_dir_, sequence).c_str());
      continue;
    }
    segments_[sequence].size = size;
    last = std::max(last, sequence);
  }
  // This process writes a segment of its own; the previous one stays as it was (sealed).
  start_segment(last + 1);
  if (segments_.count(checkpoint.segment) == 0) checkpoint = LogPosition{segments_.begin()->first, kHeader};
  std::lock_guard lock(mu_);
  checkpoint_ = checkpoint;
  pending_records_ = scan.records;
  backlog_ = backlog_locked();
  recovery_.checkpoint = checkpoint_;
  recovery_.segments = segments_.size();
}

void UsageLog::adopt_orphans() {
  for (unsigned n = 0; n < kMaxSlots; ++n) {
    const std::string slot = slot_path(options_.dir, n);
    if (slot == slot_dir_ || !fs::exists(slot)) continue;
    const int fd = try_lock_slot(slot, false);
    if (fd < 0) continue;
    const std::string owner = slot_owner(slot);
    if (!owner.empty() && owner != options_.owner) {
      if (const std::size_t waiting = detail::scan_slot(slot, false).records; waiting > 0) {
        spdlog::warn("usage log: {} holds {} records for another store ({}); leaving them there", slot, waiting, owner);
      }
      ::close(fd);
      continue;
    }
    // Same store, nobody alive holds it: its records are copied into this log (and made durable)
    // before its files go. A crash in between copies them again later, which the store absorbs.
    std::string frames;
    std::size_t count = 0;
    std::size_t adopted = 0;
    auto write_out = [&] {
      if (frames.empty()) return;
      if (write_batch(frames, count) != count) throw std::runtime_error("usage log: cannot copy the records of " + slot);
      adopted += count;
      frames.clear();
      count = 0;
    };
    try {
      detail::scan_slot(slot, false, [&](store::UsageRecord&& r) {
        wal::append_frame(r, frames);
        ++count;
        if (frames.size() >= kAdoptChunk) write_out();
      });
      write_out();
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (adopted > 0) spdlog::info("usage log: adopted {} records from {}", adopted, slot);
    recovery_.adopted_records += adopted;
    recovery_.records += adopted;
    clear_slot(slot);
    ::close(fd);
  }
}

}  // namespace cic::billing
