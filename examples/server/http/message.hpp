// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_MESSAGE_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_MESSAGE_HPP

// A request and a response as the routes see them. Nothing here knows
// websocketpp (websocket_http.hpp adapts its request to
// `http_request` and back), so routes can be added or tested without a
// socket.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livechat_server {

/// Largest request body accepted (PROTOCOL.md: 413 beyond). websocketpp
/// enforces it from Content-Length before reading the body; the router
/// checks again so a handler can rely on it.
inline constexpr std::size_t max_http_body = 1024 * 1024;

/// The one route whose body may be larger (up to --max-attachment-bytes):
/// a file upload. websocket_http.hpp holds every other request to
/// max_http_body before its body is read.
inline constexpr std::string_view upload_path = "/api/v1/attachments";

/// Views into the transport's request; valid for the duration of one call.
struct http_request {
  std::string_view method;
  std::string_view path;   ///< target up to '?', still percent-encoded
  std::string_view query;  ///< after '?', without it
  std::string_view body;
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  /// Case-insensitive lookup; empty when absent.
  std::string_view header(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers)
      if (same_name(k, name)) return v;
    return {};
  }

  /// How many times `name` occurs (an empty value counts).
  std::size_t header_count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const auto& h : headers) n += same_name(h.first, name);
    return n;
  }

  static bool same_name(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
};

struct http_response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra ones

  bool has_header(std::string_view name) const noexcept {
    for (const auto& h : headers)
      if (http_request::same_name(h.first, name)) return true;
    return false;
  }
};

}  // namespace livechat_server

#endif
