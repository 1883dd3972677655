// GET /admin/v1/usage: hourly or daily usage by org, environment, model and region, at list
// price, as JSON or CSV. The operator sees every org; an org admin key its own org only (another
// org answers 404 as everywhere). JSON is paginated (limit, after); CSV is the whole range.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <tuple>

#include "cic/billing/invoice_usage.hpp"
#include "cic/billing/price_book.hpp"
#include "cic/common/ids.hpp"
#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

constexpr std::int64_t kMaxRangeMs = 366LL * 86'400'000;  // bounds the work of one call
constexpr std::size_t kMaxModelBytes = 256;
constexpr std::size_t kDefaultPageRows = 1000;
constexpr std::size_t kMaxPageRows = 10'000;
constexpr std::size_t kMaxCursorBytes = 2048;
constexpr const char* kCsvHeader =
    "org,environment,model,region,period_start,requests,prompt_tokens,completion_tokens,cached_tokens,cost_usd\r\n";

ApiError invalid(const char* param, std::string message, const char* code = "invalid_value") {
  return ApiError::invalid_request(param, std::move(message), code);
}

std::optional<std::int64_t> read_seconds(const Call& call, const char* name) {
  const std::string text = call.query_value(name);
  if (text.empty()) return std::nullopt;
  std::int64_t s = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
  if (ec != std::errc{} || ptr != text.data() + text.size() || s < 0 || s > 100'000'000'000LL) {
    fail(invalid(name, std::string("'") + name + "' must be a Unix time in seconds."));
  }
  return s * 1000;
}

bool wants_csv(const Call& call) {
  const std::string format = call.query_value("format");
  if (format == "csv") return true;
  if (!format.empty() && format != "json") fail(invalid("format", "'format' must be json or csv."));
  // Without ?format=, an Accept header that names text/csv picks CSV (a browser's */* does not).
  return format.empty() && call.http.accept.find("text/csv") != std::string::npos;
}

/// The filter of the call, with visibility applied: an org admin reads its own org only.
billing::UsageFilter read_filter(Context& ctx, const Call& call) {
  for (const auto& [key, value] : call.query) {
    static const char* kKnown[] = {"org", "environment", "model", "from", "to", "granularity", "format", "limit", "after"};
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      fail(ApiError::invalid_request(key, "Unknown query parameter '" + key + "'.", "unknown_parameter"));
    }
  }
  billing::UsageFilter f;
  const std::string org = call.query_value("org");
  if (!call.actor.is_operator) {
    f.org_id = org.empty() ? call.actor.org_id : visible_org(ctx, call, org).id;
  } else if (!org.empty()) {
    auto found = ctx.store().find_org(org);
    f.org_id = found ? found->id : org;  // a deleted org's id still selects its history
  }
  const std::string env = call.query_value("environment");
  if (!env.empty()) {
    if (f.org_id.empty()) {
      // Names repeat across orgs (every org has a "dev"): without an org only an id is clear.
      if (!env.starts_with("env_")) fail(invalid("environment", "'environment' needs 'org' unless it is an id (env_...)."));
      f.environment_id = env;
    } else if (auto found = ctx.store().find_environment(f.org_id, env)) {
      f.environment_id = found->id;
    } else if (call.actor.is_operator && env.starts_with("env_")) {
      f.environment_id = env;  // deleted environments keep their history
    } else {
      fail(ApiError::not_found("No environment '" + env + "'."));
    }
  }
  f.model = call.query_value("model");
  if (f.model.size() > kMaxModelBytes) fail(invalid("model", "'model' is too long."));

  const std::int64_t now = call.now_ms;
  f.from_ms = read_seconds(call, "from").value_or(billing::utc_month_start(now));
  f.to_ms = read_seconds(call, "to").value_or(now + 1);  // the hour in progress is included
  if (f.to_ms <= f.from_ms) fail(invalid("to", "'to' must be after 'from'."));
  if (f.to_ms - f.from_ms > kMaxRangeMs) fail(invalid("from", "At most 366 days can be read at once."));
  return f;
}

