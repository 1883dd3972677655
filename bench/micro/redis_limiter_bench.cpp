// What the Redis limiter adds to a request, against a real Redis on loopback, next to the local
// limiter timed the same way. Open loop: admissions are scheduled at t0 + i / rate (1,000 a second
// by default, for ~5 s), each one's latency is measured from its scheduled time to its admission
// callback (so a stall delays every admission behind it, as it would delay requests), and each is
// settled in its callback, below its worst case, as the gateway settles a finished request.
// Requests spread over many keys, environments and orgs, with rpm, tpm, concurrency, monthly
// tokens and both spend caps set (out of reach), so every check of the admit script runs and every
// counter is written and settled.
//
// Needs CIC_BENCH_REDIS_URL (redis://127.0.0.1:PORT), a private server: bench/run.sh starts one.
// Without it the bench says so and exits 0. Arguments: [seconds=5] [rate=1000]. Exits 0; it
// reports, it does not assert.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "cic/cache/redis_client.hpp"
#include "cic/common/clock.hpp"
#include "cic/limits/local_limiter.hpp"
#include "cic/limits/redis_limiter.hpp"

namespace {

using cic::limits::AdmissionRequest;
using Steady = std::chrono::steady_clock;

double percentile(const std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

std::vector<AdmissionRequest> make_requests(int keys) {
  std::vector<AdmissionRequest> requests;
  requests.reserve(static_cast<std::size_t>(keys));
  for (int i = 0; i < keys; ++i) {
    AdmissionRequest r;
    r.key_id = "key_" + std::to_string(i);
    r.environment_id = "env_" + std::to_string(i % 500);
    r.org_id = "org_" + std::to_string(i % 100);
    r.key = {.rpm = 1'000'000, .tpm = 1'000'000'000, .concurrency = 1'000};
    r.environment = {.rpm = 1'000'000, .tpm = 1'000'000'000, .monthly_tokens = 1'000'000'000'000,
                     .monthly_spend_micros = 1'000'000'000'000};
    r.org = {.monthly_tokens = 1'000'000'000'000, .monthly_spend_micros = 1'000'000'000'000};
    r.tokens = 1'500;
    r.cost_micros = 900;
    requests.push_back(std::move(r));
  }
  return requests;
}

struct Result {
  std::vector<double> latency_ns;   // scheduled -> admission callback
  std::vector<double> lateness_ns;  // scheduled -> admit() called (the pacer's own delay)
  std::size_t issued = 0, completed = 0, admitted = 0, refused = 0, degraded = 0;
  double elapsed_s = 0;  // t0 -> last callback
};

// Waits until `when`: sleeps until shortly before, then spins, so pacing jitter stays in the
// microseconds and does not swamp what is measured.
void wait_until(Steady::time_point when) {
  const auto spin = std::chrono::microseconds(200);
  if (Steady::now() < when - spin) std::this_thread::sleep_until(when - spin);
  while (Steady::now() < when) {
  }
}

// Paces `count` admissions at `rate` per second starting at t0 (+ `first_index`), settling each in
// its callback. Returns once every callback ran (or 10 s after the last was issued).
Result run_paced(cic::limits::Limiter& limiter, const std::vector<AdmissionRequest>& requests, int count, int rate,
                 std::size_t offset) {
  Result result;
  const std::size_t n = static_cast<std::size_t>(count);
  // Shared with the callbacks, so one arriving after we gave up waiting writes into live memory.
  struct State {
    explicit State(std::size_t n) : done_at(n, -1), outcome(n, 0) {}
    std::vector<std::int64_t> done_at;  // ns since t0
    std::vector<unsigned char> outcome;  // 1 admitted, 2 refused; +4 decided locally
    std::atomic<std::size_t> completed{0};
    std::atomic<bool> abandoned{false};
  };
  auto state = std::make_shared<State>(n);
  std::vector<std::int64_t> late(n, 0);
  const auto period = std::chrono::nanoseconds(1'000'000'000LL / rate);
  const Steady::time_point t0 = Steady::now() + std::chrono::milliseconds(10);
  for (std::size_t i = 0; i < n; ++i) {
    const Steady::time_point scheduled = t0 + period * static_cast<std::int64_t>(i);
    wait_until(scheduled);
    late[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - scheduled).count();
    const AdmissionRequest& r = requests[(offset + i * 7919) % requests.size()];
    limiter.admit(r, [state, &limiter, i, t0](cic::limits::Admission a) {
      state->done_at[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - t0).count();
      state->outcome[i] = static_cast<unsigned char>((a.admitted ? 1 : 2) + (a.degraded ? 4 : 0));
      // What the node reported: less than the worst case held.
      if (a.admitted && !state->abandoned.load()) limiter.settle(a.reservation, {1'000, 600});
      state->completed.fetch_add(1, std::memory_order_release);
    });
  }
  result.issued = n;
  const auto give_up = Steady::now() + std::chrono::seconds(10);
  while (state->completed.load(std::memory_order_acquire) < n && Steady::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  state->abandoned = true;
  result.completed = state->completed.load(std::memory_order_acquire);
  const std::vector<std::int64_t>& done_at = state->done_at;
  const std::vector<unsigned char>& outcome = state->outcome;
  std::int64_t last = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (done_at[i] < 0) continue;  // never answered (reported as issued - completed)
    const std::int64_t scheduled_ns = period.count() * static_cast<std::int64_t>(i);
    result.latency_ns.push_back(static_cast<double>(done_at[i] - scheduled_ns));
    result.lateness_ns.push_back(static_cast<double>(late[i]));
    last = std::max(last, done_at[i]);
    result.admitted += (outcome[i] & 3) == 1;
    result.refused += (outcome[i] & 3) == 2;
    result.degraded += (outcome[i] & 4) != 0;
  }
  result.elapsed_s = static_cast<double>(last) / 1e9;
  return result;
}

void print_line(const char* what, std::vector<double>& ns) {
  if (ns.empty()) return;
  std::sort(ns.begin(), ns.end());
  std::printf("  %s p50 %.2f us  p90 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.2f us\n", what,
              percentile(ns, 0.50) / 1000, percentile(ns, 0.90) / 1000, percentile(ns, 0.99) / 1000,
              percentile(ns, 0.999) / 1000, ns.back() / 1000);
}

void print(const char* title, int rate, int keys, Result& r) {
  std::printf("%s: %zu admissions paced at %d/s over %d keys (open loop, then settled)\n", title, r.issued, rate, keys);
  print_line("added latency (scheduled -> callback):", r.latency_ns);
  print_line("of which pacer lateness:              ", r.lateness_ns);
  const double achieved = r.elapsed_s > 0 ? static_cast<double>(r.completed) / r.elapsed_s : 0;
  std::printf("  achieved %.0f admissions/s; %zu admitted, %zu refused, %zu decided locally, %zu unanswered\n",
              achieved, r.admitted, r.refused, r.degraded, r.issued - r.completed);
}

}  // namespace

int main(int argc, char** argv) {
  const char* url = std::getenv("CIC_BENCH_REDIS_URL");
  if (url == nullptr || *url == '\0') {
    std::printf("redis limiter: skipped -- CIC_BENCH_REDIS_URL is not set (bench/run.sh starts a private "
                "redis-server and sets it)\n");
    return 0;
  }
  const int seconds = std::max(1, argc > 1 ? std::atoi(argv[1]) : 5);
  const int rate = std::max(1, argc > 2 ? std::atoi(argv[2]) : 1'000);
  const int count = seconds * rate;
  const int warmup = std::min(count, rate / 2);
  const int keys = 5'000;
  const std::vector<AdmissionRequest> requests = make_requests(keys);
  cic::SystemClock clock;

  // The local limiter, timed the same way, for comparison.
  {
    cic::limits::LocalLimiter local(clock);
    run_paced(local, requests, warmup, rate, 0);
    Result r = run_paced(local, requests, count, rate, 17);
    print("local limiter", rate, keys, r);
  }

  // The Redis limiter, with the gateway's defaults (25 ms budget, 1 s breaker cooldown). A key
  // prefix of its own, so runs never share counters.
  cic::cache::RedisClient client(cic::cache::RedisClientOptions{url});
  cic::limits::RedisLimiterOptions options;
  options.key_prefix = "cic:bench:" + std::to_string(::getpid()) + ":" +
                       std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + ":";
  std::atomic<std::size_t> fallbacks{0};
  options.on_fallback = [&fallbacks] { fallbacks.fetch_add(1, std::memory_order_relaxed); };
  {
    cic::limits::RedisLimiter limiter(clock, client, options);
    // Warm-up: connects, loads the scripts and creates the counters' first windows.
    run_paced(limiter, requests, warmup, rate, 0);
    const std::size_t warmup_fallbacks = fallbacks.load();
    Result r = run_paced(limiter, requests, count, rate, 17);
    char title[160];
    std::snprintf(title, sizeof title, "redis limiter (%s)", url);
    print(title, rate, keys, r);
    // Let the last settles reach Redis before the limiter and client go.
    const auto until = Steady::now() + std::chrono::seconds(2);
    while (limiter.pending_redis_work() > 0 && Steady::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::printf("  redis: connected %s, %llu connect(s), %llu call(s) timed out, breaker %s, %zu fallback(s) "
                "(%zu in warm-up)\n",
                client.connected() ? "yes" : "no", static_cast<unsigned long long>(client.connects()),
                static_cast<unsigned long long>(client.timeouts()), limiter.breaker_open() ? "open" : "closed",
                fallbacks.load(), warmup_fallbacks);
  }
  return 0;
}
