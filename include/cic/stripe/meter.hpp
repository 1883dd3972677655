#pragma once
// Stripe meter events (POST /v1/billing/meter_events): the event, its deterministic identifier and
// its form encoding. Pure; thread-safe.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cic::stripe {

inline constexpr std::int64_t kHourMs = 3'600'000;
/// Stripe's limit on `identifier` and `event_name`.
inline constexpr std::size_t kMaxIdentifierChars = 100;

/// One meter event: `value` units of `event_name` for `customer_id` at `timestamp_s`.
struct MeterEvent {
  std::string event_name;
  std::string customer_id;
  std::int64_t value = 0;
  std::string identifier;  // Stripe's dedupe key (and our Idempotency-Key)
  std::int64_t timestamp_s = 0;
};

/// The identifier of report `seq` (1, 2, ...) of an org's usage in the hour starting at
/// `hour_start_ms`: "cic-<org>-<meter>-<hour start, unix s>", with "-<seq>" appended from seq 2 on.
/// The same inputs always give the same identifier, so a retry can never count twice: Stripe
/// refuses a second event with an identifier it has seen. When the result would exceed 100
/// characters, the meter name is replaced by the first 16 hex digits of its SHA-256.
std::string meter_identifier(std::string_view org_id, std::string_view meter, std::int64_t hour_start_ms,
                             std::int64_t seq = 1);

/// application/x-www-form-urlencoded: key=value pairs joined by '&', every byte but
/// [A-Za-z0-9-._~] percent-encoded (so "payload[value]" becomes "payload%5Bvalue%5D").
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

/// The form body of a meter event: event_name, payload[stripe_customer_id], payload[value],
/// identifier, timestamp.
std::string meter_event_form(const MeterEvent& event);

/// Start of the UTC hour containing `ms` (unix ms; floor, also before 1970).
std::int64_t hour_floor(std::int64_t ms);

}  // namespace cic::stripe