/// Micro-dollars as a plain decimal with six places ("0.001234"), exact, for CSV.
std::string usd_text(std::int64_t micros) {
  char buf[40];
  const char* sign = micros < 0 ? "-" : "";
  const std::uint64_t m = micros < 0 ? -static_cast<std::uint64_t>(micros) : static_cast<std::uint64_t>(micros);
  std::snprintf(buf, sizeof buf, "%s%llu.%06llu", sign, static_cast<unsigned long long>(m / 1'000'000),
                static_cast<unsigned long long>(m % 1'000'000));
  return buf;
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// A page's cursor names its last row by the row's sort key (period start, org, environment, model,
// region), hex-encoded: the next page starts after that key, so rows that reach the store between
// two calls neither shift nor repeat the rows already read.
using RowKey = std::tuple<std::int64_t, std::string, std::string, std::string, std::string>;

RowKey key_of(const billing::HourlyUsage& r) {
  return {r.hour_start_ms, r.org_id, r.environment_id, r.model, r.region};
}

std::string encode_cursor(const billing::HourlyUsage& r) {
  const std::string plain = std::to_string(r.hour_start_ms) + '\n' + r.org_id + '\n' + r.environment_id + '\n' +
                            r.model + '\n' + r.region;
  std::string out;
  append_hex(out, reinterpret_cast<const unsigned char*>(plain.data()), plain.size());
  return out;
}

std::optional<RowKey> decode_cursor(const std::string& text) {
  if (text.empty() || text.size() % 2 != 0 || text.size() > kMaxCursorBytes) return std::nullopt;
  std::string plain;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
    if (ec != std::errc{} || ptr != text.data() + i + 2) return std::nullopt;
    plain += static_cast<char>(value);
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t end; (end = plain.find('\n', start)) != std::string::npos; start = end + 1) {
    parts.push_back(plain.substr(start, end - start));
  }
  parts.push_back(plain.substr(start));
  if (parts.size() != 5) return std::nullopt;
  std::int64_t hour = 0;
  auto [ptr, ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), hour);
  if (ec != std::errc{} || ptr != parts[0].data() + parts[0].size()) return std::nullopt;
  return RowKey{hour, parts[1], parts[2], parts[3], parts[4]};
}

std::int64_t row_cost(const billing::PriceBook& book, const billing::HourlyUsage& row) {
  auto prices = book.price(row.model, row.region);
  return prices ? billing::cost_micros(*prices, row.tokens) : 0;  // an unpriced model is free
}

}  // namespace

HttpReply usage_collection(Context& ctx, Call& call) {
  if (call.http.method != "GET") method_not_allowed(call);
  const billing::UsageFilter filter = read_filter(ctx, call);
  const std::string granularity = call.query_value("granularity");
  if (!granularity.empty() && granularity != "hour" && granularity != "day") {
    fail(invalid("granularity", "'granularity' must be hour or day."));
  }
  const bool csv = wants_csv(call);
  if (csv && (!call.query_value("limit").empty() || !call.query_value("after").empty())) {
    fail(invalid(call.query_value("limit").empty() ? "after" : "limit", "CSV is not paginated: it is the whole range."));
  }
  const store::Page page = call.page(kDefaultPageRows, kMaxPageRows);  // JSON only (see above)
  std::optional<RowKey> after;
  if (!page.after.empty()) {
    after = decode_cursor(page.after);
    if (!after) fail(invalid("after", "'after' must be a previous page's next_after."));
  }

  auto rows = billing::make_store_usage_source(ctx.store())->hourly(filter);
  if (granularity == "day") rows = billing::group_by_day(rows);
  const billing::PriceBook book(ctx.config().models);

  if (csv) {
    std::string out = kCsvHeader;
    for (const auto& r : rows) {
      out += csv_field(r.org_id) + ',' + csv_field(r.environment_id) + ',' + csv_field(r.model) + ',' +
             csv_field(r.region) + ',' + std::to_string(r.hour_start_ms / 1000) + ',' + std::to_string(r.requests) +
             ',' + std::to_string(r.tokens.prompt) + ',' + std::to_string(r.tokens.completion) + ',' +
             std::to_string(r.tokens.cached) + ',' + usd_text(row_cost(book, r)) + "\r\n";
    }
    return HttpReply{200, std::move(out), "text/csv; charset=utf-8"};
  }
  // Rows come in key order; the page starts after the cursor's key.
  auto first = rows.begin();
  if (after) {
    first = std::upper_bound(rows.begin(), rows.end(), *after,
                             [](const RowKey& key, const billing::HourlyUsage& r) { return key < key_of(r); });
  }
  const std::size_t available = static_cast<std::size_t>(rows.end() - first);
  const bool has_more = available > page.limit;
  const auto last = first + static_cast<std::ptrdiff_t>(std::min(available, page.limit));
  json data = json::array();
  for (auto it = first; it != last; ++it) {
    const auto& r = *it;
    data.push_back(json{{"org", r.org_id},
                        {"environment", r.environment_id},
                        {"model", r.model},
                        {"region", r.region},
                        {"period_start", r.hour_start_ms / 1000},
                        {"requests", r.requests},
                        {"prompt_tokens", r.tokens.prompt},
                        {"completion_tokens", r.tokens.completion},
                        {"cached_tokens", r.tokens.cached},
                        {"cost_usd", usd(row_cost(book, r))}});
  }
  json next_after = has_more ? json(encode_cursor(*(last - 1))) : json(nullptr);
  return reply(200, json{{"object", "list"}, {"data", std::move(data)}, {"has_more", has_more}, {"next_after", next_after}});
}

}  // namespace cic::admin::detail
