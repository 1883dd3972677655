#pragma once
#include <chrono>
#include <cstdint>

namespace cic::store {

/// Wall-clock Unix milliseconds, used only to default `created_at`/`updated_at`/`applied_at` when
/// the caller left them 0. Callers that need testable time pass the value in the record.
inline std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace cic::store
