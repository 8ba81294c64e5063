// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_OPTIONS_HPP
#define LIVECHAT_EXAMPLES_SERVER_OPTIONS_HPP

// The livechat-server command line. Parsing is a pure function of argv so a
// mistake is reported before any socket is opened; main() prints what it
// returns. Exit codes: 0 for --help/--version, 2 for any usage error (the
// convention of getopt-based tools, so scripts can tell "bad flags" from
// "the server failed").

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <livechat/server/hub_config.hpp>
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

  // --- WebSocket handshake policy (checked before the upgrade) ----------
  /// Exact `Origin` values a handshake may carry; empty: any Origin.
  std::vector<std::string> allowed_origins;
  /// Refuse a handshake without `Origin` (browsers always send one; other
  /// clients usually don't, so by default it is accepted).
  bool reject_missing_origin = false;
  /// TCP connections one remote address may hold (WebSocket, plain HTTP
  /// and handshakes still being read); 0: unlimited.
  std::size_t max_connections_per_ip = 200;
  /// HTTP response bytes handed to the socket layer and not yet sent,
  /// server-wide; beyond, a request is answered 503. 0: unlimited.
  std::size_t max_http_response_bytes = 64ULL * 1024 * 1024;

  /// The hub's limits, each with its flag (--max-connections-per-user,
  /// --rate-burst, ...); main() adds what is not a limit (group commit).
  livechat::server::hub_config hub;
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
         "\n"
         "WebSocket handshake policy (refusals answer HTTP 403/429 with a JSON body):\n"
         "  --allowed-origin ORIGIN\n"
         "                       accept only handshakes whose Origin header is exactly\n"
         "                       ORIGIN, e.g. https://console.example.com (repeatable;\n"
         "                       default: any Origin)\n"
         "  --reject-missing-origin\n"
         "                       refuse handshakes without an Origin header (default:\n"
         "                       accepted, for non-browser clients)\n"
         "  --max-connections-per-ip N\n"
         "                       TCP connections per remote address (WebSocket and HTTP),\n"
         "                       0 = unlimited (default 200)\n"
         "  --max-connections-per-user N\n"
         "                       authenticated connections per user, 0 = unlimited\n"
         "                       (default 20); the next one gets error limit_exceeded\n"
         "                       and close 1008, or 429 at the handshake when it carries\n"
         "                       Authorization: Bearer <token>\n"
         "\n"
         "limits per connection:\n"
         "  --rate-burst N       token bucket size, counting every incoming frame (40);\n"
         "                       REST posts have a bucket per user of the same size\n"
         "  --rate-per-second N  token bucket refill rate (20)\n"
         "  --max-unsent-bytes N unsent outgoing bytes before close 1013 (1048576)\n"
         "  --soft-unsent-bytes N\n"
         "                       unsent outgoing bytes above which typing and presence\n"
         "                       diffs are skipped, 0 = never (262144)\n"
         "  --auth-timeout-ms N  close 4001 when auth has not succeeded by then (10000)\n"
         "  --idle-timeout-ms N  close 1001 after this long without a frame (60000)\n"
         "  --max-rooms-per-connection N\n"
         "                       rooms one connection may join (100)\n"
         "  --max-http-response-bytes N\n"
         "                       HTTP response bytes waiting to be sent, server-wide;\n"
         "                       beyond, 503 with Retry-After, 0 = unlimited (67108864)\n"
         "\n"
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

/// A flag that takes an unsigned integer in [min, max].
struct numeric_flag {
  std::string_view name;
  std::uint64_t min;
  std::uint64_t max;
  void (*set)(options&, std::uint64_t);
};

// Ranges: wide enough for any real deployment, narrow enough that a typo
// (a timeout in seconds given as milliseconds, a byte count of 1) is
// reported instead of running a server that closes every connection.
inline constexpr numeric_flag numeric_flags[] = {
    {"--max-connections-per-ip", 0, 1'000'000,
     [](options& o, std::uint64_t v) { o.max_connections_per_ip = static_cast<std::size_t>(v); }},
    {"--max-connections-per-user", 0, 1'000'000,
     [](options& o, std::uint64_t v) { o.hub.max_connections_per_user = static_cast<std::size_t>(v); }},
    {"--rate-burst", 1, 1'000'000,
     [](options& o, std::uint64_t v) { o.hub.rate_burst = static_cast<double>(v); }},
    {"--rate-per-second", 1, 1'000'000,
     [](options& o, std::uint64_t v) { o.hub.rate_per_second = static_cast<double>(v); }},
    {"--max-unsent-bytes", 1024, 1024ULL * 1024 * 1024,
     [](options& o, std::uint64_t v) { o.hub.max_unsent_bytes = static_cast<std::size_t>(v); }},
    {"--soft-unsent-bytes", 0, 1024ULL * 1024 * 1024,
     [](options& o, std::uint64_t v) { o.hub.soft_unsent_bytes = static_cast<std::size_t>(v); }},
    {"--auth-timeout-ms", 100, 3'600'000,
     [](options& o, std::uint64_t v) { o.hub.auth_timeout = std::chrono::milliseconds(v); }},
    {"--idle-timeout-ms", 1000, 86'400'000,
     [](options& o, std::uint64_t v) { o.hub.idle_timeout = std::chrono::milliseconds(v); }},
    {"--max-http-response-bytes", 0, 1ULL << 40,
     [](options& o, std::uint64_t v) { o.max_http_response_bytes = static_cast<std::size_t>(v); }},
    {"--max-rooms-per-connection", 1, 100'000,
     [](options& o, std::uint64_t v) { o.hub.max_rooms_per_connection = static_cast<std::size_t>(v); }},
};

