// What the local limiter adds to a request: one admit (every scope checked and held at its worst
// case) and its settle, over many distinct keys, environments and orgs with every kind of limit
// set. Timed one pair at a time, first on one thread, then with several threads sharing the
// limiter as the gateway's event-loop threads do. Prints percentiles; exits 0 unless a request
// was refused (the limits are set out of reach, so a refusal means the bench measured the wrong
// path).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cic/common/clock.hpp"
#include "cic/limits/local_limiter.hpp"

namespace {

using cic::limits::AdmissionRequest;

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
    r.key = {.rpm = 1'000'000'000, .tpm = 1'000'000'000'000, .concurrency = 1'000};
    r.environment = {.rpm = 1'000'000'000, .tpm = 1'000'000'000'000, .monthly_tokens = 1'000'000'000'000'000,
                     .monthly_spend_micros = 1'000'000'000'000'000};
    r.org = {.monthly_spend_micros = 1'000'000'000'000'000};
    r.tokens = 1'500;
    r.cost_micros = 900;
    requests.push_back(std::move(r));
  }
  return requests;
}

// Runs `iterations` admit+settle pairs, timing each pair; returns how many were refused.
std::size_t run(cic::limits::LocalLimiter& limiter, const std::vector<AdmissionRequest>& requests, int iterations,
                std::size_t offset, std::vector<double>& ns) {
  std::size_t refused = 0;
  ns.reserve(ns.size() + static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    const AdmissionRequest& r = requests[(offset + static_cast<std::size_t>(i) * 7919) % requests.size()];
    auto start = std::chrono::steady_clock::now();
    cic::limits::Admission a = limiter.admit_now(r);
    if (a.admitted) limiter.settle(a.reservation, {1'000, 600});
    auto end = std::chrono::steady_clock::now();
    refused += !a.admitted;
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
  }
  return refused;
}

void print(const char* title, int iterations, int keys, std::vector<double>& ns) {
  std::sort(ns.begin(), ns.end());
  std::printf("%s: %d admit+settle pairs over %d keys\n", title, iterations, keys);
  std::printf("  p50 %.2f us  p90 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.2f us\n", percentile(ns, 0.50) / 1000,
              percentile(ns, 0.90) / 1000, percentile(ns, 0.99) / 1000, percentile(ns, 0.999) / 1000, ns.back() / 1000);
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200'000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 4;
  const int keys = 20'000;
  cic::SystemClock clock;
  cic::limits::LocalLimiter limiter(clock);
  const std::vector<AdmissionRequest> requests = make_requests(keys);

  std::vector<double> single;
  run(limiter, requests, iterations / 10, 0, single);  // warm-up: every key's entry exists
  single.clear();
  std::size_t refused = run(limiter, requests, iterations, 0, single);
  print("local limiter, 1 thread", iterations, keys, single);

  std::vector<std::vector<double>> per_thread(static_cast<std::size_t>(threads));
  std::atomic<std::size_t> refused_threads{0};
  std::vector<std::thread> pool;
  const int each = iterations / threads;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      refused_threads += run(limiter, requests, each, static_cast<std::size_t>(t) * 1'013, per_thread[t]);
    });
  }
  for (auto& th : pool) th.join();
  std::vector<double> shared;
  for (auto& v : per_thread) shared.insert(shared.end(), v.begin(), v.end());
  char title[64];
  std::snprintf(title, sizeof title, "local limiter, %d threads", threads);
  print(title, each * threads, keys, shared);
  std::printf("  scopes held %zu, reservations open %zu\n", limiter.tracked_scopes(), limiter.open_reservations());

  refused += refused_threads.load();
  if (refused != 0) std::printf("  %zu requests refused: the bench did not measure the admitting path\n", refused);
  return refused == 0 ? 0 : 1;
}
