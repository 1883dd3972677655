#include "env_expand.hpp"

#include <cctype>

namespace cic::config::detail {
namespace {

bool is_valid_name(std::string_view name) {
  if (name.empty()) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

std::variant<std::string, ExpandError> expand_env(std::string_view text, EnvLookup env) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 == text.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    const char next = text[i + 1];
    if (next == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (next != '{') {
      // A lone `$` (e.g. in a price or a regex) is common enough that rejecting it would annoy.
      out.push_back('$');
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return ExpandError{"unterminated \"${\" (write \"$$\" for a literal \"$\")"};
    }
    const std::string_view body = text.substr(i + 2, close - i - 2);
    const std::size_t sep = body.find(":-");
    const std::string_view name = sep == std::string_view::npos ? body : body.substr(0, sep);
    if (!is_valid_name(name)) {
      return ExpandError{"invalid environment variable reference \"${" + std::string(body) +
                         "}\": the name must match [A-Za-z_][A-Za-z0-9_]*"};
    }
    const std::string name_str(name);
    const std::optional<std::string> value = env ? env(name_str) : std::nullopt;
    if (sep == std::string_view::npos) {
      if (!value) {
        return ExpandError{"environment variable " + name_str + " is not set (referenced as ${" +
                           name_str + "}); set it, or give a default with ${" + name_str +
                           ":-default}"};
      }
      out += *value;
    } else if (value && !value->empty()) {
      out += *value;
    } else {
      out += body.substr(sep + 2);
    }
    i = close + 1;
  }
  return out;
}

}  // namespace cic::config::detail
