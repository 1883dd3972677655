#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <optional>
#include <string_view>

namespace cic::gateway {

/// Where one top-level member of a JSON object sits in its text.
struct MemberSpan {
  std::size_t key_begin = 0;    // the key's opening quote
  std::size_t value_begin = 0;  // first byte of the value
  std::size_t value_end = 0;    // one past the last byte of the value
};

/// The top-level members the relay cares about, found in one pass without building a document.
/// Only the object's own members count; nested keys of the same name are ignored.
struct TopLevelMembers {
  std::optional<MemberSpan> usage;
  std::optional<MemberSpan> choices;
  std::optional<MemberSpan> error;
  bool valid = false;  // the text is one well-formed-looking JSON object
};

/// Scans `object_text` (a JSON object) for its top-level "usage", "choices" and "error" members.
/// Linear, allocation-free; stops being `valid` at the first structural surprise.
TopLevelMembers scan_top_level(std::string_view object_text);

/// Calls `fn(key, value_text)` for each top-level member of a JSON object (keys raw, unescaped).
/// Returns false if the text is not a well-formed-looking object.
bool for_each_member(std::string_view object_text,
                     void (*fn)(void* context, std::string_view key, std::string_view value), void* context);

/// A JSON integer value's text as a number (a float is truncated); nullopt for anything else.
std::optional<std::int64_t> json_integer(std::string_view value);

/// `object_text` with the member at `span` removed (and the comma that joined it).
std::string remove_member(std::string_view object_text, const MemberSpan& span);

}  // namespace cic::gateway
