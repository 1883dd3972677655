#include "json_scan.hpp"

#include <charconv>
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

bool for_each_member(std::string_view s, void (*fn)(void*, std::string_view, std::string_view), void* context) {
  std::size_t i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  i = skip_space(s, i + 1);
  if (i < s.size() && s[i] == '}') return skip_space(s, i + 1) == s.size();
  for (;;) {
    if (i >= s.size() || s[i] != '"') return false;
    std::size_t key_begin = i;
    std::size_t key_end = skip_string(s, i);
    if (key_end == std::string_view::npos) return false;
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':') return false;
    std::size_t value_begin = skip_space(s, i + 1);
    std::size_t value_end = skip_value(s, value_begin);
    if (value_end == std::string_view::npos) return false;
    // The key view includes its quotes' position through key_begin so callers can locate it.
    fn(context, s.substr(key_begin, key_end - key_begin), s.substr(value_begin, value_end - value_begin));
    i = skip_space(s, value_end);
    if (i < s.size() && s[i] == ',') {
      i = skip_space(s, i + 1);
      continue;
    }
    return i < s.size() && s[i] == '}' && skip_space(s, i + 1) == s.size();
  }
}

TopLevelMembers scan_top_level(std::string_view s) {
  struct Context {
    std::string_view text;
    TopLevelMembers out;
  } ctx{s, {}};
  ctx.out.valid = for_each_member(
      s,
      [](void* p, std::string_view quoted_key, std::string_view value) {
        auto& c = *static_cast<Context*>(p);
        std::string_view key = quoted_key.substr(1, quoted_key.size() - 2);
        MemberSpan span{static_cast<std::size_t>(quoted_key.data() - c.text.data()),
                        static_cast<std::size_t>(value.data() - c.text.data()),
                        static_cast<std::size_t>(value.data() - c.text.data() + value.size())};
        if (key == "usage") c.out.usage = span;
        else if (key == "choices") c.out.choices = span;
        else if (key == "error") c.out.error = span;
      },
      &ctx);
  return ctx.out;
}

std::optional<std::int64_t> json_integer(std::string_view value) {
  if (value.empty() || !(value.front() == '-' || (value.front() >= '0' && value.front() <= '9'))) return std::nullopt;
  std::int64_t number = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc{}) return std::nullopt;
  if (ptr != value.data() + value.size() && *ptr != '.' && *ptr != 'e' && *ptr != 'E') return std::nullopt;
  return number;
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
