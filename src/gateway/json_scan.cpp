#include "json_scan.hpp"

#include <string>

namespace cic::gateway {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::size_t skip_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// One past the closing quote of the string starting at s[i] == '"', or npos.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// One past the end of the value starting at s[i], or npos.
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        if (i == std::string_view::npos) return i;
        --i;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
    }
    return std::string_view::npos;
  }
  // number, true, false, null
  std::size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
  return i == start ? std::string_view::npos : i;
}

}  // namespace

TopLevelMembers scan_top_level(std::string_view s) {
  TopLevelMembers out;
  std::size_t i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '{') return out;
  i = skip_space(s, i + 1);
  if (i < s.size() && s[i] == '}') {
    out.valid = skip_space(s, i + 1) == s.size();
    return out;
  }
  for (;;) {
    if (i >= s.size() || s[i] != '"') return out;
    std::size_t key_begin = i;
    std::size_t key_end = skip_string(s, i);
    if (key_end == std::string_view::npos) return out;
    std::string_view key = s.substr(key_begin + 1, key_end - key_begin - 2);
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':') return out;
    std::size_t value_begin = skip_space(s, i + 1);
    std::size_t value_end = skip_value(s, value_begin);
    if (value_end == std::string_view::npos) return out;
    MemberSpan span{key_begin, value_begin, value_end};
    if (key == "usage") out.usage = span;
    else if (key == "choices") out.choices = span;
    else if (key == "error") out.error = span;
    i = skip_space(s, value_end);
    if (i < s.size() && s[i] == ',') {
      i = skip_space(s, i + 1);
      continue;
    }
    if (i < s.size() && s[i] == '}') {
      out.valid = skip_space(s, i + 1) == s.size();
      return out;
    }
    return out;
  }
}

std::string remove_member(std::string_view s, const MemberSpan& span) {
  // Prefer removing the comma before the member; the first member takes the comma after it.
  std::size_t begin = span.key_begin;
  std::size_t end = span.value_end;
  std::size_t before = begin;
  while (before > 0 && is_space(s[before - 1])) --before;
  if (before > 0 && s[before - 1] == ',') {
    begin = before - 1;
  } else {
    std::size_t after = skip_space(s, end);
    if (after < s.size() && s[after] == ',') end = skip_space(s, after + 1);
  }
  std::string out;
  out.reserve(s.size() - (end - begin));
  out.append(s.substr(0, begin)).append(s.substr(end));
  return out;
}

}  // namespace cic::gateway
