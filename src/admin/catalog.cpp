// Read-only resources: the model catalog and the audit log.
#include <algorithm>
#include <charconv>

#include "handlers.hpp"
#include "views.hpp"

namespace cic::admin::detail {
namespace {

std::int64_t read_time_ms(const Call& call, const char* name) {
  std::string text = call.query_value(name);
  if (text.empty()) return 0;
  std::int64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc{} || ptr != text.data() + text.size() || seconds < 0 || seconds > 100'000'000'000LL) {
    fail(ApiError::invalid_request(name, std::string("'") + name + "' must be a Unix time in seconds.", "invalid_value"));
  }
  return seconds * 1000;
}

}  // namespace

HttpReply models_collection(Context& ctx, Call& call) {
  if (call.http.method != "GET") method_not_allowed(call);
  json data = json::array();
  for (const auto& model : ctx.config().models) {
    // Regions where some node (configured, added or registered) serves the model.
    std::vector<std::string> regions;
    auto consider = [&](const std::vector<std::string>& models, const std::string& region) {
      bool serves = std::find(models.begin(), models.end(), model.id) != models.end();
      if (serves && std::find(regions.begin(), regions.end(), region) == regions.end()) regions.push_back(region);
    };
    if (ctx.deps.nodes) {
      for (const auto& node : ctx.deps.nodes->list()) consider(node.spec.models, node.spec.region);
    } else {
      for (const auto& node : ctx.config().nodes) consider(node.models, node.region);
    }
    data.push_back(json{{"id", model.id},
                        {"object", "model"},
                        {"family", model.family},
                        {"kind", config::to_string(model.kind)},
                        {"context_length", model.context_length},
                        {"regions", regions}});
  }
  return reply(200, list_body(std::move(data), false));
}

HttpReply audit_collection(Context& ctx, Call& call) {
  if (call.http.method != "GET") method_not_allowed(call);
  store::AuditFilter filter;
  filter.actor = call.query_value("actor");
  filter.action = call.query_value("action");
  filter.from_ms = read_time_ms(call, "from");
  filter.to_ms = read_time_ms(call, "to");
  std::string org = call.query_value("org");
  if (!call.actor.is_operator) {
    // An org admin reads its own org's log only; naming another org is a 404 like everywhere.
    if (!org.empty()) visible_org(ctx, call, org);
    filter.org_id = call.actor.org_id;
  } else if (!org.empty()) {
    auto found = ctx.store().find_org(org);
    filter.org_id = found ? found->id : org;  // a deleted org's id still filters its history
  }
  auto page = ctx.store().list_audit(filter, call.page());
  json data = json::array();
  for (const auto& entry : page.items) data.push_back(audit_view(entry));
  return reply(200, list_body(std::move(data), page.has_more));
}

}  // namespace cic::admin::detail
