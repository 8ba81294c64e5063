// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_STATIC_FILES_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_STATIC_FILES_HPP

// The static files of the demo console (the router's fallback), with the
// headers a browser needs to keep them to themselves: no sniffing, no
// framing, a Content-Security-Policy, and no dotfile ever served. Two roots:
// the console's folder at `/`, and the JavaScript client's folder
// (clients/js) at `/livechat/`, of which only the top-level `.js` modules
// are served (its tests, declarations and package.json are nobody's
// business), so the console imports the one copy of the client there is.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "json_errors.hpp"
#include "message.hpp"
#include "url.hpp"

namespace livechat_server {

/// What a root serves: every file below it, or only the `.js` files at its
/// top level.
enum class static_scope { tree, top_level_scripts };

/// Serves the files under one directory, read on every request (the
/// console is a handful of small files; no cache to invalidate while
/// someone edits them).
class static_files {
 public:
  /// A missing root is not fatal: the API still works, `/` answers 404.
  explicit static_files(const std::filesystem::path& root, static_scope scope = static_scope::tree)
      : scope_(scope) {
    std::error_code ec;
    auto canon = std::filesystem::canonical(root, ec);
    if (!ec && std::filesystem::is_directory(canon, ec)) root_ = std::move(canon);
  }

  bool available() const noexcept { return root_.has_value(); }

  http_response operator()(const http_request& req) const { return serve(req, req.path); }

  /// Answers `req` with the file `path` (still percent-encoded, relative to
  /// this root) names.
  http_response serve(const http_request& req, std::string_view path) const {
    auto file = resolve(path);
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
    // Images also from exactly LINE's two CDN hosts: customers' profile
    // pictures and sticker images (docs/protocol.md "Customer pictures and
    // stickers" says why not a proxy).
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: "
                           "https://profile.line-scdn.net https://stickershop.line-scdn.net; "
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
  // The file a request path names, or nothing. Percent-decoding happens
  // before the checks so "%2e%2e" is caught like "..", and the result is
  // canonicalised so a symlink cannot lead outside the root either. No
  // segment may start with '.' ("." and ".." included): dotfiles (.env,
  // .git/, .htpasswd) are never served, neither named nor through a
  // symlink.
  std::optional<std::filesystem::path> resolve(std::string_view target) const {
    if (!root_ || target.empty() || target.front() != '/') return std::nullopt;
    const auto percent_decoded = percent_decode(target, false);
    if (!percent_decoded) return std::nullopt;
    const std::string& decoded = *percent_decoded;
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
    // One name, ending in ".js": no folder below, no other kind of file.
    if (scope_ == static_scope::top_level_scripts &&
        (std::distance(rel.begin(), rel.end()) != 1 || rel.extension() != ".js"))
      return std::nullopt;

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
    // And the file is still one name at the top (a symlink may not lead to
    // a subfolder's file either).
    if (scope_ == static_scope::top_level_scripts &&
        (std::distance(in_full, full.end()) != 1 || full.extension() != ".js"))
      return std::nullopt;
    return full;
  }

  std::optional<std::filesystem::path> root_;
  static_scope scope_;
};

/// The router's fallback: the console's files at `/`, the JavaScript
/// client's modules at `/livechat/` (the console imports
/// `./livechat/livechat.js`). The client's prefix wins, so a `livechat/`
/// folder in the web root is never served.
class console_files {
 public:
  static constexpr std::string_view client_prefix = "/livechat/";

  console_files(const std::filesystem::path& web_root, const std::filesystem::path& client_root)
      : web_(web_root), client_(client_root, static_scope::top_level_scripts) {}

  bool web_available() const noexcept { return web_.available(); }
  bool client_available() const noexcept { return client_.available(); }

  http_response operator()(const http_request& req) const {
    if (req.path.substr(0, client_prefix.size()) == client_prefix)
      return client_.serve(req, req.path.substr(client_prefix.size() - 1));  // keeps the '/'
    return web_(req);
  }

 private:
  static_files web_;
  static_files client_;
};

}  // namespace livechat_server

#endif
