#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace cic::limits {

/// Limits of one scope; 0 means "no limit" for every field.
struct ScopeLimits {
  std::int64_t rpm = 0;          // requests per minute (fixed one-minute windows)
  std::int64_t tpm = 0;          // tokens per minute (fixed one-minute windows)
  std::int64_t concurrency = 0;  // requests in flight
  std::int64_t monthly_tokens = 0;       // token quota per calendar month (UTC)
  std::int64_t monthly_spend_micros = 0; // spend cap per calendar month (UTC), micro-dollars
};

/// What a request asks for, against every scope it touches, at its worst case.
struct AdmissionRequest {
  std::string key_id;
  std::string environment_id;
  std::string org_id;
  ScopeLimits key;          // rpm, tpm, concurrency
  ScopeLimits environment;  // rpm, tpm, concurrency, monthly_tokens, monthly_spend_micros
  ScopeLimits org;          // monthly_tokens, monthly_spend_micros
  std::int64_t tokens = 0;       // estimated prompt tokens + max_tokens (or the model default)
  std::int64_t cost_micros = 0;  // worst-case cost of `tokens` at the model's price
  bool priced = true;            // false: the model has no price (cannot pass a spend cap)
};

enum class Denial { kNone, kRate, kConcurrency, kQuota, kSpend, kUnpriced };

/// OpenAI's x-ratelimit-* figures for the most constrained request and token scopes.
struct RateHeaders {
  std::int64_t limit_requests = 0, remaining_requests = 0;
  std::int64_t limit_tokens = 0, remaining_tokens = 0;
  std::chrono::milliseconds reset_requests{0}, reset_tokens{0};
  bool present = false;  // false when no rate limit applies
};

/// The answer to an admission. When admitted, `reservation` must be settled exactly once.
struct Admission {
  bool admitted = false;
  Denial denial = Denial::kNone;
  std::string scope;          // "key", "environment" or "org" that refused
  std::string limit_name;     // "rpm", "tpm", "concurrency", "monthly_tokens", "monthly_spend"
  std::int64_t limit_value = 0;
  std::chrono::milliseconds retry_after{0};
  RateHeaders headers;
  std::string reservation;    // opaque handle for settle()
  bool degraded = false;      // decided locally because the shared store was unavailable
};

/// What a request really used, reported after its response (or its cut-off stream).
struct Usage {
  std::int64_t tokens = 0;
  std::int64_t cost_micros = 0;
};

/// Admits each request atomically against every scope it touches (holding its worst case), and
/// settles afterwards to the real usage, releasing the rest. Implementations are thread-safe;
/// callbacks may run on any thread and must not block.
class Limiter {
 public:
  virtual ~Limiter() = default;
  virtual void admit(const AdmissionRequest& request, std::function<void(Admission)> done) = 0;
  virtual void settle(const std::string& reservation, const Usage& actual) = 0;
};

}  // namespace cic::limits
