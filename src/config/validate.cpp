#include <unistd.h>

#include <map>
#include <set>

#include "sections.hpp"

namespace cic::config::detail {
namespace {

// Reports the second and later occurrences of an id, pointing back at the first.
template <class T, class Key>
void check_unique(const std::vector<T>& items, Key key, const std::string& list,
                  const std::string& field, Diagnostics& diag) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& id = items[i].*key;
    if (id.empty()) continue;
    auto [it, inserted] = first.emplace(id, i);
    if (!inserted) {
      diag.add(index_path(list, i) + "." + field,
               "duplicate " + field + " \"" + id + "\" (already used by " +
                   index_path(list, it->second) + ")");
    }
  }
}

std::string names_of(const std::vector<RegionConfig>& regions) {
  std::string names;
  for (const auto& r : regions) names += names.empty() ? r.name : ", " + r.name;
  return names.empty() ? "none configured" : names;
}

void check_model_refs(const Config& config, const std::vector<std::string>& models,
                      const std::string& path, Diagnostics& diag) {
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (!config.find_model(models[i])) {
      diag.add(index_path(path, i),
               "unknown model \"" + models[i] + "\": not in the models catalog");
    }
  }
}

// A non-empty `region` that names no configured region is reported at `path`.
void check_region_ref(const Config& config, const std::string& region, const std::string& path, Diagnostics& diag) {
  if (!region.empty() && !config.find_region(region)) {
    diag.add(path, "unknown region \"" + region + "\" (configured regions: " + names_of(config.regions) + ")");
  }
}

void check_region_refs(const Config& config, Diagnostics& diag) {
  for (std::size_t i = 0; i < config.regions.size(); ++i) {
    const RegionConfig& region = config.regions[i];
    const std::string path = index_path("regions", i) + ".fallback";
    std::set<std::string> seen;
    for (std::size_t j = 0; j < region.fallback.size(); ++j) {
      const std::string& other = region.fallback[j];
      if (other == region.name) {
        diag.add(index_path(path, j), "a region cannot fall back to itself");
      } else if (!config.find_region(other)) {
        diag.add(index_path(path, j), "unknown region \"" + other + "\" (configured regions: " +
                                          names_of(config.regions) + ")");
      } else if (!seen.insert(other).second) {
        diag.add(index_path(path, j), "region \"" + other + "\" is listed twice");
      }
    }
  }
}

void check_nodes(const Config& config, Diagnostics& diag) {
  for (std::size_t i = 0; i < config.nodes.size(); ++i) {
    const NodeConfig& node = config.nodes[i];
    const std::string path = index_path("nodes", i);
    check_region_ref(config, node.region, path + ".region", diag);
    check_model_refs(config, node.models, path + ".models", diag);
  }
}

// A regional price for a region that is not configured would never apply: a typo, refused.
void check_regional_prices(const Config& config, Diagnostics& diag) {
  for (std::size_t i = 0; i < config.models.size(); ++i) {
    const auto& prices = config.models[i].regional_prices;
    for (std::size_t j = 0; j < prices.size(); ++j) {
      check_region_ref(config, prices[j].region, index_path(index_path("models", i) + ".regional_prices", j) + ".region",
                       diag);
    }
  }
}

void check_routing_rules(const Config& config, Diagnostics& diag) {
  for (std::size_t i = 0; i < config.routing.rules.size(); ++i) {
    const RoutingRule& rule = config.routing.rules[i];
    const std::string path = index_path("routing.rules", i);
    check_region_ref(config, rule.region, path + ".region", diag);
    if (!rule.model.empty() && !config.find_model(rule.model)) {
      diag.add(path + ".model", "unknown model \"" + rule.model + "\" (not in the models catalog)");
    }
  }
}

void check_bootstrap(const Config& config, Diagnostics& diag) {
  const BootstrapConfig& bootstrap = config.bootstrap;
  if (!bootstrap.enabled) return;
  if (!config.find_region(bootstrap.region)) {
    diag.add("bootstrap.region", "unknown region \"" + bootstrap.region +
                                     "\" (configured regions: " + names_of(config.regions) + ")");
  }
  check_model_refs(config, bootstrap.models, "bootstrap.models", diag);
  if (!bootstrap.plan.empty() && !config.find_plan(bootstrap.plan)) {
    std::string names;
    for (const auto& plan : config.plans) names += names.empty() ? plan.name : ", " + plan.name;
    diag.add("bootstrap.plan", "unknown plan \"" + bootstrap.plan + "\" (configured plans: " + names + ")");
  }
}

}  // namespace

void check_tls(const TlsConfig& tls, const std::string& path, Diagnostics& diag) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    const char* missing = tls.cert_file.empty() ? "cert_file" : "key_file";
    diag.add(path + "." + missing,
             "TLS needs both cert_file and key_file (or neither, for plain HTTP)");
    return;
  }
  // Checked at startup so a typo fails --check-config instead of the first handshake.
  for (const auto& [key, file] : {std::pair{"cert_file", &tls.cert_file},
                                  std::pair{"key_file", &tls.key_file}}) {
    if (!file->empty() && ::access(file->c_str(), R_OK) != 0) {
      diag.add(path + "." + key, "file \"" + *file + "\" does not exist or is not readable");
    }
  }
}

void validate_references(const Config& config, Diagnostics& diag) {
  check_unique(config.regions, &RegionConfig::name, "regions", "name", diag);
  check_unique(config.models, &ModelConfig::id, "models", "id", diag);
  check_unique(config.nodes, &NodeConfig::id, "nodes", "id", diag);
  check_unique(config.plans, &PlanConfig::name, "plans", "name", diag);
  check_region_refs(config, diag);
  check_nodes(config, diag);
  check_regional_prices(config, diag);
  check_routing_rules(config, diag);
  check_bootstrap(config, diag);

  const ListenAddress& api = config.server.listen;
  const ListenAddress& admin = config.admin.listen;
  if (api.port != 0 && api.port == admin.port && api.host == admin.host) {
    diag.add("admin.listen", "same address as server.listen (" + api.host + ":" +
                                 std::to_string(api.port) + "); give the admin listener its own port");
  }
}

}  // namespace cic::config::detail
