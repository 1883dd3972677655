// What authentication adds to a request whose key is cached: the shape and checksum check, the
// HMAC-SHA256 of the key, the key-cache lookup and the last-use note -- exactly the steps the
// gateway runs before routing. Prints percentiles of single operations, timed one by one.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cic/auth/api_key.hpp"
#include "cic/auth/key_cache.hpp"
#include "cic/auth/key_hasher.hpp"
#include "cic/auth/last_used_tracker.hpp"

namespace {

double percentile(std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200'000;
  const int keys = 10'000;  // a realistic working set, so the cache is not one hot line
  cic::SystemClock clock;
  cic::auth::KeyHasher hasher("bench-only-key-hash-secret-0123456789abcdef");
  cic::auth::KeyCache cache(clock, std::chrono::hours(1), std::chrono::minutes(1));
  cic::auth::LastUsedTracker last_used;

  std::vector<std::string> tokens;
  for (int i = 0; i < keys; ++i) {
    tokens.push_back(cic::auth::generate_api_key("prod"));
    auto identity = std::make_shared<cic::auth::KeyIdentity>();
    identity->key_id = "key_" + std::to_string(i);
    identity->key_hash = hasher.hash(tokens.back());
    identity->org_id = "org_bench";
    identity->environment_id = "env_bench";
    identity->region = "india";
    identity->models = {"llama-3.1-8b-instruct"};
    cache.put_valid(identity);
  }

  std::vector<double> ns;
  ns.reserve(iterations);
  std::size_t valid = 0;
  for (int i = 0; i < iterations; ++i) {
    const std::string& token = tokens[static_cast<std::size_t>(i) % tokens.size()];
    auto start = std::chrono::steady_clock::now();
    bool ok = cic::auth::has_valid_api_key_shape(token);
    std::string hash = hasher.hash(token);
    auto entry = cache.get(hash);
    ok = ok && entry.state == cic::auth::KeyCache::State::kValid && !entry.identity->expired(clock.unix_millis());
    if (ok) last_used.record(entry.identity->key_id, clock.unix_millis());
    auto end = std::chrono::steady_clock::now();
    valid += ok;
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
  }
  std::sort(ns.begin(), ns.end());
  std::printf("auth of a cached key: %d ops over %d keys (%zu valid)\n", iterations, keys, valid);
  std::printf("  p50 %.2f us  p90 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.2f us\n", percentile(ns, 0.50) / 1000,
              percentile(ns, 0.90) / 1000, percentile(ns, 0.99) / 1000, percentile(ns, 0.999) / 1000, ns.back() / 1000);
  return valid == static_cast<std::size_t>(iterations) ? 0 : 1;
}
