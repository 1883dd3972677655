#include "cic/limits/local_limiter.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <vector>

#include "cic/limits/windows.hpp"
#include "local_decision.hpp"

namespace cic::limits {
namespace {

constexpr char kHandlePrefix = 'l';

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Critical sections here are a few hash lookups (~100 ns). A contended std::mutex::lock sleeps on
// a futex, and the wake-up costs tens of microseconds, so spin briefly before giving in to it.
void lock_briefly(std::mutex& mutex) {
  for (int i = 0; i < 64; ++i) {
    if (mutex.try_lock()) return;
    cpu_relax();
  }
  mutex.lock();
}

class BriefLock {
 public:
  explicit BriefLock(std::mutex& mutex) : mutex_(mutex) { lock_briefly(mutex_); }
  ~BriefLock() { mutex_.unlock(); }
  BriefLock(const BriefLock&) = delete;
  BriefLock& operator=(const BriefLock&) = delete;

 private:
  std::mutex& mutex_;
};

// Locks up to three shard mutexes without deadlock: always in address order (the shards live in
// one array, so that is index order), each mutex once even when two scopes share a shard.
class OrderedLocks {
 public:
  explicit OrderedLocks(std::array<std::mutex*, 3> mutexes) : mutexes_(mutexes) {
    std::sort(mutexes_.begin(), mutexes_.end(), std::less<std::mutex*>{});
    count_ = static_cast<std::size_t>(std::unique(mutexes_.begin(), mutexes_.end()) - mutexes_.begin());
    for (std::size_t i = 0; i < count_; ++i) lock_briefly(*mutexes_[i]);
  }
  ~OrderedLocks() {
    for (std::size_t i = count_; i > 0; --i) mutexes_[i - 1]->unlock();
  }
  OrderedLocks(const OrderedLocks&) = delete;
  OrderedLocks& operator=(const OrderedLocks&) = delete;

