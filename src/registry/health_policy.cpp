#include "cic/registry/health_policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace cic::registry {

HealthPolicy::HealthPolicy(const Clock& clock, Options options) : clock_(clock), options_(options) {
  if (options_.consecutive_failures_to_eject < 1) options_.consecutive_failures_to_eject = 1;
  if (options_.eject_base < std::chrono::nanoseconds(1)) options_.eject_base = std::chrono::nanoseconds(1);
  if (options_.eject_max < options_.eject_base) options_.eject_max = options_.eject_base;
  if (!(options_.max_ejected_share >= 0)) options_.max_ejected_share = 0;  // also NaN
  if (options_.max_ejected_share > 1) options_.max_ejected_share = 1;
}

HealthPolicy::~HealthPolicy() = default;

void HealthPolicy::State::push(const Outcome& outcome) {
  ring[next] = outcome;
  next = (next + 1) % kHealthWindow;
  if (count < kHealthWindow) ++count;
}

std::int64_t HealthPolicy::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch()).count();
}

std::chrono::nanoseconds HealthPolicy::backoff(int level) const {
  std::chrono::nanoseconds d = options_.eject_base;
  for (int i = 0; i < level && d < options_.eject_max; ++i) d *= 2;
  return std::min(d, options_.eject_max);
}

// Shared ownership so a concurrent forget() cannot free a state another thread is updating.
std::shared_ptr<HealthPolicy::State> HealthPolicy::state_for(const Node& node) {
  {
    std::shared_lock lock(table_mutex_);
    auto it = states_.find(node.id);
    if (it != states_.end()) return it->second;
  }
  std::unique_lock lock(table_mutex_);
  auto& slot = states_[node.id];
  if (!slot) slot = std::make_shared<State>();
  return slot;
}

std::shared_ptr<const HealthPolicy::State> HealthPolicy::find_state(const Node& node) const {
  std::shared_lock lock(table_mutex_);
  auto it = states_.find(node.id);
  if (it == states_.end()) return nullptr;
  return it->second;
}

void HealthPolicy::forget(const std::string& node_id) {
  std::unique_lock lock(table_mutex_);
  states_.erase(node_id);
}

void HealthPolicy::record_success(const Node& node, std::chrono::microseconds latency, std::uint64_t tokens) {
  record_latency(*node.load, latency);
  const std::shared_ptr<State> owner = state_for(node);
  State& state = *owner;
  const std::int64_t now = now_ns();
  Outcome outcome;
  outcome.latency_us = std::max<std::int64_t>(latency.count(), 1);
  outcome.tokens = static_cast<std::uint32_t>(std::min<std::uint64_t>(tokens, std::numeric_limits<std::uint32_t>::max()));
  std::lock_guard lock(state.mutex);
  state.push(outcome);
  state.consecutive_failures = 0;
  if (state.backoff_level > 0 && now >= state.last_ejection_end_ns &&
      now - state.last_ejection_end_ns >= options_.backoff_reset_after.count()) {
    state.backoff_level = 0;
  }
}

bool HealthPolicy::record_failure(const Node& node, bool timeout, Pool pool) {
  const std::shared_ptr<State> owner = state_for(node);
  State& state = *owner;
  NodeLoad& load = *node.load;
  Outcome outcome;
  outcome.latency_us = -1;
  outcome.timeout = timeout;
  {
    std::lock_guard lock(state.mutex);
    state.push(outcome);
    if (load.ejected_until_ns.load(std::memory_order_relaxed) > now_ns()) return false;
    if (++state.consecutive_failures < options_.consecutive_failures_to_eject) return false;
  }

  std::lock_guard eject_lock(eject_mutex_);
  const std::int64_t now = now_ns();
  std::size_t size = pool.size();
  std::size_t ejected_others = 0;
  bool in_pool = false;
  for (const Node* other : pool) {
    if (other == nullptr) continue;
    if (other == &node || other->load == node.load) {
      in_pool = true;
      continue;
    }
    if (other->load->ejected_until_ns.load(std::memory_order_relaxed) > now) ++ejected_others;
  }
  if (!in_pool) ++size;
  const auto allowed = static_cast<std::size_t>(std::floor(options_.max_ejected_share * static_cast<double>(size) + 1e-9));

  std::lock_guard lock(state.mutex);
  // Another thread may have ejected the node, or a success reset the count, since we looked.
  if (load.ejected_until_ns.load(std::memory_order_relaxed) > now) return false;
  if (state.consecutive_failures < options_.consecutive_failures_to_eject) return false;
  if (ejected_others + 1 > allowed) {
    ++state.ejections_refused;
    return false;
  }
  if (state.backoff_level > 0 && now - state.last_ejection_end_ns >= options_.backoff_reset_after.count()) {
    state.backoff_level = 0;
  }
  const std::int64_t until = now + backoff(state.backoff_level).count();
  load.ejected_until_ns.store(until, std::memory_order_relaxed);
  if (state.backoff_level < 62) ++state.backoff_level;
  state.last_ejection_end_ns = until;
  state.consecutive_failures = 0;
  ++state.ejections;
  return true;
}