inline const numeric_flag* find_numeric_flag(std::string_view name) noexcept {
  for (const auto& f : numeric_flags)
    if (name == f.name) return &f;
  return nullptr;
}

// Digits only, as parse_port: "1e3", "-1", "+5", "10k" are refused.
inline std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

/// `scheme://host[:port]` as a browser serialises an Origin: lower case,
/// no path, no trailing slash. Anything else could never match exactly, so
/// it is a mistake worth reporting at start-up.
inline bool is_serialized_origin(std::string_view v) noexcept {
  const auto sep = v.find("://");
  if (sep == std::string_view::npos || sep == 0 || sep + 3 == v.size()) return false;
  for (char c : v.substr(0, sep))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
      return false;
  for (char c : v.substr(sep + 3))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':' ||
          c == '[' || c == ']'))
      return false;
  return true;
}

inline bool is_switch(std::string_view name) noexcept { return name == "--reject-missing-origin"; }

inline bool is_value_flag(std::string_view name) noexcept {
  static constexpr std::string_view flags[] = {"--host",       "--port",       "--store",
                                               "--auth",       "--jwt-secret", "--jwt-issuer",
                                               "--jwt-audience", "--line-channel-secret",
                                               "--line-channel-token", "--line-api-base",
                                               "--web-root", "--sqlite-sync", "--allowed-origin"};
  for (auto f : flags)
    if (name == f) return true;
  return find_numeric_flag(name) != nullptr;
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
    if (detail::is_switch(name)) {
      if (inline_value) return detail::usage_error(flag + " takes no value");
      o.reject_missing_origin = true;
      continue;
    }
    if (!detail::is_value_flag(name)) return detail::usage_error("unknown option '" + flag + "'");

    std::string value;
    if (inline_value) {
      value = std::string(*inline_value);
    } else if (i + 1 < argc && !detail::is_value_flag(argv[i + 1]) &&
               !detail::is_switch(argv[i + 1]) && std::string_view(argv[i + 1]) != "--help") {
      // "--port --host x" is a forgotten value, not a port named "--host".
      value = argv[++i];
    } else {
      return detail::usage_error(flag + " needs a value");
    }
    // An empty value is always a mistake (an unset shell variable, usually).
    if (value.empty()) return detail::usage_error(flag + " needs a non-empty value");

    if (const auto* n = detail::find_numeric_flag(name)) {
      const auto v = detail::parse_uint(value, n->max);
      if (!v || *v < n->min)
        return detail::usage_error(flag + " must be an integer from " + std::to_string(n->min) +
                                   " to " + std::to_string(n->max) + ", got '" + value + "'");
      n->set(o, *v);
    } else if (name == "--allowed-origin") {
      if (!detail::is_serialized_origin(value))
        return detail::usage_error(
            "--allowed-origin must be an origin as browsers send it: scheme://host[:port] in "
            "lower case, without a path or trailing slash (e.g. https://console.example.com), "
            "got '" + value + "'");
      o.allowed_origins.push_back(value);
    } else if (name == "--host") {
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

  if (o.hub.soft_unsent_bytes != 0 && o.hub.soft_unsent_bytes >= o.hub.max_unsent_bytes)
    return detail::usage_error("--soft-unsent-bytes (" + std::to_string(o.hub.soft_unsent_bytes) +
                               ") must be below --max-unsent-bytes (" +
                               std::to_string(o.hub.max_unsent_bytes) + "), or 0 to never skip");
  // Clients ping at the announced interval; it must leave room for one
  // late ping before the idle timeout closes them.
  o.hub.heartbeat_interval_ms = static_cast<std::uint32_t>(
      std::min<std::chrono::milliseconds::rep>(25'000, o.hub.idle_timeout.count() / 2));
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
