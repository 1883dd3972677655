#include "cic/admin/admin_api.hpp"

#include <spdlog/spdlog.h>

#include <cctype>

#include "cic/auth/api_key.hpp"
#include "cic/common/percent_decode.hpp"
#include "handlers.hpp"

namespace cic::admin {
namespace detail {
namespace {

// Lenient on purpose: a malformed escape is kept as decoded so far and then fails to match.
std::string decode(std::string_view in) {
  std::string out;
  percent_decode(in, out, /*plus_is_space=*/true);
  return out;
}

void split_target(const std::string& target, std::vector<std::string>& segments,
                  std::map<std::string, std::string>& query) {
  std::string_view path = target;
  std::string_view q;
  if (auto mark = path.find('?'); mark != std::string_view::npos) {
    q = path.substr(mark + 1);
    path = path.substr(0, mark);
  }
  path.remove_prefix(std::string_view("/admin/v1").size());
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    segments.push_back(decode(path.substr(0, slash)));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    query[decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
}

ApiError unauthorized(std::string message) {
  return {401, "invalid_request_error", "invalid_admin_credential", "", std::move(message)};
}

}  // namespace

[[noreturn]] void method_not_allowed(const Call& call) { fail(ApiError::method_not_allowed(call.http.method)); }

/// The operator token (kept only as its HMAC) or an org admin key.
class Authenticator {
 public:
  Authenticator(AdminDeps& deps) : deps_(deps) {
    if (!deps.config.admin.operator_token.empty()) operator_hash_ = deps.hasher.hash(deps.config.admin.operator_token);
  }

  Actor authenticate(const std::string& header) const {
    if (header.empty()) fail(unauthorized("An admin credential is required: 'Authorization: Bearer <token>'."));
    std::string scheme = header.substr(0, 7);
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (header.size() < 8 || scheme != "bearer ") fail(unauthorized("The Authorization header must be 'Bearer <token>'."));
    std::string token = header.substr(7);
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    while (!token.empty() && token.back() == ' ') token.pop_back();
    std::string hash = deps_.hasher.hash(token);
    Actor actor;
    if (token.starts_with("cicn_")) {
      // A node agent's registration token: checked against the node table by the node handlers
      // (unknown tokens get 401 there), and good for nothing else.
      actor.node_token_hash = hash;
      return actor;
    }
    if (token.starts_with("sk_admin_")) {
      if (!auth::has_valid_api_key_shape(token)) fail(unauthorized("Invalid admin credential."));
      auto key = deps_.store.find_admin_key_by_hash(hash);
      if (!key || key->revoked_at || !auth::constant_time_equal(key->hash, hash)) fail(unauthorized("Invalid admin credential."));
      if (!deps_.store.find_org(key->org_id)) fail(unauthorized("Invalid admin credential."));
      actor.org_id = key->org_id;
      actor.admin_key_id = key->id;
      return actor;
    }
    if (operator_hash_.empty() || !auth::constant_time_equal(operator_hash_, hash)) {
      fail(unauthorized("Invalid admin credential."));
    }
    actor.is_operator = true;
    return actor;
  }

 private:
  AdminDeps& deps_;
  std::string operator_hash_;
};

HttpReply route(Context& ctx, Call& call) {
  const auto& s = call.segments;
  if (s.empty()) fail(ApiError::not_found("Unknown admin path."));
  if (s[0] == "nodes") return nodes_route(ctx, call);
  if (call.actor.is_node()) fail(ApiError::permission_denied("A node token may only register and send heartbeats.", "node_token_scope"));
  if (s[0] == "models" && s.size() == 1) return models_collection(ctx, call);
  if (s[0] == "audit" && s.size() == 1) return audit_collection(ctx, call);
  if (s[0] == "usage" && s.size() == 1) return usage_collection(ctx, call);
  if (s[0] != "orgs") fail(ApiError::not_found("Unknown admin path."));
  if (s.size() == 1) return orgs_collection(ctx, call);
  if (s.size() == 2) return org_item(ctx, call, s[1]);
  store::Org org = visible_org(ctx, call, s[1]);
  if (s[2] == "credits" && s.size() == 3) return credits_collection(ctx, call, org);
  if (s[2] == "invoice-preview" && s.size() == 3) return invoice_preview(ctx, call, org);
  if (s[2] == "invoices" && s.size() == 3) return invoices_collection(ctx, call, org);
  if (s[2] == "admin-keys") {
    if (s.size() == 3) return admin_keys_collection(ctx, call, org);
    if (s.size() == 4) return admin_key_item(ctx, call, org, s[3]);
  }
  if (s[2] == "stripe" && s.size() == 3) return org_stripe(ctx, call, org);
  if (s[2] != "environments") fail(ApiError::not_found("Unknown admin path."));
  if (s.size() == 3) return environments_collection(ctx, call, org);
  if (s.size() == 4) return environment_item(ctx, call, org, s[3]);
  store::Environment env = visible_environment(ctx, org, s[3]);
  if (s[4] != "keys") fail(ApiError::not_found("Unknown admin path."));
  if (s.size() == 5) return keys_collection(ctx, call, org, env);
  if (s.size() == 6) return key_item(ctx, call, org, env, s[5]);
  if (s.size() == 7 && s[6] == "rotate") return key_rotate(ctx, call, org, env, s[5]);
  fail(ApiError::not_found("Unknown admin path."));
}

}  // namespace detail

struct AdminApi::Impl {
  explicit Impl(AdminDeps d) : deps(std::move(d)), authenticator(deps), context{deps} {}
  AdminDeps deps;
  detail::Authenticator authenticator;
  detail::Context context;
};

AdminApi::AdminApi(AdminDeps deps) : impl_(std::make_unique<Impl>(std::move(deps))) {}

AdminApi::~AdminApi() = default;

HttpReply AdminApi::handle(const HttpCall& http) {
  using namespace detail;
  Call call(http, impl_->deps.clock.unix_millis());
  try {
    if (impl_->deps.config.admin.operator_token.empty()) {
      fail(ApiError{404, "invalid_request_error", "admin_api_disabled", "",
                    "The admin API is disabled: set admin.operator_token in the configuration."});
    }
    split_target(http.target, call.segments, call.query);
    call.actor = impl_->authenticator.authenticate(http.authorization);
    return route(impl_->context, call);
  } catch (const AdminFailure& failure) {
    return HttpReply{failure.error.status, failure.error.to_json()};
  } catch (const store::StoreError& e) {
    spdlog::error("admin {} {} ({}): store error: {}", http.method, http.target.substr(0, http.target.find('?')),
                  http.request_id, e.what());
    ApiError error{503, "server_error", "store_unavailable", "", "The store is unavailable; the change was not made."};
    error.retry_after_s = 1;
    return HttpReply{503, error.to_json()};
  } catch (const std::exception& e) {
    spdlog::error("admin {} ({}): {}", http.method, http.request_id, e.what());
    return HttpReply{500, ApiError::internal("Internal error; request id " + http.request_id).to_json()};
  }
}

}  // namespace cic::admin
