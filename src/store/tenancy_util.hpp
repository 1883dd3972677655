#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cic/store/records.hpp"

namespace cic::store {

/// Largest page a list call returns, whatever the caller asks for.
inline constexpr std::size_t kMaxPageLimit = 1000;

/// `page.limit` clamped to 1..kMaxPageLimit.
inline std::size_t page_limit(const Page& page) {
  return std::clamp<std::size_t>(page.limit, 1, kMaxPageLimit);
}

/// Lists fetch `limit + 1` rows: the extra one only tells whether another page exists.
template <class T>
PageResult<T> to_page(std::vector<T> rows, std::size_t limit) {
  PageResult<T> out;
  out.has_more = rows.size() > limit;
  if (out.has_more) rows.resize(limit);
  out.items = std::move(rows);
  return out;
}

/// "aud_" + 12 hex digits of `now_ms` + 8 hex digits. Within one process ids strictly increase
/// (the low part counts up within a millisecond, and a clock that steps back keeps the last
/// millisecond), so ORDER BY id is insertion order; across processes they sort by millisecond.
std::string new_audit_id(std::int64_t now_ms);

/// A copy of `entry` with `id` and `at` filled when empty/0.
AuditEntry complete_audit(const AuditEntry& entry);

}  // namespace cic::store
