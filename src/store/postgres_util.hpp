#pragma once
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "cic/store/records.hpp"
#include "tenancy_util.hpp"

namespace cic::store {

/// The channel every authentication-relevant change is announced on (see ChangeListener).
inline constexpr const char* kInvalidateChannel = "cic_invalidate";

inline std::optional<std::int64_t> optional_int64(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::int64_t>();
}

/// The channel every node mutation is announced on (payload: the node id), so other replicas
/// reload their node table. Separate from kInvalidateChannel: nodes never affect authentication.
inline constexpr const char* kNodesChannel = "cic_nodes";

/// Writes `audit` (when not null) inside `tx`, so it commits or rolls back with the change.
inline void pg_write_audit(pqxx::transaction_base& tx, const AuditEntry* audit) {
  if (audit == nullptr) return;
  const AuditEntry e = complete_audit(*audit);
  tx.exec_params("INSERT INTO audit_log (id, at, actor, action, target_type, target_id, org_id,"
                 " request_id, before_json, after_json)"
                 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                 e.id, e.at, e.actor, e.action, e.target_type, e.target_id, e.org_id, e.request_id,
                 e.before_json, e.after_json);
}

/// NOTIFY cic_invalidate inside `tx`: PostgreSQL delivers it on COMMIT and drops it on rollback.
/// The payload ("<kind>:<id>") is informational; listeners invalidate everything.
inline void pg_notify(pqxx::transaction_base& tx, const std::string& kind, const std::string& id) {
  tx.exec_params("SELECT pg_notify($1, $2)", std::string(kInvalidateChannel), kind + ":" + id);
}

/// NOTIFY cic_nodes inside `tx` (delivered on COMMIT, dropped on rollback).
inline void pg_notify_nodes(pqxx::transaction_base& tx, const std::string& node_id) {
  tx.exec_params("SELECT pg_notify($1, $2)", std::string(kNodesChannel), node_id);
}

}  // namespace cic::store
