#include "tenancy_util.hpp"

#include <cstdio>
#include <mutex>
#include <random>

#include "store_util.hpp"

namespace cic::store {

std::string new_audit_id(std::int64_t now_ms) {
  static std::mutex mu;
  static std::mt19937 rng{std::random_device{}()};
  static std::int64_t last_ms = -1;
  static std::uint32_t last_low = 0;

  std::lock_guard lock(mu);
  if (now_ms > last_ms) {
    last_ms = now_ms;
    // Start in the lower half so a busy millisecond has room to count up without overflowing.
    last_low = static_cast<std::uint32_t>(rng()) & 0x7fffffffU;
  } else if (last_low == 0xffffffffU) {
    ++last_ms;
    last_low = 0;
  } else {
    ++last_low;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "aud_%012llx%08x",
                static_cast<unsigned long long>(last_ms) & 0xffffffffffffULL,
                static_cast<unsigned>(last_low));
  return buf;
}

AuditEntry complete_audit(const AuditEntry& entry) {
  AuditEntry out = entry;
  const std::int64_t now = now_unix_ms();
  if (out.id.empty()) out.id = new_audit_id(now);
  if (out.at == 0) out.at = now;
  return out;
}

}  // namespace cic::store
