#include "cic/stripe/retry.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>
#include <random>

namespace cic::stripe {
namespace {

constexpr std::chrono::milliseconds kMaxRetryAfter{60'000};

/// Stripe's answer to a meter event whose identifier it has seen within its dedupe window:
/// 400, invalid_request_error, "An event already exists with identifier <id>." (no dedicated
/// error code is documented; resource_already_exists is Stripe's generic one and is accepted too).
bool is_duplicate_identifier(const HttpResult& result) {
  if (result.status != 400) return false;
  const auto body = nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return false;
  const auto& error = body["error"];
  const std::string code = error.value("code", nlohmann::json()).is_string() ? error["code"].get<std::string>() : "";
  const std::string message =
      error.value("message", nlohmann::json()).is_string() ? error["message"].get<std::string>() : "";
  return code == "resource_already_exists" ||
         (message.find("already exists") != std::string::npos && message.find("identifier") != std::string::npos);
}

}  // namespace

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSuccess: return "success";
    case Verdict::kDuplicate: return "duplicate";
    case Verdict::kRetry: return "retry";
    case Verdict::kAuth: return "auth";
    case Verdict::kReject: return "reject";
  }
  return "unknown";
}

Verdict classify_stripe(const HttpResult& result) {
  if (result.status == 0) return Verdict::kRetry;
  if (result.status >= 200 && result.status < 300) return Verdict::kSuccess;
  if (is_duplicate_identifier(result)) return Verdict::kDuplicate;
  if (result.status == 401 || result.status == 403) return Verdict::kAuth;
  // Stripe says outright whether a retry can succeed; its word beats our guess from the status.
  const std::string should_retry = result.header("stripe-should-retry");
  if (should_retry == "true") return Verdict::kRetry;
  if (should_retry == "false") return Verdict::kReject;
  if (result.status == 409 || result.status == 429 || result.status >= 500) return Verdict::kRetry;
  return Verdict::kReject;
}

Verdict classify_webhook(const HttpResult& result) {
  if (result.status >= 200 && result.status < 300) return Verdict::kSuccess;
  if (result.status == 0 || result.status == 408 || result.status == 429 || result.status >= 500) return Verdict::kRetry;
  return Verdict::kReject;
}

std::optional<std::chrono::milliseconds> retry_after(const HttpResult& result) {
  const std::string text = result.header("retry-after");
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || seconds < 0) return std::nullopt;
  return std::min<std::chrono::milliseconds>(std::chrono::seconds(std::min<std::int64_t>(seconds, 3600)),
                                             kMaxRetryAfter);
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned attempt, double unit,
                                        std::optional<std::chrono::milliseconds> server_says) {
  const unsigned doublings = std::min(attempt > 0 ? attempt - 1 : 0u, 30u);
  const double bound = std::min(static_cast<double>(policy.max.count()),
                                static_cast<double>(policy.base.count()) * static_cast<double>(1ull << doublings));
  auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(unit, 0.0, 1.0) * bound));
  if (server_says) delay = std::max(delay, std::min(*server_says, kMaxRetryAfter));
  return delay;
}

Random default_random() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto mu = std::make_shared<std::mutex>();
  return [engine, mu] {
    std::lock_guard lock(*mu);
    return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
  };
}

Delivery send_with_retries(HttpTransport& transport, const HttpRequest& request, const RetryPolicy& policy,
                           const std::function<Verdict(const HttpResult&)>& classify, const Sleeper& sleep,
                           const Random& random) {
  Delivery out;
  const unsigned attempts = std::max(1u, policy.max_attempts);
  for (unsigned attempt = 1; attempt <= attempts; ++attempt) {
    out.result = transport.send(request);
    out.attempts = attempt;
    out.verdict = classify(out.result);
    if (out.verdict != Verdict::kRetry || attempt == attempts) break;
    if (!sleep(backoff_delay(policy, attempt, random(), retry_after(out.result)))) break;  // stopping
  }
  return out;
}

}  // namespace cic::stripe
