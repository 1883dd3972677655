#pragma once
#include <string>
#include <vector>

#include "cic/config/config.hpp"
#include "map_reader.hpp"

namespace cic::config::detail {

// Section parsers: each reads `root.<section>` into its struct and reports shape and range
// problems local to that section. Checks that need several sections live in validate.cpp.
void parse_server(MapReader& root, ServerConfig& out);
void parse_admin(MapReader& root, AdminConfig& out);
void parse_store(MapReader& root, StoreConfig& out);
void parse_auth(MapReader& root, AuthConfig& out);
void parse_upstream(MapReader& root, UpstreamConfig& out);
void parse_bootstrap(MapReader& root, BootstrapConfig& out);
void parse_logging(MapReader& root, LoggingConfig& out);
// stripe.cpp
void parse_stripe(MapReader& root, StripeConfig& out);
void parse_alerts(MapReader& root, AlertsConfig& out);
void parse_limits(MapReader& root, LimitsConfig& out);
// routing.cpp
void parse_routing(MapReader& root, RoutingConfig& out);
void parse_health(MapReader& root, HealthConfig& out);
void parse_registry(MapReader& root, RegistryConfig& out);
// billing.cpp; `store` (already parsed) decides where the log goes by default.
void parse_billing(MapReader& root, BillingConfig& out, const StoreConfig& store);

// Catalog parsers (catalog.cpp): the lists of regions, models and nodes.
void parse_regions(MapReader& root, std::vector<RegionConfig>& out);
void parse_models(MapReader& root, std::vector<ModelConfig>& out);
void parse_nodes(MapReader& root, std::vector<NodeConfig>& out);
/// `plans`, or free/pro/enterprise with built-in limits when the section is absent.
void parse_plans(MapReader& root, std::vector<PlanConfig>& out);

/// Both TLS files or neither, and both readable now rather than at the first handshake.
void check_tls(const TlsConfig& tls, const std::string& path, Diagnostics& diag);
/// Whole-config checks: unique ids, references between regions, models, nodes and bootstrap,
/// listener clashes.
void validate_references(const Config& config, Diagnostics& diag);

}  // namespace cic::config::detail
