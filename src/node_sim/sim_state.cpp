#include "node_sim/sim_state.hpp"

#include <chrono>
#include <random>
#include <thread>

#include "node_sim/hashing.hpp"

namespace cic::node_sim {

RequestRegistry::RequestRegistry(std::size_t capacity) : ring_(capacity) {
  by_id_.reserve(capacity);
}

std::shared_ptr<RequestRecord> RequestRegistry::open(std::string_view id) {
  auto record = std::make_shared<RequestRecord>();
  record->id = std::string(id);
  std::lock_guard lock(mutex_);
  std::shared_ptr<RequestRecord>& slot = ring_[next_];
  if (slot) {
    // Forget the evicted record unless its id has since been taken by a newer request.
    auto it = by_id_.find(slot->id);
    if (it != by_id_.end() && it->second == slot) by_id_.erase(it);
  }
  slot = record;
  next_ = (next_ + 1) % ring_.size();
  by_id_.insert_or_assign(record->id, record);
  return record;
}

std::shared_ptr<const RequestRecord> RequestRegistry::find(std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) return nullptr;
  return it->second;
}

SimContext::SimContext(SimOptions opts)
    : options(std::move(opts)), registry(100'000), metrics(options), gate(options.max_concurrency) {
  settings.ttft_ms = options.ttft_ms;
  settings.inter_token_ms = options.inter_token_ms;
  settings.error_rate = options.error_rate;
  settings.hang = options.hang;
}

bool should_inject_error(std::uint64_t seed, std::uint64_t sequence, double rate) {
  if (rate <= 0.0) return false;
  if (rate >= 1.0) return true;
  return unit_interval(splitmix64(splitmix64(seed) ^ sequence)) < rate;
}

std::string make_random_id() {
  thread_local std::uint64_t state = [] {
    std::random_device device;
    std::uint64_t seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    seed ^= std::hash<std::thread::id>{}(std::this_thread::get_id());
    return seed ^ static_cast<std::uint64_t>(
                      std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t a = splitmix64(state++);
  std::uint64_t b = splitmix64(state++);
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (4 * i)) & 0xf];
    id[16 + i] = kHex[(b >> (4 * i)) & 0xf];
  }
  return id;
}

}  // namespace cic::node_sim
