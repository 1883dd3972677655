// The usage write-ahead log at run time: appends and the group-commit writer thread, the
// flusher's reads and checkpoints. Opening (slots, replay, adoption): usage_log_slot.cpp.
#include "cic/billing/usage_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "cic/billing/usage_log_format.hpp"
#include "usage_log_io.hpp"

namespace cic::billing {
namespace {

using detail::segment_file;
constexpr std::uint64_t kHeader = wal::kSegmentHeaderBytes;

void call_done(const UsageLog::Done& done, bool durable) {
  // A callback that throws must not take the writer thread (and every later record) with it.
  try {
    if (done) done(durable);
  } catch (const std::exception& e) {
    spdlog::error("usage log: completion callback threw: {}", e.what());
  }
}

}  // namespace

UsageLog::~UsageLog() {
  stop();
  for (int fd : {read_fd_, active_fd_, dir_fd_, lock_fd_}) {
    if (fd >= 0) ::close(fd);  // closing the lock file releases the slot
  }
}

void UsageLog::append(const store::UsageRecord& record, Done done) {
  // Framed on the caller's thread (a fraction of a microsecond), so that the writer only copies.
  thread_local std::string frame;
  frame.clear();
  wal::append_frame(record, frame);
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    const std::uint64_t after = backlog_ + queued_.size() + frame.size();
    if (stopping_ || after > options_.max_bytes + reserve_bytes_) {
      ++refused_;
    } else {
      wake = queued_.empty();
      queued_ += frame;
      queued_done_.push_back(std::move(done));
      ++appended_;
      if (after >= options_.max_bytes && !full_) {
        full_ = true;
        accepting_.store(false, std::memory_order_relaxed);
      }
      done = nullptr;
    }
  }
  if (done) {
    call_done(done, false);
    return;
  }
  if (wake) wake_writer_.notify_one();
}

bool UsageLog::accepting() const { return accepting_.load(std::memory_order_relaxed); }

LogStats UsageLog::stats() const {
  std::lock_guard lock(mu_);
  LogStats s;
  s.backlog_bytes = backlog_;
  s.pending_records = pending_records_;
  s.queued_records = queued_done_.size();
  for (const auto& [sequence, segment] : segments_) s.disk_bytes += segment.size;
  s.refused = refused_;
  s.write_errors = write_errors_;
  s.full = full_;
  return s;
}

LogPosition UsageLog::checkpoint() const {
  std::lock_guard lock(mu_);
  return checkpoint_;
}

std::uint64_t UsageLog::backlog_locked() const {
  std::uint64_t bytes = 0;
  for (auto it = segments_.lower_bound(checkpoint_.segment); it != segments_.end(); ++it) {
    const std::uint64_t start = it->first == checkpoint_.segment ? std::max(checkpoint_.offset, kHeader) : kHeader;
    if (it->second.size > start) bytes += it->second.size - start;
  }
  return bytes;
}

void UsageLog::refresh_fill_locked() {
  const std::uint64_t used = backlog_ + queued_.size();
  full_ = used >= options_.max_bytes;
  accepting_.store(!full_ && !stopping_, std::memory_order_relaxed);
}

void UsageLog::log_fill_level() {
  std::uint64_t used = 0;
  int level = 0;
  int previous = 0;
  {
    std::lock_guard lock(mu_);
    used = backlog_ + queued_.size();
    const double share = static_cast<double>(used) / static_cast<double>(options_.max_bytes);
    level = share >= 1.0 ? 100 : share >= 0.8 ? 80 : share >= 0.5 ? 50 : 0;
    previous = fill_level_;
    fill_level_ = level;
  }
  if (level > previous) {
    spdlog::warn("usage log {}% full: {} of {} bytes of usage records are not in the store yet{}", level, used,
                 options_.max_bytes,
                 level == 100 ? "; new billable requests are refused (503 billing_backlog_full) until it drains" : "");
  } else if (level < previous && level == 0) {
    spdlog::info("usage log back under 50% full ({} of {} bytes)", used, options_.max_bytes);
  }
}

int UsageLog::sync(int fd) const { return options_.sync_file ? options_.sync_file(fd) : ::fdatasync(fd); }

