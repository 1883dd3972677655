#pragma once
#include <string>

#include "options.hpp"
#include "recorder.hpp"
#include "target.hpp"

namespace cic::bench {

/// This worker's slice of the load: its index among `count` workers.
struct WorkerShare {
  unsigned index = 0;
  unsigned count = 1;
};

/// Runs one worker to completion on the calling thread (its own io_context, no locks) and returns
/// what it recorded. `address` is the resolved numeric IP of the target host.
/// Throws on a bug; network failures are recorded, not thrown.
Recorder run_worker(const Options& options, const Target& target, const std::string& address, WorkerShare share);

}  // namespace cic::bench
