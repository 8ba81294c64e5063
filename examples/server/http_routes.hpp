// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_ROUTES_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_ROUTES_HPP

// Plain-HTTP side of livechat-server: a tiny router and the static files of
// the demo console. It knows nothing of websocketpp (websocket_http.hpp
// adapts a websocketpp request to `http_request` and back), so routes can be
// added or tested without a socket. The API routes (webhook, REST,
// metrics) live in api_routes.hpp.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace livechat_server {

/// Largest request body accepted (PROTOCOL.md: 413 beyond). websocketpp
/// enforces it from Content-Length before reading the body; the router
/// checks again so a handler can rely on it.
inline constexpr std::size_t max_http_body = 1024 * 1024;

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

/// The machine-readable `code` of PROTOCOL.md's error body for a status
/// websocketpp or a route produces.
inline std::string_view http_error_code(int status) noexcept {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 411: return "length_required";
    case 413: return "payload_too_large";
    case 426: return "upgrade_required";
    case 429: return "rate_limited";
    case 431: return "request_header_fields_too_large";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "bad_request";
  }
}

/// `{"error": {"code", "message"[, "field"]}}`, the body of every HTTP
/// error. `field` (the offending parameter or body key) only when not empty.
inline std::string json_error_body(std::string_view code, std::string_view message,
                                   std::string_view field = {}) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  if (!field.empty()) {
    w.Key("field");
    w.String(field.data(), static_cast<rapidjson::SizeType>(field.size()));
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

/// The token of an `Authorization: Bearer <token>` header value (scheme
/// case-insensitive, surrounding blanks dropped); nothing for any other
/// scheme or an empty token.
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
  if (token.empty()) return std::nullopt;
  return token;
}

inline http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

inline http_response json_error(int status, std::string_view message) {
  return json_response(status, json_error_body(http_error_code(status), message));
}

/// An error with a code of its own (e.g. PROTOCOL.md's `validation_error`
/// for a 400, `auth_failed` for a 401) instead of the status's generic one.
inline http_response json_error(int status, std::string_view code, std::string_view message,
                                std::string_view field = {}) {
  return json_response(status, json_error_body(code, message, field));
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
  /// in metrics; empty means `path`.
  void add(std::string method, std::string path, handler h, std::string label = {}) {
    if (label.empty()) label = path;
    routes_.push_back({std::move(method), std::move(path), false, std::move(h), std::move(label)});
  }
  /// Every path that starts with `prefix` (e.g. "/api/v1/conversations/");
  /// the handler parses the rest. `label`: empty means `prefix` + "*".
  void add_prefix(std::string method, std::string prefix, handler h, std::string label = {}) {
    if (label.empty()) label = prefix + "*";
    routes_.push_back({std::move(method), std::move(prefix), true, std::move(h), std::move(label)});
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
    if (req.body.size() > max_http_body)
      return json_error(413, "request body larger than 1 MiB");

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

/// Serves the files under one directory, read on every request (the
/// console is a handful of small files; no cache to invalidate while
/// someone edits them).
class static_files {
 public:
  /// A missing root is not fatal: the API still works, `/` answers 404.
  explicit static_files(const std::filesystem::path& root) {
    std::error_code ec;
    auto canon = std::filesystem::canonical(root, ec);
    if (!ec && std::filesystem::is_directory(canon, ec)) root_ = std::move(canon);
  }

  bool available() const noexcept { return root_.has_value(); }

  http_response operator()(const http_request& req) const {
    auto file = resolve(req.path);
    if (!file) return json_error(404, "no such resource");
    if (req.method != "GET" && req.method != "HEAD") {
      auto resp = json_error(405, "static files answer GET and HEAD only");
      resp.headers.emplace_back("Allow", "GET, HEAD");
      return resp;
    }
    std::ifstream in(*file, std::ios::binary);
    if (!in) return json_error(404, "no such resource");
    http_response r;
    r.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return json_error(500, "could not read the file");
    r.content_type = std::string(content_type(file->extension().string()));
    // Revalidate every time: an operator must not run yesterday's console.
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    // The console loads nothing from elsewhere and has no inline script or
    // style (index.html loads app.js and style.css); say so, so an injected
    // script or style from a message text could not run or load anything
    // either. frame-ancestors (and X-Frame-Options for older browsers):
    // no page may frame the console to click through it (clickjacking).
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    // The console's URL is nobody else's business.
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    return r;
  }

  static std::string_view content_type(std::string_view ext) noexcept {
    if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
    if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
    if (ext == ".css") return "text/css; charset=utf-8";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".png") return "image/png";
    if (ext == ".ico") return "image/x-icon";
    if (ext == ".json") return "application/json";
    if (ext == ".txt") return "text/plain; charset=utf-8";
    return "application/octet-stream";
  }

 private:
  static int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // The file a request path names, or nothing. Percent-decoding happens
  // before the checks so "%2e%2e" is caught like "..", and the result is
  // canonicalised so a symlink cannot lead outside the root either. No
  // segment may start with '.' ("." and ".." included): dotfiles (.env,
  // .git/, .htpasswd) are never served, neither named nor through a
  // symlink.
  std::optional<std::filesystem::path> resolve(std::string_view target) const {
    if (!root_ || target.empty() || target.front() != '/') return std::nullopt;
    std::string decoded;
    decoded.reserve(target.size());
    for (std::size_t i = 0; i < target.size(); ++i) {
      if (target[i] == '%') {
        if (i + 2 >= target.size()) return std::nullopt;
        const int hi = hex_value(target[i + 1]), lo = hex_value(target[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        decoded.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        decoded.push_back(target[i]);
      }
    }
    if (decoded.find('\0') != std::string::npos || decoded.find('\\') != std::string::npos)
      return std::nullopt;

    std::filesystem::path rel;
    std::size_t pos = 1;
    while (pos <= decoded.size()) {
      auto next = decoded.find('/', pos);
      if (next == std::string::npos) next = decoded.size();
      std::string_view seg(decoded.data() + pos, next - pos);
      if (!seg.empty() && seg.front() == '.') return std::nullopt;
      if (!seg.empty()) rel /= std::string(seg);
      pos = next + 1;
    }
    if (decoded.back() == '/') rel /= "index.html";

    std::error_code ec;
    auto full = std::filesystem::canonical(*root_ / rel, ec);
    if (ec || !std::filesystem::is_regular_file(full, ec) || ec) return std::nullopt;
    // Inside the root: the root's components are a prefix of the file's.
    const auto [in_root, in_full] =
        std::mismatch(root_->begin(), root_->end(), full.begin(), full.end());
    if (in_root != root_->end()) return std::nullopt;
    // And what a symlink led to is no dotfile either.
    for (auto it = in_full; it != full.end(); ++it) {
      const std::string name = it->filename().string();
      if (!name.empty() && name.front() == '.') return std::nullopt;
    }
    return full;
  }

  std::optional<std::filesystem::path> root_;
};

}  // namespace livechat_server

#endif
