// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_WEB_ROOTS_HPP
#define LIVECHAT_EXAMPLES_SERVER_WEB_ROOTS_HPP

// Where the console (served at /) and the JavaScript client's modules
// (served at /livechat/) are found when no flag names them. An installed
// server (`cmake --install`) finds them installed next to it, under
// <prefix>/share/livechat/{web,js}; a server run from its build tree finds
// them in the source tree it was built from (examples/server/web and
// clients/js), so a fresh build serves the console without an install step
// and an edit to a file shows on the next reload.

#include <filesystem>
#include <string>
#include <system_error>

// Set by examples/CMakeLists.txt; these fallbacks only keep the header
// compilable on its own.
#ifndef LIVECHAT_DEFAULT_WEB_ROOT
#define LIVECHAT_DEFAULT_WEB_ROOT "web"
#endif
#ifndef LIVECHAT_DEFAULT_CLIENT_ROOT
#define LIVECHAT_DEFAULT_CLIENT_ROOT "js"
#endif
/// The installed data folder relative to the installed binary's folder.
#ifndef LIVECHAT_INSTALLED_DATA_DIR
#define LIVECHAT_INSTALLED_DATA_DIR "../share/livechat"
#endif

namespace livechat_server {

struct web_roots {
  std::string web;     ///< served at /
  std::string client;  ///< its top-level .js files served at /livechat/
};

/// The installed folders when this binary sits in an install that has
/// them, else the source tree's.
inline web_roots default_web_roots() {
  std::error_code ec;
  // Linux: the binary's own path, whatever the current directory is.
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto data = exe.parent_path() / LIVECHAT_INSTALLED_DATA_DIR;
    if (std::filesystem::is_regular_file(data / "web" / "index.html", ec) &&
        std::filesystem::is_regular_file(data / "js" / "livechat.js", ec))
      return {(data / "web").lexically_normal().string(), (data / "js").lexically_normal().string()};
  }
  return {LIVECHAT_DEFAULT_WEB_ROOT, LIVECHAT_DEFAULT_CLIENT_ROOT};
}

}  // namespace livechat_server

#endif
