#pragma once
#include <span>
#include <string_view>

namespace cic::store {

/// One versioned schema change, embedded from migrations/<dialect>/NNNN_name.sql at build time.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;  // may hold several statements
};

/// Every migration of a dialect, in ascending version order (the generator sorts and rejects
/// duplicate versions).
std::span<const Migration> sqlite_migrations();
std::span<const Migration> postgres_migrations();

}  // namespace cic::store
