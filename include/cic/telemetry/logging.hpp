#pragma once
#include <string>

namespace cic::telemetry {

/// Configures spdlog's default logger: `level` (trace..error) and `format` ("json": one JSON object
/// per line with ts, level, msg; "text": human-readable). Call once at start, before threads.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace cic::telemetry