std::int64_t HealthPolicy::pool_median_latency_us(Pool pool) {
  std::vector<std::int64_t> latencies;
  latencies.reserve(pool.size());
  for (const Node* node : pool) {
    if (node == nullptr) continue;
    const std::int64_t v = node->load->ewma_latency_us.load(std::memory_order_relaxed);
    if (v > 0) latencies.push_back(v);
  }
  if (latencies.empty()) return 0;
  const auto mid = latencies.begin() + static_cast<std::ptrdiff_t>((latencies.size() - 1) / 2);
  std::nth_element(latencies.begin(), mid, latencies.end());
  return *mid;
}

double HealthPolicy::health_score(bool ejected, double error_rate, std::int64_t latency_us,
                                  std::int64_t pool_median_us) {
  if (ejected) return 0;
  const double availability = 1.0 - std::clamp(std::isfinite(error_rate) ? error_rate : 1.0, 0.0, 1.0);
  double speed = 1;
  if (latency_us > 0 && pool_median_us > 0) {
    speed = std::min(1.0, static_cast<double>(pool_median_us) / static_cast<double>(latency_us));
  }
  return std::clamp(availability * availability * speed, 0.0, 1.0);
}

NodeHealthSnapshot HealthPolicy::stats(const Node& node, Pool pool) const {
  NodeHealthSnapshot s;
  s.node_id = node.id;
  s.ewma_latency_us = node.load->ewma_latency_us.load(std::memory_order_relaxed);
  s.ejected_until_ns = node.load->ejected_until_ns.load(std::memory_order_relaxed);
  s.ejected = s.ejected_until_ns > now_ns();

  std::array<std::int64_t, kHealthWindow> latencies{};
  std::size_t successes = 0;
  std::uint64_t tokens = 0;
  std::int64_t token_time_us = 0;
  if (const std::shared_ptr<const State> state = find_state(node)) {
    std::lock_guard lock(state->mutex);
    s.window_samples = state->count;
    for (std::size_t i = 0; i < state->count; ++i) {
      const Outcome& o = state->ring[i];
      if (o.latency_us < 0) {
        ++s.window_failures;
        if (o.timeout) ++s.window_timeouts;
        continue;
      }
      latencies[successes++] = o.latency_us;
      if (o.tokens > 0) {
        tokens += o.tokens;
        token_time_us += o.latency_us;
      }
    }
    s.consecutive_failures = state->consecutive_failures;
    s.backoff_level = state->backoff_level;
    s.ejections = state->ejections;
    s.ejections_refused = state->ejections_refused;
  }
  if (s.window_samples > 0) {
    s.error_rate = static_cast<double>(s.window_failures) / static_cast<double>(s.window_samples);
  }
  if (token_time_us > 0) s.tokens_per_sec = static_cast<double>(tokens) * 1e6 / static_cast<double>(token_time_us);
  if (successes > 0) {
    std::sort(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(successes));
    auto rank = [&](std::size_t p) {
      // Nearest rank: the smallest value with at least p% of the samples at or below it.
      const std::size_t r = (p * successes + 99) / 100;
      return latencies[std::clamp<std::size_t>(r, 1, successes) - 1];
    };
    s.p50_us = rank(50);
    s.p95_us = rank(95);
    s.p99_us = rank(99);
  }
  s.score = health_score(s.ejected, s.error_rate, s.ewma_latency_us, pool.empty() ? 0 : pool_median_latency_us(pool));
  return s;
}

double HealthPolicy::health_score(const Node& node, Pool pool) const { return stats(node, pool).score; }

}  // namespace cic::registry
