#pragma once
// Private to the admin module: what every handler gets, and the helpers they share.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cic/admin/admin_api.hpp"
#include "cic/common/api_error.hpp"

namespace cic::admin::detail {

using nlohmann::json;

/// Who is calling: the operator, or an admin key of one org.
struct Actor {
  bool is_operator = false;
  std::string org_id;        // for admin keys
  std::string admin_key_id;  // for admin keys
  std::string node_token_hash;  // for a node agent's registration token (cicn_...)
  bool is_node() const { return !node_token_hash.empty(); }
  std::string name() const {
    if (is_operator) return "operator";
    if (is_node()) return "node_agent";
    return "admin_key:" + admin_key_id;
  }
};

/// Thrown by handlers to answer with an error; AdminApi::handle turns it into the reply.
struct AdminFailure : std::runtime_error {
  explicit AdminFailure(ApiError e) : std::runtime_error(e.message), error(std::move(e)) {}
  ApiError error;
};
[[noreturn]] inline void fail(ApiError error) { throw AdminFailure(std::move(error)); }

/// One admin call being handled.
struct Call {
  Call(const HttpCall& request, std::int64_t now) : http(request), now_ms(now) {}

  const HttpCall& http;
  Actor actor;
  std::vector<std::string> segments;  // the path after /admin/v1/, percent-decoded
  std::map<std::string, std::string> query;
  std::int64_t now_ms = 0;

  /// The JSON object body; 400 when it is not one. An empty body is {}.
  const json& body();
  /// ?limit= (1..max_limit, default default_limit; 400 otherwise) and ?after=.
  store::Page page(std::size_t default_limit = 20, std::size_t max_limit = 100) const;
  std::string query_value(const std::string& key) const;

 private:
  std::optional<json> body_;
};

/// The handlers' shared state.
struct Context {
  AdminDeps& deps;
  const config::Config& config() const { return deps.config; }
  store::Store& store() const { return deps.store; }
};

// Lookups that answer 404 both for what does not exist and for what the actor may not see, so
// an org admin cannot probe other orgs.
store::Org visible_org(Context& ctx, const Call& call, const std::string& id_or_name);
store::Environment visible_environment(Context& ctx, const store::Org& org, const std::string& id_or_name);
void require_operator(const Call& call, const std::string& what);

/// An audit entry for this call (before/after are the resource views, secrets already absent).
store::AuditEntry audit_entry(const Call& call, std::string action, std::string target_type,
                              std::string target_id, std::string org_id, const json& before, const json& after);

HttpReply reply(int status, const json& body);
json list_body(json data, bool has_more);

// Body field readers: absent -> false/unchanged; wrong type or value -> 400 naming the field.
bool read_string(const json& body, const char* field, std::string& out);
bool read_nonnegative(const json& body, const char* field, std::int64_t& out);
bool read_usd_micros(const json& body, const char* field, std::int64_t& out);
void reject_unknown_fields(const json& body, std::initializer_list<const char*> allowed);

}  // namespace cic::admin::detail
