#include "diagnostics.hpp"

namespace cic::config::detail {

void Diagnostics::add(std::string key, std::string reason) {
  issues_.push_back(ConfigIssue{file_, std::move(key), std::move(reason)});
}

void Diagnostics::throw_if_any() {
  if (!issues_.empty()) throw ConfigError(std::move(issues_));
}

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string quote(const std::string& value) {
  constexpr std::size_t kMax = 60;
  if (value.size() <= kMax) return "\"" + value + "\"";
  return "\"" + value.substr(0, kMax) + "...\"";
}

}  // namespace cic::config::detail