 private:
  std::array<std::mutex*, 3> mutexes_;
  std::size_t count_ = 0;
};

std::string handle_for(std::uint64_t id) {
  char buffer[24];
  buffer[0] = kHandlePrefix;
  auto end = std::to_chars(buffer + 1, buffer + sizeof buffer, id).ptr;
  return std::string(buffer, end);
}

bool parse_handle(const std::string& handle, std::uint64_t& id) {
  if (handle.size() < 2 || handle[0] != kHandlePrefix) return false;
  const char* last = handle.data() + handle.size();
  auto [ptr, ec] = std::from_chars(handle.data() + 1, last, id);
  return ec == std::errc() && ptr == last;
}

// Starts a new window or month when the clock has entered one. Never moves back: a wall clock
// stepped backwards keeps counting into the newer window, the conservative choice.
void roll_minute(detail::ScopeCounters& c, std::int64_t minute) {
  if (minute <= c.minute) return;
  c.minute = minute;
  c.requests = 0;
  c.tokens = 0;
}

void roll_month(detail::ScopeCounters& c, std::int64_t month) {
  if (month <= c.month) return;
  c.month = month;
  c.month_tokens = 0;
  c.month_spend = 0;
}

// Moves a counter by a settlement's correction, never below zero.
void adjust(std::int64_t& counter, std::int64_t delta) { counter = std::max<std::int64_t>(0, counter + delta); }

}  // namespace

LocalLimiter::LocalLimiter(const Clock& clock, LocalLimiterOptions options) : clock_(clock), options_(options) {}

LocalLimiter::~LocalLimiter() = default;

void LocalLimiter::admit(const AdmissionRequest& request, std::function<void(Admission)> done) {
  Admission admission = admit_now(request);
  if (done) done(std::move(admission));
}

Admission LocalLimiter::admit_now(const AdmissionRequest& request) {
  const std::int64_t now_ms = clock_.unix_millis();
  const detail::Instant now{minute_window(now_ms), month_window(now_ms), until_minute_end(now_ms),
                            until_month_end(now_ms)};
  const std::array<std::uint32_t, 3> index{shard_index(kKey, request.key_id),
                                           shard_index(kEnvironment, request.environment_id),
                                           shard_index(kOrg, request.org_id)};
  for (std::uint32_t i : index) sweep_if_due(shards_[i], now.minute, now.month);

  Admission admission;
  Reservation reservation;
  {
    OrderedLocks locks({&shards_[index[0]].mutex, &shards_[index[1]].mutex, &shards_[index[2]].mutex});
    Counters& key = shards_[index[kKey]].scopes[kKey][request.key_id];
    Counters& env = shards_[index[kEnvironment]].scopes[kEnvironment][request.environment_id];
    Counters& org = shards_[index[kOrg]].scopes[kOrg][request.org_id];
    roll_minute(key, now.minute);
    roll_minute(env, now.minute);
    roll_month(env, now.month);
    roll_month(org, now.month);

    admission = detail::decide(request, key, env, org, now);
    if (!admission.admitted) return admission;

    const std::int64_t tokens = detail::asked_tokens(request);
    const std::int64_t cost = detail::asked_cost(request);
    key.requests += 1;
    key.tokens += tokens;
    env.requests += 1;
    env.tokens += tokens;
    env.month_tokens += tokens;
    env.month_spend += cost;
    org.month_tokens += tokens;
    org.month_spend += cost;
    // The key's and the environment's concurrency, and what pins all three entries in memory.
    key.in_flight += 1;
    env.in_flight += 1;
    org.in_flight += 1;

    reservation.counters = {&key, &env, &org};
    reservation.shard = index;
    reservation.minute = {key.minute, env.minute, org.minute};
    reservation.month = {key.month, env.month, org.month};
    reservation.tokens = tokens;
    reservation.cost_micros = cost;
    reservation.created_minute = now.minute;
  }
  admission.reservation = remember(reservation, now.minute, now.month);
  return admission;
}

void LocalLimiter::settle(const std::string& handle, const Usage& actual) {
  std::uint64_t id = 0;
  if (!parse_handle(handle, id)) return;
  ReservationShard& shard = reservations_[id % kShards];
  Reservation reservation;
  {
    BriefLock lock(shard.mutex);
    auto it = shard.open.find(id);
    if (it == shard.open.end()) return;  // unknown, settled before, or reclaimed as stale
    reservation = it->second;
    shard.open.erase(it);
  }
  release(reservation, &actual);
}

void LocalLimiter::release(const Reservation& r, const Usage* actual) {
  OrderedLocks locks({&shards_[r.shard[0]].mutex, &shards_[r.shard[1]].mutex, &shards_[r.shard[2]].mutex});
  Counters& key = *r.counters[kKey];
  Counters& env = *r.counters[kEnvironment];
  Counters& org = *r.counters[kOrg];
  key.in_flight -= 1;
  env.in_flight -= 1;
  org.in_flight -= 1;
  if (actual == nullptr) return;  // reclaimed unsettled: the worst case stays counted

  const std::int64_t token_delta = std::max<std::int64_t>(0, actual->tokens) - r.tokens;
  const std::int64_t spend_delta = std::max<std::int64_t>(0, actual->cost_micros) - r.cost_micros;
  // Only the windows the reservation was counted in are corrected; an ended window no longer
  // limits anyone, and the window now open never held this reservation.
  if (key.minute == r.minute[kKey]) adjust(key.tokens, token_delta);
  if (env.minute == r.minute[kEnvironment]) adjust(env.tokens, token_delta);
  if (env.month == r.month[kEnvironment]) {
    adjust(env.month_tokens, token_delta);
    adjust(env.month_spend, spend_delta);
  }
  if (org.month == r.month[kOrg]) {
    adjust(org.month_tokens, token_delta);
    adjust(org.month_spend, spend_delta);
  }
}

std::string LocalLimiter::remember(const Reservation& reservation, std::int64_t minute, std::int64_t month) {
  const std::uint64_t id = next_reservation_.fetch_add(1, std::memory_order_relaxed);
  ReservationShard& shard = reservations_[id % kShards];
  {
    BriefLock lock(shard.mutex);
    shard.open.emplace(id, reservation);
  }
  // Consecutive ids walk every shard, so a shard nobody's scopes hash to is still swept.
  reclaim_stale_if_due(shard, minute);
  sweep_if_due(shards_[id % kShards], minute, month);
  return handle_for(id);
}

std::uint32_t LocalLimiter::shard_index(ScopeKind kind, const std::string& id) const {
  const std::size_t h = std::hash<std::string>{}(id) + static_cast<std::size_t>(kind) * 0x9E3779B97F4A7C15ULL;
  return static_cast<std::uint32_t>(h % kShards);
}

void LocalLimiter::sweep_if_due(Shard& shard, std::int64_t minute, std::int64_t month) {
  std::int64_t swept = shard.swept_minute.load(std::memory_order_relaxed);
  if (swept >= minute) return;
  // One caller per shard and minute does the sweep; the others go on without waiting for it.
  if (!shard.swept_minute.compare_exchange_strong(swept, minute, std::memory_order_relaxed)) return;
  BriefLock lock(shard.mutex);
  for (auto& scope : shard.scopes) {
    std::erase_if(scope, [&](const auto& entry) {
      const Counters& c = entry.second;
      // An environment's or org's month is remembered while either of its monthly counters
      // (tokens, spend) holds usage: both limit later requests this month.
      const bool month_idle = c.month < month || (c.month_tokens == 0 && c.month_spend == 0);
      return c.in_flight == 0 && c.minute < minute && month_idle;
    });
  }
}

void LocalLimiter::reclaim_stale_if_due(ReservationShard& shard, std::int64_t minute) {
  std::int64_t swept = shard.swept_minute.load(std::memory_order_relaxed);
  if (swept >= minute) return;
  if (!shard.swept_minute.compare_exchange_strong(swept, minute, std::memory_order_relaxed)) return;
  const std::int64_t oldest_kept = minute - options_.stale_reservation_after.count();
  std::vector<Reservation> stale;
  {
    BriefLock lock(shard.mutex);
    for (auto it = shard.open.begin(); it != shard.open.end();) {
      if (it->second.created_minute < oldest_kept) {
        stale.push_back(it->second);
        it = shard.open.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const Reservation& r : stale) release(r, nullptr);
}

std::size_t LocalLimiter::tracked_scopes() const {
  std::size_t n = 0;
  for (const Shard& shard : shards_) {
    BriefLock lock(shard.mutex);
    for (const auto& scope : shard.scopes) n += scope.size();
  }
  return n;
}

std::size_t LocalLimiter::open_reservations() const {
  std::size_t n = 0;
  for (const ReservationShard& shard : reservations_) {
    BriefLock lock(shard.mutex);
    n += shard.open.size();
  }
  return n;
}

}  // namespace cic::limits
