// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_ROUTER_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_ROUTER_HPP

// The router: exact-path and prefix routes, then a fallback (the static
// files), and the checks every request passes first (transfer coding,
// Content-Length, body size). The routes themselves are in webhook.hpp,
// rest.hpp, metrics.hpp and static_files.hpp; main.cpp adds two more.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_errors.hpp"
#include "message.hpp"

namespace livechat_server {

/// True when a Content-Length value is one plain decimal number (RFC 9110:
/// 1*DIGIT). websocketpp reads the header with strtoul, so "5, 5" (the
/// header twice), "5 garbage" and "+5" all reach the router as a body of
/// 5 bytes; a request whose length two parsers could read differently is
/// refused, not guessed at (request smuggling behind a proxy).
inline bool plain_content_length(std::string_view value) noexcept {
  if (value.empty()) return false;
  for (char c : value)
    if (c < '0' || c > '9') return false;
  return true;
}

/// Exact-path and prefix routes, then a fallback (the static files).
/// A GET route answers HEAD too; the transport drops the body.
///
/// Each route has a label (its path pattern by default) that names it in
/// metrics; an observer set with `set_observer` sees the label and the
/// answer of every request, including the router's own 404/405/411/413.
class http_router {
 public:
  using handler = std::function<http_response(const http_request&)>;
  using observer =
      std::function<void(std::string_view route, const http_request&, const http_response&)>;

  /// `path` must equal the request path exactly. `label`: the route's name
  /// in metrics; empty means `path`. `max_body`: a larger body is 413
  /// (an upload route takes more than the 1 MiB every other route does).
  void add(std::string method, std::string path, handler h, std::string label = {},
           std::size_t max_body = max_http_body) {
    if (label.empty()) label = path;
    routes_.push_back(
        {std::move(method), std::move(path), false, std::move(h), std::move(label), max_body});
  }
  /// Every path that starts with `prefix` (e.g. "/api/v1/conversations/");
  /// the handler parses the rest. `label`: empty means `prefix` + "*".
  void add_prefix(std::string method, std::string prefix, handler h, std::string label = {}) {
    if (label.empty()) label = prefix + "*";
    routes_.push_back(
        {std::move(method), std::move(prefix), true, std::move(h), std::move(label), max_http_body});
  }
  void set_fallback(handler h, std::string label = "static") {
    fallback_ = std::move(h);
    fallback_label_ = std::move(label);
  }
  void set_observer(observer o) { observer_ = std::move(o); }

  http_response handle(const http_request& req) const {
    std::string_view label;
    http_response resp = dispatch(req, label);
    // Every answer: no MIME sniffing (a JSON error echoing input must not
    // be rendered as HTML), and nothing cached unless the route says
    // otherwise (API answers hold conversations that a shared cache or a
    // browser's disk must not keep).
    if (!resp.has_header("X-Content-Type-Options"))
      resp.headers.emplace_back("X-Content-Type-Options", "nosniff");
    if (!resp.has_header("Cache-Control")) resp.headers.emplace_back("Cache-Control", "no-store");
    if (observer_) observer_(label, req, resp);
    return resp;
  }

 private:
  struct route {
    std::string method;
    std::string path;
    bool prefix;
    handler h;
    std::string label;
    std::size_t max_body;
  };

  bool matches(const route& r, std::string_view path) const noexcept {
    return r.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path;
  }

  http_response dispatch(const http_request& req, std::string_view& label) const {
    // The label is the first route whose path matches, whatever the method.
    label = "other";
    bool found = false;
    for (const auto& r : routes_)
      if (matches(r, req.path)) {
        label = r.label;
        found = true;
        break;
      }
    if (!found && fallback_) label = fallback_label_;

    // websocketpp reads only Content-Length bodies: a chunked body arrives
    // as an empty string with no error, which a handler would mistake for
    // "no body". Refuse any transfer coding instead of guessing.
    if (!req.header("Transfer-Encoding").empty())
      return json_error(411, "chunked request bodies are not supported: send Content-Length");
    if (const std::size_t n = req.header_count("Content-Length");
        n > 1 || (n == 1 && !plain_content_length(req.header("Content-Length"))))
      return json_error(400, "Content-Length must be one decimal number");
    std::size_t max_body = max_http_body;
    for (const auto& r : routes_)
      if (matches(r, req.path) && r.method == req.method) {
        max_body = r.max_body;
        break;
      }
    if (req.body.size() > max_body)
      return json_error(413, max_body == max_http_body ? "request body larger than 1 MiB"
                                                       : "request body too large");

    std::string allowed;
    for (const auto& r : routes_) {
      if (!matches(r, req.path)) continue;
      if (r.method == req.method || (r.method == "GET" && req.method == "HEAD"))
        return r.h(req);
      if (!allowed.empty()) allowed += ", ";
      allowed += r.method;
      if (r.method == "GET") allowed += ", HEAD";
    }
    if (!allowed.empty()) {
      auto resp = json_error(405, "method not allowed on this path");
      resp.headers.emplace_back("Allow", allowed);
      return resp;
    }
    if (fallback_) return fallback_(req);
    return json_error(404, "no such resource");
  }

  std::vector<route> routes_;
  handler fallback_;
  std::string fallback_label_ = "static";
  observer observer_;
};

}  // namespace livechat_server

#endif
