#pragma once
#include <optional>

#include "cic/config/config.hpp"
#include "cic/registry/node_table.hpp"
#include "cic/store/records.hpp"

namespace cic::admin {

/// The stored row of a node (what survives a restart: its spec, lifecycle state, source, token
/// hash and eviction deadline; health is never stored).
store::Node to_record(const registry::NodeInfo& node);
/// The table entry for a stored row; nullopt when the row's state or source is unknown.
std::optional<registry::NodeInfo> from_record(const store::Node& row);
/// A config file's node as the table takes it.
registry::NodeSpec spec_from_config(const config::NodeConfig& node);

}  // namespace cic::admin
