#pragma once
#include "cic/auth/key_hasher.hpp"
#include "cic/config/config.hpp"
#include "cic/store/store.hpp"

namespace cic::app {

/// Copies the model catalog and the configured nodes into the store. BLOCKING (start-up only).
void blocking_sync_catalog(const config::Config& config, store::Store& store);

/// On first start, creates the demo org, environment and an API key, and writes the key to
/// `bootstrap.api_key_file` (mode 0600). On later starts, reuses what exists; the key file is
/// rewritten only when its key is missing from the store. Returns the key. BLOCKING.
std::string blocking_bootstrap(const config::Config& config, store::Store& store, const auth::KeyHasher& hasher);

}  // namespace cic::app
