#include "context.hpp"

#include <charconv>
#include <cmath>

#include "cic/common/ids.hpp"

namespace cic::admin::detail {

const json& Call::body() {
  if (!body_) {
    if (http.body.empty()) {
      body_ = json::object();
    } else {
      json parsed = json::parse(http.body, nullptr, false);
      if (parsed.is_discarded()) fail(ApiError::invalid_json("the body is not valid JSON."));
      if (!parsed.is_object()) fail(ApiError::invalid_json("the body must be a JSON object."));
      body_ = std::move(parsed);
    }
  }
  return *body_;
}

std::string Call::query_value(const std::string& key) const {
  auto it = query.find(key);
  return it == query.end() ? std::string() : it->second;
}

store::Page Call::page(std::size_t default_limit, std::size_t max_limit) const {
  store::Page page;
  page.after = query_value("after");
  page.limit = default_limit;
  std::string limit = query_value("limit");
  if (!limit.empty()) {
    std::size_t value = 0;
    auto [ptr, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), value);
    if (ec != std::errc{} || ptr != limit.data() + limit.size() || value < 1 || value > max_limit) {
      fail(ApiError::invalid_request(
          "limit", "'limit' must be an integer from 1 to " + std::to_string(max_limit) + ".", "invalid_value"));
    }
    page.limit = value;
  }
  return page;
}

store::Org visible_org(Context& ctx, const Call& call, const std::string& id_or_name) {
  auto org = ctx.store().find_org(id_or_name);
  if (!org || (!call.actor.is_operator && org->id != call.actor.org_id)) {
    fail(ApiError::not_found("No organization '" + id_or_name + "'."));
  }
  return *org;
}

store::Environment visible_environment(Context& ctx, const store::Org& org, const std::string& id_or_name) {
  auto env = ctx.store().find_environment(org.id, id_or_name);
  if (!env) fail(ApiError::not_found("No environment '" + id_or_name + "' in organization '" + org.name + "'."));
  return *env;
}

void require_operator(const Call& call, const std::string& what) {
  if (!call.actor.is_operator) {
    fail(ApiError::permission_denied("Only the operator may " + what + ".", "operator_only"));
  }
}

store::AuditEntry audit_entry(const Call& call, std::string action, std::string target_type, std::string target_id,
                              std::string org_id, const json& before, const json& after) {
  store::AuditEntry entry;
  entry.at = call.now_ms;
  entry.actor = call.actor.name();
  entry.action = std::move(action);
  entry.target_type = std::move(target_type);
  entry.target_id = std::move(target_id);
  entry.org_id = std::move(org_id);
  entry.request_id = call.http.request_id;
  entry.before_json = before.dump();
  entry.after_json = after.dump();
  return entry;
}

HttpReply reply(int status, const json& body) {
  return HttpReply{status, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

json list_body(json data, bool has_more) {
  json next = nullptr;
  if (has_more && !data.empty()) next = data.back()["id"];
  return json{{"object", "list"}, {"data", std::move(data)}, {"has_more", has_more}, {"next_after", next}};
}

bool read_string(const json& body, const char* field, std::string& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_string()) {
    fail(ApiError::invalid_request(field, std::string("'") + field + "' must be a string.", "invalid_type"));
  }
  out = it->get<std::string>();
  return true;
}

bool read_nonnegative(const json& body, const char* field, std::int64_t& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_number_integer() || (it->is_number_integer() && !it->is_number_unsigned() && it->get<std::int64_t>() < 0)) {
    fail(ApiError::invalid_request(field, std::string("'") + field + "' must be a non-negative integer.", "invalid_value"));
  }
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX / 2)) {
    fail(ApiError::invalid_request(field, std::string("'") + field + "' is too large.", "invalid_value"));
  }
  out = it->get<std::int64_t>();
  return true;
}

bool read_usd_micros(const json& body, const char* field, std::int64_t& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 1e12) {
    fail(ApiError::invalid_request(field, std::string("'") + field + "' must be a non-negative amount in USD.", "invalid_value"));
  }
  // Money is kept in integer micro-dollars; the request's decimal is rounded once, here.
  out = std::llround(it->get<double>() * 1'000'000.0);
  return true;
}

void reject_unknown_fields(const json& body, std::initializer_list<const char*> allowed) {
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* name : allowed) known = known || key == name;
    if (!known) {
      fail(ApiError::invalid_request(key, "Unknown field '" + key + "'.", "unknown_field"));
    }
  }
}

}  // namespace cic::admin::detail