void UsageLog::start_segment(std::uint64_t sequence) {
  const std::string path = segment_file(slot_dir_, sequence);
  // O_APPEND: after a failed batch is truncated away, the next write lands at the new end.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("usage log: cannot create " + path + ": " + std::strerror(errno));
  if (!detail::write_all(fd, wal::segment_header(sequence)) || sync(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    throw std::runtime_error("usage log: cannot write " + path + ": " + reason);
  }
  detail::fsync_dir(dir_fd_);  // the new file's name must survive a crash as well as its bytes
  if (active_fd_ >= 0) ::close(active_fd_);
  active_fd_ = fd;
  std::lock_guard lock(mu_);
  segments_[sequence].size = kHeader;
  durable_ = LogPosition{sequence, kHeader};
}

std::size_t UsageLog::write_batch(const std::string& bytes, std::size_t records) {
  // Normally one write() and one fsync. A batch that would carry the segment past segment_bytes
  // is split at a frame boundary: the first part ends this segment, the rest starts the next.
  std::size_t done_bytes = 0;
  std::size_t done_records = 0;
  bool ok = true;
  while (ok && done_bytes < bytes.size()) {
    std::size_t room = durable_.offset < options_.segment_bytes ? options_.segment_bytes - durable_.offset : 0;
    std::size_t take = 0;
    std::size_t frames = 0;
    while (done_bytes + take < bytes.size()) {
      const std::size_t size = wal::kFrameHeaderBytes + (static_cast<unsigned char>(bytes[done_bytes + take]) |
                                                         static_cast<unsigned char>(bytes[done_bytes + take + 1]) << 8 |
                                                         static_cast<unsigned char>(bytes[done_bytes + take + 2]) << 16 |
                                                         static_cast<std::size_t>(static_cast<unsigned char>(bytes[done_bytes + take + 3])) << 24);
      // A segment takes at least one frame, however large.
      if (take + size > room && !(take == 0 && durable_.offset == kHeader)) break;
      take += size;
      ++frames;
    }
    if (take == 0) {
      try {
        start_segment(durable_.segment + 1);
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        ok = false;
      }
      continue;
    }
    ok = write_chunk(std::string_view(bytes).substr(done_bytes, take), frames);
    if (!ok) break;
    done_bytes += take;
    done_records += frames;
  }
  if (!ok) {
    std::lock_guard lock(mu_);
    ++write_errors_;
    durable_count_ += records - done_records;
  }
  durable_cv_.notify_all();
  return ok ? records : done_records;
}

bool UsageLog::write_chunk(std::string_view bytes, std::size_t records) {
  const std::uint64_t before = durable_.offset;
  bool ok = active_fd_ >= 0 && detail::write_all(active_fd_, bytes);
  const auto synced_at = std::chrono::steady_clock::now();
  ok = ok && sync(active_fd_) == 0;
  const std::chrono::nanoseconds fsync_time = std::chrono::steady_clock::now() - synced_at;
  if (!ok) {
    spdlog::error("usage log: writing {} records to segment {} failed: {}", records, durable_.segment,
                  std::strerror(errno));
    // Drop whatever part of the batch reached the file, so the next batch starts on a frame
    // boundary; after a failed fsync the page cache cannot be trusted, so move to a new segment.
    if (active_fd_ >= 0 && ::ftruncate(active_fd_, static_cast<off_t>(before)) != 0) {
      spdlog::error("usage log: cannot truncate the failed batch: {}", std::strerror(errno));
    }
    try {
      start_segment(durable_.segment + 1);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
    }
    return false;
  }
  {
    std::lock_guard lock(mu_);
    durable_.offset += bytes.size();
    segments_[durable_.segment].size = durable_.offset;
    backlog_ += bytes.size();
    pending_records_ += records;
    durable_count_ += records;
    refresh_fill_locked();
  }
  if (on_sync_ && observe_) on_sync_(fsync_time, records);
  return true;
}

void UsageLog::run_writer() {
  std::string batch;
  std::vector<Done> done;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_writer_.wait(lock, [&] { return !queued_.empty() || stopping_; });
      if (queued_.empty()) break;  // stopping, and everything is written
      // Group commit: a record that arrives while the log is busy waits for the next batch; the
      // first record after a quiet spell goes at once (no timer on an idle log).
      const auto not_before = last_batch_start_ + options_.group_commit_max_delay;
      if (!stopping_ && std::chrono::steady_clock::now() < not_before) {
        wake_writer_.wait_until(lock, not_before, [&] { return stopping_; });
      }
      batch.swap(queued_);
      done.swap(queued_done_);
    }
    last_batch_start_ = std::chrono::steady_clock::now();
    // The records of a batch are durable up to the first failure (there is one only when a
    // write or an fsync failed).
    const std::size_t durable = write_batch(batch, done.size());
    for (std::size_t i = 0; i < done.size(); ++i) call_done(done[i], i < durable);
    log_fill_level();
    batch.clear();
    done.clear();
  }
}

