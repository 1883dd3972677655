#include "report.hpp"

#include <cmath>
#include <cstdio>
#include <string>

namespace cic::bench {
namespace {

double ns_to_ms(std::int64_t ns) {
  // Rounded to whole microseconds: finer digits would be clock noise.
  return std::round(static_cast<double>(ns) / 1000.0) / 1000.0;
}

nlohmann::json percentiles_json(std::vector<std::int64_t>& samples) {
  const Percentiles p = compute_percentiles(samples);
  // No samples means no figure, not a figure of zero.
  if (p.count == 0)
    return {{"count", 0}, {"min", nullptr}, {"p50", nullptr}, {"p90", nullptr},
            {"p99", nullptr}, {"p999", nullptr}, {"max", nullptr}};
  return {{"count", p.count},          {"min", ns_to_ms(p.min)},   {"p50", ns_to_ms(p.p50)},
          {"p90", ns_to_ms(p.p90)},    {"p99", ns_to_ms(p.p99)},   {"p999", ns_to_ms(p.p999)},
          {"max", ns_to_ms(p.max)}};
}

void print_percentiles(const char* name, const nlohmann::json& p) {
  if (p["count"].get<std::uint64_t>() == 0) {
    std::printf("%-11s n/a (no 2xx responses)\n", name);
    return;
  }
  std::printf("%-11s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (n=%llu)\n", name,
              p["p50"].get<double>(), p["p90"].get<double>(), p["p99"].get<double>(),
              p["p999"].get<double>(), p["max"].get<double>(),
              static_cast<unsigned long long>(p["count"].get<std::uint64_t>()));
}

}  // namespace

nlohmann::json make_report(const Options& o, Recorder& r) {
  const std::uint64_t reference = o.closed_loop ? r.sent() : r.scheduled();
  const std::uint64_t finished = r.ok() + r.non_2xx() + r.errors();
  nlohmann::json j;
  j["label"] = o.label;
  j["url"] = o.url;
  j["mode"] = o.closed_loop ? "closed-loop" : "open-loop";
  j["stream"] = o.stream;
  j["target_rate"] = o.closed_loop ? 0.0 : o.rate;
  j["duration_s"] = o.duration_s;
  j["warmup_s"] = o.warmup_s;
  j["connections"] = o.connections;
  j["max_connections"] = o.max_connections;
  j["connections_opened"] = r.connections_opened();
  j["threads"] = o.threads;
  j["requests"] = {{"scheduled", o.closed_loop ? r.sent() : r.scheduled()},
                   {"sent", r.sent()},
                   {"completed", r.ok() + r.non_2xx()},
                   {"ok", r.ok()},
                   {"non_2xx", r.non_2xx()},
                   {"errors", r.errors()},
                   {"unfinished", reference > finished ? reference - finished : 0},
                   {"warmup", r.warmup()}};
  nlohmann::json statuses = nlohmann::json::object();
  for (const auto& [code, n] : r.status_counts()) statuses[std::to_string(code)] = n;
  j["status_counts"] = statuses;
  j["error_counts"] = r.error_counts();
  j["achieved_rps"] = std::round(static_cast<double>(r.completed_in_window()) / o.duration_s * 10) / 10;
  j["latency_ms"] = percentiles_json(r.latency_ns());
  if (o.stream) j["ttfc_ms"] = percentiles_json(r.first_body_ns());
  return j;
}

void print_text_report(const nlohmann::json& j) {
  const auto& q = j["requests"];
  std::printf("target      %s%s\n", j["url"].get<std::string>().c_str(), j["stream"].get<bool>() ? " (stream)" : "");
  if (j["mode"] == "open-loop")
    std::printf("mode        open loop, %.1f req/s scheduled for %.1f s (+%.1f s warmup)\n",
                j["target_rate"].get<double>(), j["duration_s"].get<double>(), j["warmup_s"].get<double>());
  else
    std::printf("mode        closed loop for %.1f s (+%.1f s warmup)\n", j["duration_s"].get<double>(),
                j["warmup_s"].get<double>());
  std::printf("connections %u (max %u, opened %llu), %u io thread(s)\n", j["connections"].get<unsigned>(),
              j["max_connections"].get<unsigned>(),
              static_cast<unsigned long long>(j["connections_opened"].get<std::uint64_t>()),
              j["threads"].get<unsigned>());
  auto n = [&](const char* k) { return static_cast<unsigned long long>(q[k].get<std::uint64_t>()); };
  std::printf("requests    scheduled %llu, sent %llu, completed %llu (2xx %llu, non-2xx %llu), errors %llu, "
              "unfinished %llu\n",
              n("scheduled"), n("sent"), n("completed"), n("ok"), n("non_2xx"), n("errors"), n("unfinished"));
  if (!j["error_counts"].empty()) std::printf("errors      %s\n", j["error_counts"].dump().c_str());
  if (n("non_2xx") > 0) std::printf("statuses    %s\n", j["status_counts"].dump().c_str());
  std::printf("throughput  %.1f req/s completed\n", j["achieved_rps"].get<double>());
  print_percentiles("latency", j["latency_ms"]);
  if (j.contains("ttfc_ms")) print_percentiles("first chunk", j["ttfc_ms"]);
  std::printf("(latency of 2xx responses, from the %s send time)\n",
              j["mode"] == "open-loop" ? "scheduled" : "actual");
}

}  // namespace cic::bench
