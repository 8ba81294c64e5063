// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_CLIENT_OPTIONS_HPP
#define LIVECHAT_EXAMPLES_CLIENT_OPTIONS_HPP

// The livechat-client command line, on CLI11 (../common/command_line.hpp).
// Parsing is a pure function of argv (and of the LIVECHAT_TOKEN value main()
// passes in), so every mistake is reported before a socket is opened.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include <livechat/protocol/room_name.hpp>
#include <livechat/text.hpp>
#include <livechat/version.hpp>

#include "../common/command_line.hpp"

namespace livechat_client {

/// Process exit codes (also listed by --help).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;      ///< runtime failure (gave up reconnecting, I/O error...)
inline constexpr int usage = livechat_examples::exit_usage;  ///< bad command line
inline constexpr int auth_failed = 3;  ///< the server rejected the token
inline constexpr int timeout = 4;      ///< send/chat: not acknowledged within --timeout
}  // namespace exit_code

enum class command { tail, send, chat };

inline constexpr const char* default_url = "ws://127.0.0.1:8080/api/v1/ws/live-chat";
inline constexpr const char* default_token = "livechat-client";
inline constexpr std::size_t max_text_length = 5000;  ///< code points, as the server checks

struct options {
  std::string url = default_url;
  std::string token = default_token;
  bool quiet = false;
  /// send: until the ack; chat: after EOF on stdin, for the pending acks.
  std::chrono::milliseconds timeout{30'000};
  /// Client-side pacing of outgoing frames (session_settings::send_per_second
  /// and send_burst): below the server's per-connection rate limit.
  std::size_t rate = 15;
  std::size_t burst = 30;
  command cmd = command::tail;
  std::string room;
  std::string text;  ///< send
};

using parse_result = livechat_examples::parse_result<options>;

namespace detail {

// add_value, add_switch, add_uint, bad_value: common/command_line.hpp.
using namespace livechat_examples;

inline constexpr const char* program = "livechat-client";
// One line: CLI11 refuses a group name with a newline.
inline constexpr const char* general =
    "options (each also as --flag=value, before or after the command; `--` ends them)";

/// Seconds as digits with an optional fraction ("30", "0.5"); positive and
/// at most a day, so a typo cannot mean "forever" or "never".
inline std::optional<std::chrono::milliseconds> parse_seconds(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  std::uint64_t whole = 0;
  std::uint64_t millis = 0;
  std::size_t i = 0;
  for (; i < s.size() && s[i] != '.'; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    whole = whole * 10 + static_cast<std::uint64_t>(s[i] - '0');
  }
  if (i == 0) return std::nullopt;
  if (i < s.size()) {  // the fraction: up to milliseconds
    ++i;
    if (i == s.size()) return std::nullopt;
    std::uint64_t scale = 100;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      millis += static_cast<std::uint64_t>(s[i] - '0') * scale;
      scale /= 10;
    }
  }
  const std::uint64_t total = whole * 1000 + millis;
  if (total == 0 || total > 86'400'000) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(total));
}

/// Every flag, in the order --help lists them, writing into `o`; the
/// command and its arguments into `positional`.
inline void add_flags(CLI::App& app, options& o, std::vector<std::string>& positional) {
  add_value(app, "--url", "URL",
            "server WebSocket URL\n"
            "(default ws://127.0.0.1:8080/api/v1/ws/live-chat)",
            [&o](const std::string& v) {
              if (v.rfind("ws://", 0) != 0)
                bad_value("--url must start with ws:// (no TLS in this client), got '" + v + "'");
              o.url = v;
            })
      ->group(general);
  add_value(app, "--token", "T",
            "token sent in `auth` (default: $LIVECHAT_TOKEN, else\n"
            "'livechat-client'; --auth dev takes it as the user id)",
            [&o](const std::string& v) { o.token = v; })  // never echoed back in any message
      ->group(general);
  add_value(app, "--timeout", "SECONDS", "send/chat: give up after this long (default 30)",
            [&o](const std::string& v) {
              const auto t = parse_seconds(v);
              if (!t) bad_value("--timeout must be a number of seconds (0 < s <= 86400), got '" + v + "'");
              o.timeout = *t;
            })
      ->group(general);
  const auto count = [](std::size_t& out) {
    return [&out](std::uint64_t n) { out = static_cast<std::size_t>(n); };
  };
  add_uint(app, general, "--rate", "send at most N frames per second (default 15) ...", 1,
           1'000'000, count(o.rate));
  add_uint(app, general, "--burst",
           "... after a burst of up to N (default 30). A frame the\n"
           "server refuses (rate_limited) makes it pause 1 s and halve\n"
           "its pace for this connection; a refused message is sent\n"
           "again with the same id (stored once)",
           1, 1'000'000, count(o.burst));
  add_switch(app, "--quiet,-q", "do not report connection state changes on stderr", [&o] { o.quiet = true; })
      ->group(general);

  // COMMAND ROOM [TEXT], anywhere among the flags. Three single values
  // rather than one list: CLI11 would split a list item such as "[a,b]",
  // and TEXT is anything the user wants to say.
  // (In the options' group so that CLI11 does not open an empty one.)
  for (const char* name : {"COMMAND", "ROOM", "TEXT"})
    app.add_option_function<std::string>(name, [&positional](const std::string& v) { positional.push_back(v); })
        ->group(general);
}

