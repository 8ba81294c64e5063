// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_BEARER_TOKEN_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_BEARER_TOKEN_HPP

// The one reader of `Authorization: Bearer <token>` (RFC 6750), for the
// REST routes (rest.hpp) and the WebSocket handshake (main.cpp), so both
// take the same header for the same token.

#include <cstddef>
#include <optional>
#include <string_view>

namespace livechat_server {

/// The token of an `Authorization` header value in the Bearer scheme
/// (scheme case-insensitive, blanks around the token dropped). Nothing for
/// another scheme or an absent header. The token may be empty ("Bearer "
/// and a blank): that is a Bearer credential the authenticator refuses,
/// not a missing one.
inline std::optional<std::string_view> bearer_token(std::string_view header) noexcept {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    const char c = header[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != scheme[i]) return std::nullopt;
  }
  std::string_view token = header.substr(scheme.size());
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return token;
}

}  // namespace livechat_server

#endif
