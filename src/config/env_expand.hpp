#pragma once
#include <string>
#include <string_view>
#include <variant>

#include "cic/config/config.hpp"

namespace cic::config::detail {

/// Why a scalar could not be expanded; `message` is meant for a ConfigIssue reason.
struct ExpandError {
  std::string message;
};

/// Expands `${NAME}`, `${NAME:-default}` and `$$` in one scalar.
/// - `${NAME}` is an error when NAME is unset; set-but-empty yields "".
/// - `${NAME:-default}` yields `default` when NAME is unset or empty; the default is literal text.
/// - `$$` is a literal `$`; a `$` followed by anything else is kept as is.
/// Values taken from the environment are inserted verbatim (never expanded again), so a secret
/// containing `$` survives intact. Error messages name variables, never their values.
std::variant<std::string, ExpandError> expand_env(std::string_view text, EnvLookup env);

}  // namespace cic::config::detail