inline void describe(CLI::App& app) {
  livechat_examples::add_help_and_version(app, "usage: livechat-client [options] COMMAND", 21,
                                          std::string(program) + " " + LIVECHAT_VERSION_STRING, general);
  app.description(
      "A reconnecting command-line client for livechat-server: it resumes rooms\n"
      "after a disconnect (no gap, no duplicate) and queues messages while offline.\n"
      "\n"
      "commands:\n"
      "  tail ROOM         print every message of ROOM once, in seq order, and keep\n"
      "                    following it across disconnects and server restarts\n"
      "  send ROOM TEXT    send one message; exits 0 once the server acknowledged it\n"
      "  chat ROOM         each line of stdin becomes a message; room events are\n"
      "                    printed as lines. At EOF it waits (at most --timeout) for\n"
      "                    the pending acknowledgements, then exits\n"
      "ROOM is `conversation:ID` or just ID. SIGINT/SIGTERM end any command: exit 0,\n"
      "or 1 when a message of ours is still unacknowledged.");
  app.footer(
      "output on stdout, one line per item:\n"
      "  SEQ<TAB>SENDER_TYPE:SENDER_ID<TAB>TEXT\n"
      "                        a message of ROOM (tail, chat);\n"
      "                        in TEXT a backslash, TAB, CR and LF are written as\n"
      "                        \\\\, \\t, \\r and \\n\n"
      "  ack CLIENT_MSG_ID SEQ one of our messages was stored as SEQ (send, chat)\n"
      "  chat only:\n"
      "  dropped CLIENT_MSG_ID REASON\n"
      "                        one of ours was given up: overflow, expired,\n"
      "                        too_many_retries, too_large, rejected or cancelled\n"
      "  history_reset ROOM    the server lost the room's history (a new epoch):\n"
      "                        seq starts over (tail says so on stderr)\n"
      "  typing ROOM USER on|off, joined ROOM USER, left ROOM USER,\n"
      "  session ROOM STATUS [CLAIMED_BY], read ROOM USER SEQ\n"
      "State changes and errors go to stderr (state changes not with --quiet).\n"
      "\n"
      "exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 authentication failed,\n"
      "            4 timeout (send/chat: not every message was acknowledged)");
}

}  // namespace detail

/// What the server stores: the text without leading and trailing space, tab,
/// CR and LF (PROTOCOL.md, `send_message`).
inline std::string_view trimmed(std::string_view s) noexcept {
  constexpr std::string_view ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

/// Why the server would refuse `text` as a message, or "" when it is fine.
inline std::string text_problem(std::string_view text) {
  if (!livechat::is_valid_utf8(text)) return "the text is not valid UTF-8";
  const std::string_view t = trimmed(text);
  if (t.empty()) return "the text is empty";
  if (livechat::utf8_length(t) > max_text_length) return "the text is longer than 5000 characters";
  return {};
}

/// `conversation:ID` as is, or ID turned into `conversation:ID`.
inline std::optional<std::string> room_argument(std::string_view arg) {
  if (livechat::is_valid_room(arg)) return std::string(arg);
  if (livechat::is_valid_conversation_id(arg)) return livechat::room_of(arg);
  return std::nullopt;
}

/// `env_token`: the value of $LIVECHAT_TOKEN, or nullptr.
inline parse_result parse_options(int argc, const char* const* argv, const char* env_token = nullptr) {
  parse_result r;
  options& o = r.opts;
  if (env_token != nullptr && *env_token != '\0') o.token = env_token;

  std::vector<std::string> positional;
  CLI::App app{"", detail::program};
  detail::add_flags(app, o, positional);
  detail::describe(app);
  if (!livechat_examples::parse(app, argc, argv, r)) return r;
  const auto usage_error = [](const std::string& what) {
    return livechat_examples::usage_error<options>(detail::program, what);
  };

  if (positional.empty()) return usage_error("missing COMMAND (tail, send or chat)");
  const std::string& cmd = positional[0];
  std::size_t want = 0;
  if (cmd == "tail") {
    o.cmd = command::tail;
    want = 2;
  } else if (cmd == "send") {
    o.cmd = command::send;
    want = 3;
  } else if (cmd == "chat") {
    o.cmd = command::chat;
    want = 2;
  } else {
    return usage_error("unknown command '" + cmd + "' (tail, send or chat)");
  }
  if (positional.size() < want) return usage_error(cmd + (want == 3 ? " needs ROOM and TEXT" : " needs ROOM"));
  if (positional.size() > want)
    return usage_error("unexpected argument '" + positional[want] + "' after " + cmd);

  auto room = room_argument(positional[1]);
  if (!room)
    return usage_error("'" + positional[1] +
                       "' is not a room: use conversation:ID or ID, ID made of "
                       "[A-Za-z0-9_.@:-], at most 128 characters");
  o.room = std::move(*room);
  if (o.cmd == command::send) {
    o.text = positional[2];
    if (auto why = text_problem(o.text); !why.empty()) return usage_error(why);
  }
  return r;
}

}  // namespace livechat_client

#endif
