#pragma once
#include <string>
#include <string_view>

#include "usage.hpp"

namespace cic::gateway {

/// Sits between a node's SSE stream and the client. The gateway always asks the node for usage on
/// every chunk; this filter records the latest usage for the meter and removes what the client did
/// not ask for: the per-chunk `usage` (unless continuous_usage_stats) and the final usage-only
/// chunk (unless include_usage). Events are forwarded whole, in order, as soon as they are complete.
class SseFilter {
 public:
  SseFilter(bool client_include_usage, bool client_continuous_usage);

  /// Feeds raw bytes from the node; appends complete, filtered events to `out`.
  void feed(std::string_view bytes, std::string& out);

  const TokenUsage& usage() const { return usage_; }
  bool saw_done() const { return saw_done_; }
  bool saw_error() const { return saw_error_; }
  /// Number of events with generated content (choices) forwarded.
  std::size_t content_events() const { return content_events_; }

 private:
  void handle_event(std::string_view event, std::string& out);
  void handle_data(std::string_view data, std::string_view raw_event, std::string_view other_lines, std::string& out);

  bool include_usage_;
  bool continuous_usage_;
  std::string pending_;
  TokenUsage usage_;
  bool saw_done_ = false;
  bool saw_error_ = false;
  std::size_t content_events_ = 0;
};

}  // namespace cic::gateway
