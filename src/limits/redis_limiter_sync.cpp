// RedisLimiter's breaker, settles and reconciliation: everything sent to Redis off the
// admission path.
#include <algorithm>
#include <atomic>

#include "redis_limiter_core.hpp"

namespace cic::limits::detail {
namespace {

constexpr std::size_t kBatchKeys = 256;

// What one sync round is waiting for; the last reply to arrive completes it.
struct SyncRound {
  std::atomic<std::size_t> left{0};
  std::atomic<bool> ok{true};
};

bool is_ok(const cache::Reply& reply) { return reply.kind == cache::Reply::Kind::kInteger; }

}  // namespace

bool RedisLimiterCore::use_redis() {
  {
    std::lock_guard lock(mutex_);
    if (breaker_ == Breaker::kClosed) return true;
    if (breaker_ != Breaker::kOpen || clock_.now() < open_until_ || syncing_ || stopped_) return false;
    breaker_ = Breaker::kProbing;
  }
  sync(true);  // the one probe; this caller still decides locally
  return false;
}

void RedisLimiterCore::trip() {
  std::lock_guard lock(mutex_);
  breaker_ = Breaker::kOpen;
  open_until_ = clock_.now() + options_.breaker_cooldown;
}

void RedisLimiterCore::settle(const std::string& reservation, const Usage& actual) {
  if (reservation.compare(0, 2, "r:") == 0) {
    SettleJob job;
    {
      std::lock_guard lock(mutex_);
      auto it = redis_holds_.find(reservation);
      if (it == redis_holds_.end()) return;  // unknown or already settled
      job = SettleJob{it->second.keys, it->second.id, actual};
      redis_holds_.erase(it);
    }
    send_settle(std::move(job));
  } else if (reservation.compare(0, 2, "l:") == 0) {
    LocalHold hold;
    {
      std::lock_guard lock(mutex_);
      auto it = local_holds_.find(reservation);
      if (it == local_holds_.end()) return;
      hold = std::move(it->second.hold);
      local_holds_.erase(it);
    }
    fallback_.settle(hold, actual);
    bool closed;
    {
      std::lock_guard lock(mutex_);
      closed = breaker_ == Breaker::kClosed;
    }
    if (closed && !stopped_) sync(false);  // the correction goes to Redis now
  }
}

void RedisLimiterCore::send_settle(SettleJob job) {
  if (stopped_ || !use_redis()) {
    std::lock_guard lock(mutex_);
    settles_.push_back(std::move(job));
    return;
  }
  std::vector<std::string> keys(job.keys.begin(), job.keys.end());
  std::vector<std::string> args{job.id, std::to_string(std::max<std::int64_t>(0, job.actual.tokens)),
                                std::to_string(std::max<std::int64_t>(0, job.actual.cost_micros)),
                                std::to_string(reservation_ttl_ms_)};
  redis_.eval(settle_script_, std::move(keys), std::move(args), sync_timeout_,
              [self = shared_from_this(), job = std::move(job)](cache::Reply reply) mutable {
                if (is_ok(reply)) return;
                {
                  std::lock_guard lock(self->mutex_);
                  self->settles_.push_back(std::move(job));  // kept until Redis takes it
                }
                self->trip();
              });
}

void RedisLimiterCore::send_batch(const ReconcileBatch& batch, std::function<void(bool)> done) {
  std::vector<std::string> keys{options_.key_prefix + "rec:" + batch.id};
  std::vector<std::string> args{std::to_string(reservation_ttl_ms_)};
  for (std::size_t i = 0; i < batch.keys.size(); ++i) {
    keys.push_back(batch.keys[i]);
    args.push_back(std::to_string(batch.deltas[i]));
    args.push_back(std::to_string(batch.ttls_ms[i]));
  }
  redis_.eval(reconcile_script_, std::move(keys), std::move(args), sync_timeout_,
              [done = std::move(done)](cache::Reply reply) { done(is_ok(reply)); });
}

// Sends every queued settle and reconciliation batch (batches keep their id until applied, so a
// resend after a lost reply is not counted twice). As the probe it sends at least a PING, and
// its success closes the breaker; any failure opens it again. A round that succeeds starts
// another while work is left over (queued meanwhile).
void RedisLimiterCore::sync(bool probe) {
  std::deque<SettleJob> jobs;
  std::vector<ReconcileBatch> batches;
  {
    std::lock_guard lock(mutex_);
    if (syncing_ || stopped_) {
      if (probe && breaker_ == Breaker::kProbing) breaker_ = Breaker::kOpen;
      return;
    }
    syncing_ = true;
    jobs.swap(settles_);
    while (!fallback_.ledger_empty()) {
      auto batch = fallback_.take_batch(kBatchKeys, new_id());
      if (!batch.keys.empty()) batches_.push_back(std::move(batch));
    }
    batches.assign(batches_.begin(), batches_.end());
  }

  auto round = std::make_shared<SyncRound>();
  auto self = shared_from_this();
  auto finish_one = [self, round, probe] {
    if (--round->left != 0) return;
    bool more = false;
    {
      std::lock_guard lock(self->mutex_);
      self->syncing_ = false;
      if (round->ok) {
        if (probe && self->breaker_ == Breaker::kProbing) self->breaker_ = Breaker::kClosed;
        more = self->breaker_ == Breaker::kClosed && (!self->settles_.empty() || !self->fallback_.ledger_empty());
      } else {
        self->breaker_ = Breaker::kOpen;
        self->open_until_ = self->clock_.now() + self->options_.breaker_cooldown;
      }
    }
    if (more && !self->stopped_) self->sync(false);
  };

  const bool ping = probe && jobs.empty() && batches.empty();
  round->left = jobs.size() + batches.size() + (ping ? 1 : 0);
  if (round->left == 0) {
    std::lock_guard lock(mutex_);
    syncing_ = false;
    return;
  }
  if (ping) {
    redis_.command({"PING"}, sync_timeout_, [round, finish_one](cache::Reply reply) {
      if (reply.kind != cache::Reply::Kind::kStatus) round->ok = false;
      finish_one();
    });
  }
  for (auto& job : jobs) {
    std::vector<std::string> keys(job.keys.begin(), job.keys.end());
    std::vector<std::string> args{job.id, std::to_string(std::max<std::int64_t>(0, job.actual.tokens)),
                                  std::to_string(std::max<std::int64_t>(0, job.actual.cost_micros)),
                                  std::to_string(reservation_ttl_ms_)};
    redis_.eval(settle_script_, std::move(keys), std::move(args), sync_timeout_,
                [self, round, finish_one, job](cache::Reply reply) mutable {
                  if (!is_ok(reply)) {
                    round->ok = false;
                    std::lock_guard lock(self->mutex_);
                    self->settles_.push_back(std::move(job));
                  }
                  finish_one();
                });
  }
  for (const auto& batch : batches) {
    send_batch(batch, [self, round, finish_one, batch](bool ok) {
      if (ok) {
        {
          std::lock_guard lock(self->mutex_);
          auto& q = self->batches_;
          q.erase(std::remove_if(q.begin(), q.end(), [&](const ReconcileBatch& b) { return b.id == batch.id; }),
                  q.end());
        }
        self->fallback_.batch_applied(batch);
      } else {
        round->ok = false;
      }
      finish_one();
    });
  }
}

}  // namespace cic::limits::detail
