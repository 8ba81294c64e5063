// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_OPTIONS_HPP
#define LIVECHAT_EXAMPLES_SERVER_OPTIONS_HPP

// The livechat-server command line, on CLI11 (../common/command_line.hpp).
// Parsing is a pure function of argv so a mistake is reported before any
// socket is opened; main() prints what it returns. Exit codes: 0 for
// --help/--version, 2 for any usage error, naming the flag.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include <livechat/cluster/envelope.hpp>
#include <livechat/server/hub_config.hpp>
#include <livechat/version.hpp>

#include "../common/command_line.hpp"
#include "http/forwarded_for.hpp"
#include "log/sink.hpp"

namespace livechat_server {

enum class auth_mode { dev, jwt };
enum class store_kind { memory, sqlite, postgresql };

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0: let the kernel pick a free port
  store_kind store = store_kind::sqlite;
  std::string sqlite_path = "livechat.db";  ///< with store_kind::sqlite
  bool sqlite_full_sync = false;            ///< --sqlite-sync full
  /// --group-commit on/off; unset (auto): on where a commit costs
  /// something (SQLite, PostgreSQL), off on the memory store.
  std::optional<bool> group_commit;
  /// With store_kind::postgresql: the libpq URI, as given.
  std::string postgresql_uri;
  auth_mode auth = auth_mode::dev;
  std::string jwt_secret;
  std::optional<std::string> jwt_issuer;
  std::optional<std::string> jwt_audience;
  /// LINE webhook (PROTOCOL.md "HTTP"): when set, POST /api/v1/webhook
  /// needs `X-Line-Signature` = base64(HMAC-SHA256(secret, body)); empty:
  /// the signature is not checked (development only).
  std::string line_channel_secret;
  /// Signs attachment urls (HMAC-SHA256); empty: a random one per process.
  std::string attachment_url_secret;
  /// LINE Messaging API channel access token for pushing operator replies
  /// to the end user; empty: nothing is pushed.
  std::string line_channel_token;
  /// Base URL of the LINE Messaging API (a test double can stand in).
  std::string line_api_base = "https://api.line.me";
  /// The server's public HTTPS base (`https://host[/prefix]`, no trailing
  /// slash). LINE fetches pushed media from there, so without it an
  /// operator's file goes to LINE as a text with the link.
  std::string public_url;
  /// The console's folder, served at /; empty: web_roots.hpp's default.
  std::string web_root;
  /// The JavaScript client's folder, whose top-level .js files are served
  /// at /livechat/; empty: web_roots.hpp's default.
  std::string client_root;
  /// `redis://HOST:PORT`: join a cluster through this broker (needs a
  /// shared store); empty: one process.
  std::string broker_url;
  /// This node's name in the cluster; empty: a random one.
  std::string node_id;
  /// How long this node's presence share lives without a renewal.
  std::chrono::milliseconds presence_ttl{15'000};
  /// Lines below this level are not written (log/sink.hpp).
  logging::level log_level = logging::level::info;

  // --- WebSocket handshake policy (checked before the upgrade) ----------
  /// Exact `Origin` values a handshake may carry; empty: any Origin.
  std::vector<std::string> allowed_origins;
  /// Refuse a handshake without `Origin` (browsers always send one; other
  /// clients usually don't, so by default it is accepted).
  bool reject_missing_origin = false;
  /// TCP connections one remote address may hold (WebSocket, plain HTTP
  /// and handshakes still being read); 0: unlimited.
  std::size_t max_connections_per_ip = 200;
  /// Reverse proxies whose X-Forwarded-For names the client (cap, logs);
  /// empty: the header is ignored from everyone.
  trusted_proxies proxies;
  /// HTTP response bytes handed to the socket layer and not yet sent,
  /// server-wide; beyond, a request is answered 503. 0: unlimited.
  std::size_t max_http_response_bytes = 64ULL * 1024 * 1024;
  /// Largest file POST /api/v1/attachments takes (413 beyond), and the
  /// store's bound on one attachment.
  std::size_t max_attachment_bytes = 10ULL * 1024 * 1024;
  /// Upload bodies and LINE downloads held in memory at once, server-wide
  /// (503 with Retry-After beyond; 413 for one that could never fit).
  /// 0: four times max_attachment_bytes.
  std::size_t max_upload_memory_bytes = 0;

  /// The hub's limits, each with its flag (--max-connections-per-user,
  /// --rate-burst, ...); main() adds what is not a limit (group commit).
  livechat::server::hub_config hub;
};

/// Either options to run with, or what to print and the exit code.
using parse_result = livechat_examples::parse_result<options>;

namespace detail {

// add_value, add_switch, add_uint, bad_value: common/command_line.hpp.
using namespace livechat_examples;

inline constexpr const char* program = "livechat-server";
inline constexpr const char* general = "options (each also accepted as --flag=value)";
inline constexpr const char* handshake =
    "WebSocket handshake policy (refusals answer HTTP 403/429 with a JSON body)";
inline constexpr const char* limits = "limits per connection";

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

/// Every flag, in the order --help lists them, writing into `o`.
inline void add_flags(CLI::App& app, options& o, bool& jwt_flag_seen) {
  add_value(app, "--host", "HOST", "address to listen on (default 127.0.0.1)",
            [&o](const std::string& v) { o.host = v; })
      ->group(general);
  add_value(app, "--port", "PORT", "TCP port, 0 picks a free one (default 8080)",
            [&o](const std::string& v) {
              const auto p = livechat_examples::parse_digits(v, 5, 65535);
              if (!p) bad_value("--port must be a number from 0 to 65535, got '" + v + "'");
              o.port = static_cast<std::uint16_t>(*p);
            })
      ->group(general);
  add_value(app, "--store", "SPEC",
            "message store: sqlite:PATH (default sqlite:livechat.db,\n"
            "survives restarts), memory (lost on exit), or\n"
            "postgresql://USER@HOST:PORT/DB (a libpq URI: one\n"
            "database shared by several servers)",
            [&o](const std::string& v) {
              if (v == "memory") {
                o.store = store_kind::memory;
              } else if (v.rfind("sqlite:", 0) == 0 && v.size() > 7) {
                o.store = store_kind::sqlite;
                o.sqlite_path = v.substr(7);
              } else if ((v.rfind("postgresql://", 0) == 0 && v.size() > 13) ||
                         (v.rfind("postgres://", 0) == 0 && v.size() > 11)) {
                o.store = store_kind::postgresql;
                o.postgresql_uri = v;
              } else {
                bad_value("--store must be 'memory', 'sqlite:PATH' or 'postgresql://...', got '" +
                          v + "'");
              }
            })
      ->group(general);
  add_value(app, "--broker", "URL",
            "redis://HOST:PORT: join a cluster of servers on one\n"
            "shared store (--store postgresql://...) through Redis",
            [&o](const std::string& v) {
              if (v.rfind("redis://", 0) != 0 || v.size() == 8)
                bad_value("--broker must be redis://HOST:PORT, got '" + v + "'");
              o.broker_url = v;
            })
      ->group(general);
  add_value(app, "--node-id", "ID",
            "this server's name in the cluster, 1-64 of\n"
            "[A-Za-z0-9_.-] (default: random)",
            [&o](const std::string& v) {
              if (!livechat::cluster::is_valid_node_id(v))
                bad_value("--node-id must be 1-64 of [A-Za-z0-9_.-], got '" + v + "'");
              o.node_id = v;
            })
      ->group(general);
  add_uint(app, general, "--presence-ttl-ms",
           "with --broker: this node's presence lease; a node that\n"
           "dies loses its users within it plus 1 s (15000)",
           300, 3'600'000, [&o](std::uint64_t v) { o.presence_ttl = std::chrono::milliseconds(v); });
  add_value(app, "--sqlite-sync", "MODE",
            "normal (default; WAL, safe against a crash of the\n"
            "server) or full (also against power loss, slower)",
            [&o](const std::string& v) {
              if (v != "normal" && v != "full")
                bad_value("--sqlite-sync must be 'normal' or 'full', got '" + v + "'");
              o.sqlite_full_sync = v == "full";
            })
      ->group(general);
  add_value(app, "--group-commit", "MODE",
            "on: one store commit per event-loop turn; off: one per\n"
            "event; auto (default): on, except on the memory store\n"
            "(nothing to commit there, so sends leave at once)",
            [&o](const std::string& v) {
              if (v != "auto" && v != "on" && v != "off")
                bad_value("--group-commit must be 'auto', 'on' or 'off', got '" + v + "'");
              o.group_commit = v == "auto" ? std::nullopt : std::optional<bool>(v == "on");
            })
      ->group(general);
  add_value(app, "--auth", "MODE", "dev (the token is the user id; default) or jwt",
            [&o](const std::string& v) {
              if (v == "dev")
                o.auth = auth_mode::dev;
              else if (v == "jwt")
                o.auth = auth_mode::jwt;
              else
                bad_value("--auth must be 'dev' or 'jwt', got '" + v + "'");
            })
      ->group(general);
  // Secrets and tokens are never echoed back in any message.
  add_value(app, "--jwt-secret", "S", "HS256 key, required with --auth jwt",
            [&o, &jwt_flag_seen](const std::string& v) {
              o.jwt_secret = v;
              jwt_flag_seen = true;
            })
      ->group(general);
  add_value(app, "--jwt-issuer", "I", "with --auth jwt: require iss == I",
            [&o, &jwt_flag_seen](const std::string& v) {
              o.jwt_issuer = v;
              jwt_flag_seen = true;
            })
      ->group(general);
  add_value(app, "--jwt-audience", "A", "with --auth jwt: require aud to contain A",
            [&o, &jwt_flag_seen](const std::string& v) {
              o.jwt_audience = v;
              jwt_flag_seen = true;
            })
      ->group(general);
  add_value(app, "--line-channel-secret", "S",
            "LINE channel secret: POST /api/v1/webhook then needs a\n"
            "valid X-Line-Signature (without it the signature is not\n"
            "checked: for development only)",
            [&o](const std::string& v) { o.line_channel_secret = v; })
      ->group(general);
  add_value(app, "--attachment-url-secret", "S",
            "key that signs attachment urls; servers sharing a store\n"
            "need the same one (default: random per process)",
            [&o](const std::string& v) { o.attachment_url_secret = v; })
      ->group(general);
  add_value(app, "--line-channel-token", "T",
            "LINE channel access token, used to push operator\n"
            "replies to the end user (without it nothing is pushed)",
            [&o](const std::string& v) { o.line_channel_token = v; })
      ->group(general);
  add_value(app, "--line-api-base", "URL",
            "LINE Messaging API base URL (default https://api.line.me)",
            [&o](std::string v) {
              if (v.rfind("https://", 0) != 0 && v.rfind("http://", 0) != 0)
                bad_value("--line-api-base must start with https:// or http://, got '" + v + "'");
              while (v.size() > 1 && v.back() == '/') v.pop_back();
              o.line_api_base = v;
            })
      ->group(general);
  add_value(app, "--public-url", "URL",
            "this server's public https base (https://HOST[/PREFIX]):\n"
            "operators' images and audio then go to LINE as media\n"
            "messages LINE fetches from there (default: as a link)",
            [&o](std::string v) {
              while (v.size() > 1 && v.back() == '/') v.pop_back();
              if (v.rfind("https://", 0) != 0 || v.size() == 8 ||
                  v.find_first_of("?# \t\r\n") != std::string::npos)
                bad_value("--public-url must be https://HOST[/PREFIX] without query, got '" + v + "'");
              o.public_url = v;
            })
      ->group(general);
  add_value(app, "--web-root", "DIR", "directory served at / (default: the bundled console)",
            [&o](const std::string& v) { o.web_root = v; })
      ->group(general);
  add_value(app, "--client-root", "DIR",
            "the JavaScript client's folder: its top-level .js files\n"
            "are served at /livechat/ (default: the bundled clients/js)",
            [&o](const std::string& v) { o.client_root = v; })
      ->group(general);
  add_value(app, "--log-level", "LEVEL",
            "trace, debug, info (default), warn, error or off: the\n"
            "least severe log line written to stderr (key=value\n"
            "lines, at most 10 per kind of event per second)",
            [&o](const std::string& v) {
              const auto l = logging::parse_level(v);
              if (!l)
                bad_value("--log-level must be trace, debug, info, warn, error or off, got '" + v + "'");
              o.log_level = *l;
            })
      ->group(general);

  add_value(app, "--allowed-origin", "ORIGIN",
            "accept only handshakes whose Origin header is exactly\n"
            "ORIGIN, e.g. https://console.example.com (repeatable;\n"
            "default: any Origin)",
            [&o](const std::string& v) {
              if (!is_serialized_origin(v))
                bad_value(
                    "--allowed-origin must be an origin as browsers send it: scheme://host[:port] in "
                    "lower case, without a path or trailing slash (e.g. https://console.example.com), "
                    "got '" + v + "'");
              o.allowed_origins.push_back(v);
            })
      ->group(handshake);
  add_switch(app, "--reject-missing-origin",
             "refuse handshakes without an Origin header (default:\n"
             "accepted, for non-browser clients)",
             [&o] { o.reject_missing_origin = true; })
      ->group(handshake);
  add_uint(app, handshake, "--max-connections-per-ip",
           "TCP connections per remote address (WebSocket and HTTP),\n"
           "0 = unlimited (default 200)",
           0, 1'000'000, [&o](std::uint64_t v) { o.max_connections_per_ip = static_cast<std::size_t>(v); });
  add_value(app, "--trusted-proxy", "ADDR[/BITS]",
            "a reverse proxy (one address, or a range such as\n"
            "10.0.0.0/8 or fd00::/8; repeatable): for connections\n"
            "from it the client is the rightmost address in\n"
            "X-Forwarded-For that is not a trusted proxy, for\n"
            "--max-connections-per-ip and the logs (default: the\n"
            "header is ignored)",
            [&o](const std::string& v) {
              std::string why;
              const auto r = address_range::parse(v, why);
              if (!r) bad_value("--trusted-proxy must be ADDR or ADDR/BITS (IPv4 or IPv6): " + why);
              o.proxies.add(*r);
            })
      ->group(handshake);
  add_uint(app, handshake, "--max-connections-per-user",
           "authenticated connections per user, 0 = unlimited\n"
           "(default 20); the next one gets error limit_exceeded\n"
           "and close 1008, or 429 at the handshake when it carries\n"
           "Authorization: Bearer <token>",
           0, 1'000'000,
           [&o](std::uint64_t v) { o.hub.max_connections_per_user = static_cast<std::size_t>(v); });

  add_uint(app, limits, "--rate-burst",
           "token bucket size, counting every incoming frame (40);\n"
           "REST posts have a bucket per user of the same size",
           1, 1'000'000, [&o](std::uint64_t v) { o.hub.rate_burst = static_cast<double>(v); });
  add_uint(app, limits, "--rate-per-second", "token bucket refill rate (20)", 1, 1'000'000,
           [&o](std::uint64_t v) { o.hub.rate_per_second = static_cast<double>(v); });
  add_uint(app, limits, "--max-unsent-bytes", "unsent outgoing bytes before close 1013 (1048576)", 1024,
           1024ULL * 1024 * 1024,
           [&o](std::uint64_t v) { o.hub.max_unsent_bytes = static_cast<std::size_t>(v); });
  add_uint(app, limits, "--soft-unsent-bytes",
           "unsent outgoing bytes above which typing and presence\n"
           "diffs are skipped, 0 = never (262144)",
           0, 1024ULL * 1024 * 1024,
           [&o](std::uint64_t v) { o.hub.soft_unsent_bytes = static_cast<std::size_t>(v); });
  add_uint(app, limits, "--auth-timeout-ms", "close 4001 when auth has not succeeded by then (10000)", 100,
           3'600'000, [&o](std::uint64_t v) { o.hub.auth_timeout = std::chrono::milliseconds(v); });
  add_uint(app, limits, "--idle-timeout-ms", "close 1001 after this long without a frame (60000)", 1000,
           86'400'000, [&o](std::uint64_t v) { o.hub.idle_timeout = std::chrono::milliseconds(v); });
  add_uint(app, limits, "--max-rooms-per-connection", "rooms one connection may join (100)", 1, 100'000,
           [&o](std::uint64_t v) { o.hub.max_rooms_per_connection = static_cast<std::size_t>(v); });
  add_uint(app, limits, "--max-http-response-bytes",
           "HTTP response bytes waiting to be sent, server-wide;\n"
           "beyond, 503 with Retry-After, 0 = unlimited (67108864)",
           0, 1ULL << 40,
           [&o](std::uint64_t v) { o.max_http_response_bytes = static_cast<std::size_t>(v); });
  add_uint(app, limits, "--max-attachment-bytes",
           "largest file an upload may be (413 beyond) (10485760)", 1, 1ULL << 30,
           [&o](std::uint64_t v) { o.max_attachment_bytes = static_cast<std::size_t>(v); });
  add_uint(app, limits, "--max-upload-memory-bytes",
           "upload bodies and LINE downloads in memory at once, server-wide;\n"
           "beyond, 503 with Retry-After (0 = 4 x --max-attachment-bytes) (0)",
           0, 1ULL << 40,
           [&o](std::uint64_t v) { o.max_upload_memory_bytes = static_cast<std::size_t>(v); });
}

inline void describe(CLI::App& app) {
  livechat_examples::add_help_and_version(app, "usage: livechat-server [options]", 23,
                                          std::string(program) + " " + LIVECHAT_VERSION_STRING, general);
  app.description(
      "Realtime chat rooms over WebSocket (ws://HOST:PORT/api/v1/ws/live-chat)\n"
      "plus a small HTTP API and the demo operator console on the same port.");
  app.footer(
      "Once listening it prints `livechat-server listening on http://HOST:PORT`.\n"
      "SIGINT/SIGTERM close every WebSocket with 1001 and exit 0 (at most ~4.5 s);\n"
      "a second signal exits at once with status 128+signal.\n"
      "Exit codes: 0 clean exit, 1 runtime failure (e.g. port in use), 2 usage error.");
}

}  // namespace detail

inline parse_result parse_options(int argc, const char* const* argv) {
  parse_result r;
  options& o = r.opts;
  bool jwt_flag_seen = false;
  CLI::App app{"", detail::program};
  detail::add_flags(app, o, jwt_flag_seen);
  detail::describe(app);
  if (!livechat_examples::parse(app, argc, argv, r)) return r;

  const auto usage_error = [](const std::string& what) {
    return livechat_examples::usage_error<options>(detail::program, what);
  };
  if (o.hub.soft_unsent_bytes != 0 && o.hub.soft_unsent_bytes >= o.hub.max_unsent_bytes)
    return usage_error("--soft-unsent-bytes (" + std::to_string(o.hub.soft_unsent_bytes) +
                       ") must be below --max-unsent-bytes (" + std::to_string(o.hub.max_unsent_bytes) +
                       "), or 0 to never skip");
  // Clients ping at the announced interval; it must leave room for one
  // late ping before the idle timeout closes them.
  o.hub.heartbeat_interval_ms = static_cast<std::uint32_t>(
      std::min<std::chrono::milliseconds::rep>(25'000, o.hub.idle_timeout.count() / 2));
  // Each node assigns seqs from the store: without a shared one, two
  // nodes would number the same room twice.
  if (!o.broker_url.empty() && o.store != store_kind::postgresql)
    return usage_error("--broker needs a store the nodes share: --store postgresql://...");
  if (o.auth == auth_mode::jwt && o.jwt_secret.empty())
    return usage_error("--auth jwt requires --jwt-secret");
  // Refused rather than ignored: someone who passes a secret but forgets
  // --auth jwt would otherwise run a server that accepts any token.
  if (o.auth == auth_mode::dev && jwt_flag_seen)
    return usage_error("--jwt-secret/--jwt-issuer/--jwt-audience need --auth jwt");
  return r;
}

}  // namespace livechat_server

#endif
