#pragma once
#include <string>
#include <string_view>

namespace cic {

/// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as in query strings). Returns
/// false on a malformed escape; `out` then holds what was decoded so far.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

}  // namespace cic
