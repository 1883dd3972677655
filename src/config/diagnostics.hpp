#pragma once
#include <string>
#include <vector>

#include "cic/config/config.hpp"

namespace cic::config::detail {

/// Collects every issue of one parse so the operator sees all of them in one run, instead of
/// fixing one line, restarting, and discovering the next.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void add(std::string key, std::string reason);
  bool empty() const { return issues_.empty(); }
  const std::string& file() const { return file_; }
  /// Throws ConfigError when anything was reported.
  void throw_if_any();

 private:
  std::string file_;
  std::vector<ConfigIssue> issues_;
};

/// What every parser needs: where to report, and how to resolve `${VAR}`.
struct ReadContext {
  Diagnostics& diag;
  EnvLookup env;
};

/// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string join_path(const std::string& parent, const std::string& key);
/// "nodes" + 2 -> "nodes[2]".
std::string index_path(const std::string& parent, std::size_t index);
/// Quotes a value for a message, shortened so a pasted blob does not flood the log.
std::string quote(const std::string& value);

}  // namespace cic::config::detail
