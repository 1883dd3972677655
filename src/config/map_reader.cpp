#include "map_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "env_expand.hpp"

namespace cic::config::detail {
namespace {

// Shows byte limits the way people think of them: 1073741824 -> "1073741824 (1 GiB)".
std::string with_binary_unit(std::int64_t value, std::string_view unit) {
  std::string text = std::to_string(value);
  if (unit != "bytes") return text;
  static constexpr std::pair<std::int64_t, const char*> kUnits[] = {
      {1LL << 30, "GiB"}, {1LL << 20, "MiB"}, {1LL << 10, "KiB"}};
  for (const auto& [size, name] : kUnits) {
    if (value >= size && value % size == 0) {
      return text + " (" + std::to_string(value / size) + " " + name + ")";
    }
  }
  return text;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

std::string describe_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "nothing";
  }
}

std::string line_suffix(const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) return "";
  return " (line " + std::to_string(node.Mark().line + 1) + ")";
}

MapReader::MapReader(const YAML::Node& node, std::string path, ReadContext& ctx)
    : node_(node), path_(std::move(path)), ctx_(ctx) {
  if (!node_.IsDefined() || node_.IsNull()) return;
  if (!node_.IsMap()) {
    ctx_.diag.add(path_.empty() ? "(root)" : path_,
                  "expected a mapping of keys, got " + describe_kind(node_) + line_suffix(node_));
    return;
  }
  is_map_ = true;
}

MapReader::~MapReader() { report_unknown_keys(); }

void MapReader::issue(std::string_view key, std::string reason) {
  if (is_map_ && !key.empty()) {
    const YAML::Node& self = node_;
    reason += line_suffix(self[std::string(key)]);
  }
  ctx_.diag.add(key.empty() ? path_ : path_of(key), std::move(reason));
}

YAML::Node MapReader::lookup(std::string_view key) {
  known_.emplace_back(key);
  if (!is_map_) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& self = node_;  // the const overload never inserts the key
  return self[std::string(key)];
}

bool MapReader::read_scalar(std::string_view key, std::string& out) {
  const YAML::Node value = lookup(key);
  if (!value.IsDefined() || value.IsNull()) return false;
  if (!value.IsScalar()) {
    issue(key, "expected a single value, got " + describe_kind(value));
    return false;
  }
  auto expanded = expand_env(value.Scalar(), ctx_.env);
  if (auto* error = std::get_if<ExpandError>(&expanded)) {
    issue(key, error->message);
    return false;
  }
  out = std::move(std::get<std::string>(expanded));
  return true;
}

// Never quotes the value: secrets (key_hash_secret, dsn) are read through here.
void MapReader::read_string(std::string_view key, std::string& out) {
  read_scalar(key, out);
}

void MapReader::read_bool(std::string_view key, bool& out) {
  std::string text;
  if (!read_scalar(key, text)) return;
  const std::string word = lower(text);
  if (word == "true" || word == "yes" || word == "on") {
    out = true;
  } else if (word == "false" || word == "no" || word == "off") {
    out = false;
  } else {
    issue(key, "expected true or false, got " + quote(text));
  }
}

bool MapReader::read_int64(std::string_view key, std::int64_t& out, std::int64_t min,
                           std::int64_t max, std::string_view unit) {
  std::string text;
  if (!read_scalar(key, text)) return false;
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) {
    const char* what = min >= 1 ? "a positive integer" : min == 0 ? "a non-negative integer"
                                                                  : "an integer";
    issue(key, std::string("expected ") + what + ", got " + quote(text));
    return false;
  }
  if (value < min || value > max) {
    std::string range = "must be between " + with_binary_unit(min, unit) + " and " +
                        with_binary_unit(max, unit);
    if (!unit.empty()) range += " " + std::string(unit);
    issue(key, range + ", got " + std::to_string(value));
    return false;
  }
  out = value;
  return true;
}

void MapReader::read_ms(std::string_view key, std::chrono::milliseconds& out, std::int64_t min_ms,
                        std::int64_t max_ms) {
  std::int64_t value = 0;
  if (read_int64(key, value, min_ms, max_ms, "ms")) out = std::chrono::milliseconds(value);
}

void MapReader::read_double(std::string_view key, double& out, double min, double max) {
  std::string text;
  if (!read_scalar(key, text)) return;
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(value)) {
    issue(key, "expected a number, got " + quote(text));
    return;
  }
  if (value < min || value > max) {
    issue(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                   ", got " + text);
    return;
  }
  out = value;
}

void MapReader::read_string_list(std::string_view key, std::vector<std::string>& out) {
  const YAML::Node list = lookup(key);
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    issue(key, "expected a list of strings, got " + describe_kind(list));
    return;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    const std::string item_path = index_path(path_of(key), i);
    if (!item.IsScalar()) {
      ctx_.diag.add(item_path, "expected a string, got " + describe_kind(item) + line_suffix(item));
      ok = false;
      continue;
    }
    auto expanded = expand_env(item.Scalar(), ctx_.env);
    if (auto* error = std::get_if<ExpandError>(&expanded)) {
      ctx_.diag.add(item_path, error->message + line_suffix(item));
      ok = false;
      continue;
    }
    values.push_back(std::move(std::get<std::string>(expanded)));
  }
  if (ok) out = std::move(values);
}

MapReader MapReader::child(std::string_view key) {
  return MapReader(lookup(key), path_of(key), ctx_);
}

void MapReader::each(std::string_view key,
                     const std::function<void(MapReader& item, std::size_t)>& fn) {
  const YAML::Node list = lookup(key);
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    issue(key, "expected a list, got " + describe_kind(list));
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = index_path(path_of(key), i);
    const YAML::Node item = list[i];
    if (!item.IsMap()) {
      ctx_.diag.add(item_path, "expected a mapping, got " + describe_kind(item) + line_suffix(item));
    }
    MapReader reader(item.IsMap() ? item : YAML::Node(YAML::NodeType::Undefined), item_path, ctx_);
    fn(reader, i);
  }
}

void MapReader::report_unknown_keys() {
  if (!is_map_) return;
  std::string allowed;
  for (const auto& k : known_) allowed += allowed.empty() ? k : ", " + k;
  std::set<std::string> seen;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) {
      ctx_.diag.add(path_, "keys must be plain names, got " + describe_kind(entry.first) +
                               line_suffix(entry.first));
      continue;
    }
    const std::string& key = entry.first.Scalar();
    // yaml-cpp keeps both copies of a repeated key and lookups see only the first one.
    if (!seen.insert(key).second) {
      ctx_.diag.add(path_of(key), "duplicate key" + line_suffix(entry.first));
      continue;
    }
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
      ctx_.diag.add(path_of(key), "unknown key; allowed keys here: " + allowed +
                                      line_suffix(entry.first));
    }
  }
}

}  // namespace cic::config::detail
