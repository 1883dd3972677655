#pragma once
#include <nlohmann/json.hpp>

#include "options.hpp"
#include "recorder.hpp"

namespace cic::bench {

/// The run's figures as JSON (times in ms with µs resolution); see docs/benchmarks.md.
nlohmann::json make_report(const Options& options, Recorder& merged);

/// The same figures for a human.
void print_text_report(const nlohmann::json& report);

}  // namespace cic::bench
