#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "diagnostics.hpp"

namespace cic::config::detail {

/// Reads one YAML mapping into struct members while tracking the dotted key path.
/// Every key asked for is remembered; on destruction the reader reports the keys nobody asked for
/// (typos such as `max_body_byte` must not silently fall back to a default) and duplicate keys.
/// A missing or null key leaves the member at its default; a wrong type or a value out of range is
/// reported and also leaves the default, so parsing continues and all problems surface at once.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, ReadContext& ctx);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;
  ~MapReader();

  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const { return join_path(path_, std::string(key)); }
  ReadContext& ctx() { return ctx_; }
  /// False when the node was absent, null, or not a mapping (the last one is already reported).
  bool is_map() const { return is_map_; }
  /// Reports `reason` under this mapping's `key`.
  void issue(std::string_view key, std::string reason);

  void read_string(std::string_view key, std::string& out);
  void read_bool(std::string_view key, bool& out);
  /// `unit` ("bytes", "ms", ...) makes range messages self-explanatory.
  bool read_int64(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max,
                  std::string_view unit);
  template <class T>
  void read_int(std::string_view key, T& out, std::int64_t min, std::int64_t max,
                std::string_view unit) {
    std::int64_t value = 0;
    if (read_int64(key, value, min, max, unit)) out = static_cast<T>(value);
  }
  /// `<name>_ms` keys: integer milliseconds.
  void read_ms(std::string_view key, std::chrono::milliseconds& out, std::int64_t min_ms,
               std::int64_t max_ms);
  void read_double(std::string_view key, double& out, double min, double max);
  void read_string_list(std::string_view key, std::vector<std::string>& out);

  template <class E>
  void read_enum(std::string_view key, E& out,
                 std::initializer_list<std::pair<std::string_view, E>> choices) {
    std::string text;
    if (!read_scalar(key, text)) return;
    std::string allowed;
    for (const auto& [name, value] : choices) {
      if (name == text) {
        out = value;
        return;
      }
      allowed += allowed.empty() ? std::string(name) : ", " + std::string(name);
    }
    issue(key, "expected one of " + allowed + ", got " + quote(text));
  }

  /// A nested mapping; absent or null yields a reader that reads nothing.
  MapReader child(std::string_view key);
  /// A sequence of mappings; `fn` runs for every item (also non-mappings, which are reported and
  /// read as defaults) so that item indexes stay aligned with the sequence.
  void each(std::string_view key, const std::function<void(MapReader& item, std::size_t)>& fn);

 private:
  /// Looks `key` up and records it as known; undefined node when absent.
  YAML::Node lookup(std::string_view key);
  /// The expanded text of a scalar value; false when absent, null, or reported.
  bool read_scalar(std::string_view key, std::string& out);
  void report_unknown_keys();

  YAML::Node node_;
  std::string path_;
  ReadContext& ctx_;
  bool is_map_ = false;
  std::vector<std::string> known_;
};

/// Describes a node's shape for "expected X, got a sequence" messages.
std::string describe_kind(const YAML::Node& node);
/// " (line N)" for nodes that came from a document, "" otherwise.
std::string line_suffix(const YAML::Node& node);

}  // namespace cic::config::detail
