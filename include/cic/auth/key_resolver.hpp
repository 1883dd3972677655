#pragma once
#include <memory>
#include <string>

#include "cic/auth/key_identity.hpp"
#include "cic/config/config.hpp"
#include "cic/store/store.hpp"

namespace cic::auth {

/// Loads a key's identity from the store by hash. BLOCKING: run it on the blocking pool.
/// Returns null for unknown or revoked keys (expiry is checked by the caller at use time, so a
/// cached identity stops working the moment it expires). Throws store::StoreError when the store
/// cannot answer.
/// `config` supplies the plans whose default limits apply where an environment sets none.
std::shared_ptr<const KeyIdentity> blocking_resolve_key(store::Store& store, const std::string& hash,
                                                        std::int64_t now_unix_ms, const config::Config& config);

}  // namespace cic::auth
