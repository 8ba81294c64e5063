// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_OPTIONS_HPP
#define LIVECHAT_EXAMPLES_SERVER_OPTIONS_HPP

// The livechat-server command line. Parsing is a pure function of argv so a
// mistake is reported before any socket is opened; main() prints what it
// returns. Exit codes: 0 for --help/--version, 2 for any usage error (the
// convention of getopt-based tools, so scripts can tell "bad flags" from
// "the server failed").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <livechat/version.hpp>

#ifndef LIVECHAT_DEFAULT_WEB_ROOT
#define LIVECHAT_DEFAULT_WEB_ROOT "web"
#endif

namespace livechat_server {

enum class auth_mode { dev, jwt };
enum class store_kind { memory, sqlite };

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0: let the kernel pick a free port
  store_kind store = store_kind::sqlite;
  std::string sqlite_path = "livechat.db";  ///< with store_kind::sqlite
  bool sqlite_full_sync = false;            ///< --sqlite-sync full
  auth_mode auth = auth_mode::dev;
  std::string jwt_secret;
  std::optional<std::string> jwt_issuer;
  std::optional<std::string> jwt_audience;
  /// LINE webhook (PROTOCOL.md "HTTP"): when set, POST /api/v1/webhook
  /// needs `X-Line-Signature` = base64(HMAC-SHA256(secret, body)); empty:
  /// the signature is not checked (development only).
  std::string line_channel_secret;
  /// LINE Messaging API channel access token for pushing operator replies
  /// to the end user; empty: nothing is pushed.
  std::string line_channel_token;
  /// Base URL of the LINE Messaging API (a test double can stand in).
  std::string line_api_base = "https://api.line.me";
  std::string web_root = LIVECHAT_DEFAULT_WEB_ROOT;
};

/// Either options to run with, or what to print and the exit code.
struct parse_result {
  options opts;
  std::optional<int> exit_code;  ///< set: print `message` and exit with it
  std::string message;           ///< stdout when exit_code is 0, else stderr
};

inline std::string usage() {
  return "usage: livechat-server [options]\n"
         "\n"
         "Realtime chat rooms over WebSocket (ws://HOST:PORT/api/v1/ws/live-chat)\n"
         "plus a small HTTP API and the demo operator console on the same port.\n"
         "\n"
         "options (each also accepted as --flag=value):\n"
         "  --host HOST          address to listen on (default 127.0.0.1)\n"
         "  --port PORT          TCP port, 0 picks a free one (default 8080)\n"
         "  --store SPEC         message store: sqlite:PATH (default sqlite:livechat.db,\n"
         "                       survives restarts) or memory (lost on exit)\n"
         "  --sqlite-sync MODE   normal (default; WAL, safe against a crash of the\n"
         "                       server) or full (also against power loss, slower)\n"
         "  --auth MODE          dev (the token is the user id; default) or jwt\n"
         "  --jwt-secret S       HS256 key, required with --auth jwt\n"
         "  --jwt-issuer I       with --auth jwt: require iss == I\n"
         "  --jwt-audience A     with --auth jwt: require aud to contain A\n"
         "  --line-channel-secret S\n"
         "                       LINE channel secret: POST /api/v1/webhook then needs a\n"
         "                       valid X-Line-Signature (without it the signature is not\n"
         "                       checked: for development only)\n"
         "  --line-channel-token T\n"
         "                       LINE channel access token, used to push operator\n"
         "                       replies to the end user (without it nothing is pushed)\n"
         "  --line-api-base URL  LINE Messaging API base URL (default https://api.line.me)\n"
         "  --web-root DIR       directory served at / (default: the bundled console)\n"
         "  --help, -h           print this help and exit\n"
         "  --version            print the version and exit\n"
         "\n"
         "Once listening it prints `livechat-server listening on http://HOST:PORT`.\n"
         "SIGINT/SIGTERM close every WebSocket with 1001 and exit 0 (at most ~2 s);\n"
         "a second signal exits at once with status 128+signal.\n"
         "Exit codes: 0 clean exit, 1 runtime failure (e.g. port in use), 2 usage error.\n";
}

