#include "cic/config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "diagnostics.hpp"
#include "map_reader.hpp"
#include "sections.hpp"

namespace cic::config {
namespace {

std::string join_issues(const std::vector<ConfigIssue>& issues) {
  std::string text;
  for (const auto& issue : issues) {
    if (!text.empty()) text += '\n';
    text += issue.to_string();
  }
  return text;
}

}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues)
    : std::runtime_error(join_issues(issues)), issues_(std::move(issues)) {}

std::optional<std::string> real_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

const ModelConfig* Config::find_model(const std::string& id) const {
  for (const auto& model : models) {
    if (model.id == id) return &model;
  }
  return nullptr;
}

const RegionConfig* Config::find_region(const std::string& name) const {
  for (const auto& region : regions) {
    if (region.name == name) return &region;
  }
  return nullptr;
}

const PlanConfig* Config::find_plan(const std::string& name) const {
  for (const auto& plan : plans) {
    if (plan.name == name) return &plan;
  }
  return nullptr;
}

const char* to_string(ModelConfig::Kind kind) {
  switch (kind) {
    case ModelConfig::Kind::kChat: return "chat";
    case ModelConfig::Kind::kCompletion: return "completion";
    case ModelConfig::Kind::kEmbedding: return "embedding";
  }
  return "unknown";
}

Config parse_config(const std::string& yaml_text, const std::string& file_name, EnvLookup env) {
  detail::Diagnostics diag(file_name);
  YAML::Node document;
  try {
    document = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp counts from 0; editors count from 1.
    diag.add("line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1),
             "YAML syntax error: " + e.msg);
    diag.throw_if_any();
  }

  Config config;
  config.source_file = file_name;
  detail::ReadContext ctx{diag, env};
  {
    // The root reader reports unknown top-level sections when it goes out of scope.
    detail::MapReader root(document, "", ctx);
    detail::parse_server(root, config.server);
    detail::parse_admin(root, config.admin);
    detail::parse_store(root, config.store);
    detail::parse_auth(root, config.auth);
    detail::parse_upstream(root, config.upstream);
    detail::parse_regions(root, config.regions);
    detail::parse_models(root, config.models);
    detail::parse_nodes(root, config.nodes);
    detail::parse_plans(root, config.plans);
    detail::parse_limits(root, config.limits);
    detail::parse_routing(root, config.routing);
    detail::parse_health(root, config.health);
    detail::parse_registry(root, config.registry);
    detail::parse_billing(root, config.billing, config.store);
    detail::parse_bootstrap(root, config.bootstrap);
    detail::parse_logging(root, config.logging);
    detail::parse_stripe(root, config.stripe);
    detail::parse_alerts(root, config.alerts);
  }
  detail::validate_references(config, diag);
  diag.throw_if_any();
  return config;
}

Config load_config(const std::string& path, EnvLookup env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    throw ConfigError({ConfigIssue{path, "(file)",
                                   std::string("cannot read the config file: ") +
                                       (error != 0 ? std::strerror(error) : "open failed")}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw ConfigError({ConfigIssue{path, "(file)", "error while reading the config file"}});
  }
  return parse_config(text.str(), path, env);
}

}  // namespace cic::config
