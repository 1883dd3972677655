#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "cic/config/config.hpp"

namespace cic::config::detail {

/// Parses a listener address: `IPv4:port`, `[IPv6]:port` or `localhost:port`, port 0-65535.
/// The host is stored as an IP literal (brackets dropped, `localhost` -> 127.0.0.1) so the
/// listener can bind it without a DNS lookup. On failure returns nullopt and sets `error` (which
/// does not repeat the value; the caller quotes it).
std::optional<ListenAddress> parse_listen(std::string_view text, std::string& error);

/// Checks a node endpoint: `http://` or `https://`, a host (name, IPv4 or [IPv6]) and an
/// explicit port 1-65535; nothing after the port but an optional "/". Sets `error` on failure.
bool check_endpoint(std::string_view text, std::string& error);

/// Identifiers (region names, model and node ids) appear in URL paths and metric labels,
/// so they are limited to `[A-Za-z0-9][A-Za-z0-9._-]*`, at most 128 characters.
bool is_valid_id(std::string_view id);

}  // namespace cic::config::detail
