#pragma once
// In-process stand-ins for the stripe module's unit tests: an HttpTransport that behaves like
// Stripe's meter event endpoint (identifier dedupe, scripted faults, lost answers), a scripted
// transport, a usage source fed by the test, and a migrated SQLite store in a temp directory.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cic/store/store.hpp"
#include "cic/stripe/http.hpp"
#include "cic/billing/invoice_usage.hpp"

namespace cic::stripe::testing {

/// Splits an x-www-form-urlencoded body (no '+' handling needed: we never send spaces).
inline std::map<std::string, std::string> parse_form(const std::string& body) {
  auto decode = [](const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= body.size()) {
    auto end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const auto eq = pair.find('=');
    if (!pair.empty()) out[decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : decode(pair.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

/// Stripe's POST /v1/billing/meter_events as far as the reporter can tell: it checks the key,
/// keeps each identifier once (a repeat gets Stripe's 400 "already exists"), and can be told to
/// fail the next requests (an HTTP status, or no answer at all) or to commit and then lose the
/// answer.
class FakeStripe final : public HttpTransport {
 public:
  enum class Fault { kNone, kStatus, kNoAnswer, kDropAfterCommit };

  HttpResult send(const HttpRequest& request) override {
    std::lock_guard lock(mu_);
    requests.push_back(request);
    Fault fault = Fault::kNone;
    int status = 0;
    if (!faults_.empty()) {
      std::tie(fault, status) = faults_.front();
      faults_.pop_front();
    }
    if (fault == Fault::kNoAnswer) return HttpResult{0, {}, "", "connect: Connection refused"};
    if (fault == Fault::kStatus) {
      HttpResult r{status, {}, R"({"error":{"type":"api_error","message":"Simulated failure"}})", ""};
      if (status == 429) r.headers["retry-after"] = "1";
      return r;
    }
    if (request.headers.at("Authorization") != "Bearer " + api_key) {
      return HttpResult{401, {}, R"({"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}})", ""};
    }
    auto form = parse_form(request.body);
    const std::string id = form["identifier"];
    if (!seen_.insert(id).second) {
      ++duplicates;
      return HttpResult{400,
                        {{"stripe-should-retry", "false"}},
                        R"({"error":{"type":"invalid_request_error","message":"An event already exists with identifier )" +
                            id + R"(."}})",
                        ""};
    }
    if (rejected_customers.count(form["payload[stripe_customer_id]"])) {
      seen_.erase(id);
      return HttpResult{400, {}, R"({"error":{"type":"invalid_request_error","message":"No such customer"}})", ""};
    }
    events.push_back(form);
    totals[form["payload[stripe_customer_id]"]] += std::stoll(form["payload[value]"]);
    if (fault == Fault::kDropAfterCommit) return HttpResult{0, {}, "", "answer: end of stream"};
    return HttpResult{200, {}, R"({"object":"billing.meter_event","identifier":")" + id + R"("})", ""};
  }

  void fail_next(int n, Fault fault, int status = 0) {
    std::lock_guard lock(mu_);
    for (int i = 0; i < n; ++i) faults_.emplace_back(fault, status);
  }

  std::string api_key = "sk_test_unit";
  std::vector<HttpRequest> requests;
  std::vector<std::map<std::string, std::string>> events;  // accepted, in order
  std::map<std::string, std::int64_t> totals;              // per customer
  std::set<std::string> rejected_customers;
  int duplicates = 0;

 private:
  std::mutex mu_;
  std::deque<std::pair<Fault, int>> faults_;
  std::set<std::string> seen_;
};

/// Answers from a script, one per request; the last one repeats.
class ScriptedTransport final : public HttpTransport {
 public:
  explicit ScriptedTransport(std::vector<HttpResult> answers) : answers_(std::move(answers)) {}
  HttpResult send(const HttpRequest& request) override {
    requests.push_back(request);
    const std::size_t i = std::min(requests.size() - 1, answers_.size() - 1);
    return answers_[i];
  }
  std::vector<HttpRequest> requests;

 private:
  std::vector<HttpResult> answers_;
};

class FakeUsage final : public billing::UsageSource {
 public:
  std::vector<billing::HourlyUsage> hourly(const billing::UsageFilter& filter) override {
    std::vector<billing::HourlyUsage> out;
    for (const auto& r : rows) {
      if (r.hour_start_ms >= filter.from_ms && (filter.to_ms == 0 || r.hour_start_ms < filter.to_ms)) out.push_back(r);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.hour_start_ms < b.hour_start_ms; });
    return out;
  }
  /// Adds tokens to (org, env, model, hour), as insert_usage does to the rollups.
  void add(const std::string& org, std::int64_t hour, std::int64_t prompt, std::int64_t completion,
           const std::string& model = "llama", const std::string& env = "env_1") {
    for (auto& r : rows) {
      if (r.org_id == org && r.hour_start_ms == hour && r.model == model && r.environment_id == env) {
        r.tokens += billing::TokenCounts{prompt, completion, 0};
        r.requests += 1;
        return;
      }
    }
    rows.push_back(billing::HourlyUsage{org, env, model, "india", hour, 1, billing::TokenCounts{prompt, completion, 0}});
  }
  std::vector<billing::HourlyUsage> rows;
};

/// A migrated SQLite store in its own temp directory, removed afterwards.
class TempStore {
 public:
  TempStore() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("cic-stripe-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    store_ = store::make_sqlite_store((dir_ / "cic.db").string());
    store_->migrate();
  }
  ~TempStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  store::Store& operator*() { return *store_; }
  store::Store* operator->() { return store_.get(); }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace cic::stripe::testing
