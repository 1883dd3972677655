#pragma once
#include <future>
#include <latch>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cic/limits/limiter.hpp"
#include "cic/limits/windows.hpp"
#include "fakes/fake_clock.hpp"

namespace cic::limits {

inline AdmissionRequest request(std::string key, std::string env, std::string org) {
  AdmissionRequest r;
  r.key_id = std::move(key);
  r.environment_id = std::move(env);
  r.org_id = std::move(org);
  return r;
}

inline Admission admit_sync(Limiter& limiter, const AdmissionRequest& request) {
  std::promise<Admission> p;
  auto f = p.get_future();
  limiter.admit(request, [&p](Admission a) { p.set_value(std::move(a)); });
  return f.get();
}

/// `n` admissions issued at once, alternating over `limiters`; waits for every answer.
inline std::vector<std::pair<Limiter*, Admission>> admit_concurrently(std::vector<Limiter*> limiters,
                                                                      const AdmissionRequest& request, int n) {
  std::vector<std::pair<Limiter*, Admission>> out;
  std::mutex mutex;
  std::latch done(n);
  for (int i = 0; i < n; ++i) {
    Limiter* l = limiters[i % limiters.size()];
    l->admit(request, [&, l](Admission a) {
      {
        std::lock_guard lock(mutex);
        out.emplace_back(l, std::move(a));
      }
      done.count_down();
    });
  }
  done.wait();
  return out;
}

/// Moves the clock to the first millisecond of the next minute window.
inline void start_of_minute(cic::testing::FakeClock& clock) { clock.advance(until_minute_end(clock.unix_millis())); }

/// A key prefix no other test run uses.
inline std::string unique_prefix() {
  static std::atomic<int> n{0};
  return "cic:test:limits:" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ":" +
         std::to_string(n++) + ":";
}

}  // namespace cic::limits