bool UsageLog::wait_durable(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const std::uint64_t ticket = appended_;
  return durable_cv_.wait_for(lock, timeout, [&] { return durable_count_ >= ticket; });
}

void UsageLog::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopping_ = true;
    accepting_.store(false, std::memory_order_relaxed);
  }
  wake_writer_.notify_one();
  if (writer_.joinable()) writer_.join();
  std::lock_guard lock(mu_);
  stopped_ = true;
}

UsageLog::Batch UsageLog::read(LogPosition from, std::size_t max) {
  Batch out;
  LogPosition pos = from;
  while (out.records.size() < max) {
    std::uint64_t limit = 0;
    bool active = false;
    std::uint64_t next_segment = 0;
    {
      std::lock_guard lock(mu_);
      auto it = segments_.lower_bound(pos.segment);
      if (it == segments_.end()) break;
      if (it->first != pos.segment) pos = LogPosition{it->first, kHeader};  // deleted or skipped
      active = pos.segment == durable_.segment;
      limit = active ? durable_.offset : it->second.size;
      auto next = std::next(it);
      next_segment = next == segments_.end() ? 0 : next->first;
    }
    pos.offset = std::max(pos.offset, kHeader);
    if (pos.offset >= limit) {
      if (active || next_segment == 0) break;  // nothing more is durable yet
      pos = LogPosition{next_segment, kHeader};
      continue;
    }
    if (read_fd_ < 0 || read_segment_ != pos.segment) {
      if (read_fd_ >= 0) ::close(read_fd_);
      const std::string path = segment_file(slot_dir_, pos.segment);
      read_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      read_segment_ = pos.segment;
      if (read_fd_ < 0) throw std::runtime_error("usage log: cannot open " + path + ": " + std::strerror(errno));
    }
    // Records are ~150 bytes: a window sized for the batch, not the whole segment.
    const std::uint64_t remaining = limit - pos.offset;
    std::uint64_t window = std::min<std::uint64_t>(remaining, std::max<std::size_t>(64 * 1024, (max - out.records.size()) * 512));
    auto on_record = [&](store::UsageRecord&& r, std::size_t) { out.records.push_back(std::move(r)); };
    wal::ScanResult scan;
    for (;;) {
      if (!detail::pread_exact(read_fd_, pos.offset, window, read_buffer_)) {
        throw std::runtime_error("usage log: cannot read segment " + std::to_string(pos.segment) + ": " +
                                 std::strerror(errno));
      }
      scan = wal::scan_frames(read_buffer_, window == remaining, max - out.records.size(), on_record);
      // Nothing read and nothing judged: a frame longer than the window, or damage; look at
      // everything up to the limit before deciding.
      if (!scan.need_more || scan.records > 0 || window == remaining) break;
      window = remaining;
    }
    if (scan.skipped_gaps > 0 || scan.tail_bytes > 0) {
      spdlog::error("usage log: segment {} has {} damaged bytes after offset {}; skipped", pos.segment,
                    scan.skipped_bytes + scan.tail_bytes, pos.offset);
    }
    pos.offset += scan.end + scan.tail_bytes;
  }
  out.next = pos;
  return out;
}

void UsageLog::commit(LogPosition upto, std::size_t records, bool persist) {
  if (persist) write_checkpoint(upto);
  std::vector<std::uint64_t> doomed;
  {
    std::lock_guard lock(mu_);
    checkpoint_ = upto;
    pending_records_ -= std::min<std::uint64_t>(records, pending_records_);
    for (const auto& [sequence, segment] : segments_) {
      if (!persist) break;
      if (sequence >= upto.segment) break;
      if (sequence != durable_.segment) doomed.push_back(sequence);
    }
    // After a clean stop everything may be in the store: the last segment can go too.
    if (persist && stopped_ && upto >= durable_ && segments_.count(durable_.segment)) doomed.push_back(durable_.segment);
    for (auto sequence : doomed) segments_.erase(sequence);
    backlog_ = backlog_locked();
    refresh_fill_locked();
  }
  for (auto sequence : doomed) {
    if (read_fd_ >= 0 && read_segment_ == sequence) {
      ::close(read_fd_);
      read_fd_ = -1;
    }
    const std::string path = segment_file(slot_dir_, sequence);
    if (::unlink(path.c_str()) != 0) spdlog::warn("usage log: cannot remove {}: {}", path, std::strerror(errno));
  }
  log_fill_level();
}

void UsageLog::write_checkpoint(LogPosition position) {
  detail::write_file_atomically(slot_dir_, dir_fd_, "checkpoint", detail::encode_checkpoint(position));
}

}  // namespace cic::billing