namespace detail {

inline parse_result usage_error(std::string what) {
  parse_result r;
  r.exit_code = 2;
  r.message = "livechat-server: " + what + "\ntry 'livechat-server --help' for the options\n";
  return r;
}

// Digits only, so "80x", "-1", "+80", " 80" and "" are all refused: a port
// silently read as something else is worse than an error.
inline std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

inline bool is_value_flag(std::string_view name) noexcept {
  static constexpr std::string_view flags[] = {"--host",       "--port",       "--store",
                                               "--auth",       "--jwt-secret", "--jwt-issuer",
                                               "--jwt-audience", "--line-channel-secret",
                                               "--line-channel-token", "--line-api-base",
                                               "--web-root", "--sqlite-sync"};
  for (auto f : flags)
    if (name == f) return true;
  return false;
}

}  // namespace detail

inline parse_result parse_options(int argc, const char* const* argv) {
  parse_result r;
  options& o = r.opts;
  bool jwt_flag_seen = false;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      r.exit_code = 0;
      r.message = usage();
      return r;
    }
    if (arg == "--version") {
      r.exit_code = 0;
      r.message = std::string("livechat-server ") + LIVECHAT_VERSION_STRING + "\n";
      return r;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--")
      return detail::usage_error("unexpected argument '" + std::string(arg) + "'");

    // --flag=value or --flag value.
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const std::string flag(name);
    if (!detail::is_value_flag(name)) return detail::usage_error("unknown option '" + flag + "'");

    std::string value;
    if (inline_value) {
      value = std::string(*inline_value);
    } else if (i + 1 < argc && !detail::is_value_flag(argv[i + 1]) &&
               std::string_view(argv[i + 1]) != "--help") {
      // "--port --host x" is a forgotten value, not a port named "--host".
      value = argv[++i];
    } else {
      return detail::usage_error(flag + " needs a value");
    }
    // An empty value is always a mistake (an unset shell variable, usually).
    if (value.empty()) return detail::usage_error(flag + " needs a non-empty value");

    if (name == "--host") {
      o.host = value;
    } else if (name == "--port") {
      auto p = detail::parse_port(value);
      if (!p)
        return detail::usage_error("--port must be a number from 0 to 65535, got '" + value + "'");
      o.port = *p;
    } else if (name == "--sqlite-sync") {
      if (value == "normal" || value == "full")
        o.sqlite_full_sync = value == "full";
      else
        return detail::usage_error("--sqlite-sync must be 'normal' or 'full', got '" + value + "'");
    } else if (name == "--store") {
      if (value == "memory") {
        o.store = store_kind::memory;
      } else if (value.rfind("sqlite:", 0) == 0 && value.size() > 7) {
        o.store = store_kind::sqlite;
        o.sqlite_path = value.substr(7);
      } else {
        return detail::usage_error("--store must be 'memory' or 'sqlite:PATH', got '" + value +
                                   "'");
      }
    } else if (name == "--auth") {
      if (value == "dev")
        o.auth = auth_mode::dev;
      else if (value == "jwt")
        o.auth = auth_mode::jwt;
      else
        return detail::usage_error("--auth must be 'dev' or 'jwt', got '" + value + "'");
    } else if (name == "--jwt-secret") {
      o.jwt_secret = value;  // never echoed back in any message
      jwt_flag_seen = true;
    } else if (name == "--jwt-issuer") {
      o.jwt_issuer = value;
      jwt_flag_seen = true;
    } else if (name == "--jwt-audience") {
      o.jwt_audience = value;
      jwt_flag_seen = true;
    } else if (name == "--line-channel-secret") {
      o.line_channel_secret = value;  // never echoed back in any message
    } else if (name == "--line-channel-token") {
      o.line_channel_token = value;  // never echoed back in any message
    } else if (name == "--line-api-base") {
      if (value.rfind("https://", 0) != 0 && value.rfind("http://", 0) != 0)
        return detail::usage_error("--line-api-base must start with https:// or http://, got '" +
                                   value + "'");
      while (value.size() > 1 && value.back() == '/') value.pop_back();
      o.line_api_base = value;
    } else if (name == "--web-root") {
      o.web_root = value;
    }
  }

  if (o.auth == auth_mode::jwt && o.jwt_secret.empty())
    return detail::usage_error("--auth jwt requires --jwt-secret");
  // Refused rather than ignored: someone who passes a secret but forgets
  // --auth jwt would otherwise run a server that accepts any token.
  if (o.auth == auth_mode::dev && jwt_flag_seen)
    return detail::usage_error("--jwt-secret/--jwt-issuer/--jwt-audience need --auth jwt");
  return r;
}

}  // namespace livechat_server

#endif
