// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_CLIENT_OPTIONS_HPP
#define LIVECHAT_EXAMPLES_CLIENT_OPTIONS_HPP

// The livechat-client command line. Parsing is a pure function of argv (and
// of the LIVECHAT_TOKEN value main() passes in), so every mistake is
// reported before a socket is opened.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <livechat/protocol/room_name.hpp>
#include <livechat/version.hpp>

namespace livechat_client {

/// Process exit codes (also listed by --help).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;      ///< runtime failure (gave up reconnecting, I/O error...)
inline constexpr int usage = 2;        ///< bad command line
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

struct parse_result {
  options opts;
  std::optional<int> exit_code;  ///< set: print `message` and exit with it
  std::string message;           ///< stdout when exit_code is 0, else stderr
};

inline std::string usage() {
  return "usage: livechat-client [options] COMMAND\n"
         "\n"
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
         "or 1 when a message of ours is still unacknowledged.\n"
         "\n"
         "options (each also accepted as --flag=value, before or after the command;\n"
         "`--` ends the options):\n"
         "  --url URL          server WebSocket URL\n"
         "                     (default ws://127.0.0.1:8080/api/v1/ws/live-chat)\n"
         "  --token T          token sent in `auth` (default: $LIVECHAT_TOKEN, else\n"
         "                     'livechat-client'; --auth dev takes it as the user id)\n"
         "  --timeout SECONDS  send/chat: give up after this long (default 30)\n"
         "  --rate N           send at most N frames per second (default 15) ...\n"
         "  --burst N          ... after a burst of up to N (default 30). A frame the\n"
         "                     server refuses (rate_limited) makes it pause 1 s and halve\n"
         "                     its pace for this connection; a refused message is sent\n"
         "                     again with the same id (stored once)\n"
         "  --quiet, -q        do not report connection state changes on stderr\n"
         "  --help, -h         print this help and exit\n"
         "  --version          print the version and exit\n"
         "\n"
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
         "            4 timeout (send/chat: not every message was acknowledged)\n";
}

namespace detail {

inline parse_result usage_error(std::string what) {
  parse_result r;
  r.exit_code = exit_code::usage;
  r.message = "livechat-client: " + what + "\ntry 'livechat-client --help' for the options\n";
  return r;
}

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

inline std::optional<std::size_t> parse_count(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  std::size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  if (v == 0 || v > max) return std::nullopt;
  return v;
}

inline bool is_value_flag(std::string_view name) noexcept {
  return name == "--url" || name == "--token" || name == "--timeout" || name == "--rate" ||
         name == "--burst";
}

inline std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0u) != 0x80u;
  return n;
}

/// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above
/// U+10FFFF). The server closes the connection (1007) on a text frame that
/// is not, and a queued message would then be resent, and refused, forever.
inline bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 1;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;  // overlong
      if (b0 == 0xED) hi = 0x9F;  // surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;  // overlong
      if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return false;
    }
    i += len;
  }
  return true;
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
  if (!detail::is_valid_utf8(text)) return "the text is not valid UTF-8";
  const std::string_view t = trimmed(text);
  if (t.empty()) return "the text is empty";
  if (detail::utf8_length(t) > max_text_length) return "the text is longer than 5000 characters";
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
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      r.exit_code = exit_code::ok;
      r.message = usage();
      return r;
    }
    if (arg == "--version") {
      r.exit_code = exit_code::ok;
      r.message = std::string("livechat-client ") + LIVECHAT_VERSION_STRING + "\n";
      return r;
    }
    if (arg == "--quiet" || arg == "-q") {
      o.quiet = true;
      continue;
    }

    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const std::string flag(name);
    if (!detail::is_value_flag(name)) return detail::usage_error("unknown option '" + std::string(arg) + "'");
    std::string value;
    if (inline_value) {
      value = std::string(*inline_value);
    } else if (i + 1 < argc && !detail::is_value_flag(argv[i + 1])) {
      value = argv[++i];
    } else {
      return detail::usage_error(flag + " needs a value");
    }
    if (value.empty()) return detail::usage_error(flag + " needs a non-empty value");

    if (name == "--url") {
      if (value.rfind("ws://", 0) != 0)
        return detail::usage_error("--url must start with ws:// (no TLS in this client), got '" + value + "'");
      o.url = value;
    } else if (name == "--token") {
      o.token = value;  // never echoed back in any message
    } else if (name == "--timeout") {
      auto t = detail::parse_seconds(value);
      if (!t) return detail::usage_error("--timeout must be a number of seconds (0 < s <= 86400), got '" + value + "'");
      o.timeout = *t;
    } else if (name == "--rate" || name == "--burst") {
      auto n = detail::parse_count(value, 1'000'000);
      if (!n) return detail::usage_error(flag + " must be a number from 1 to 1000000, got '" + value + "'");
      (name == "--rate" ? o.rate : o.burst) = *n;
    }
  }

  if (positional.empty()) return detail::usage_error("missing COMMAND (tail, send or chat)");
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
    return detail::usage_error("unknown command '" + cmd + "' (tail, send or chat)");
  }
  if (positional.size() < want)
    return detail::usage_error(cmd + (want == 3 ? " needs ROOM and TEXT" : " needs ROOM"));
  if (positional.size() > want)
    return detail::usage_error("unexpected argument '" + positional[want] + "' after " + cmd);

  auto room = room_argument(positional[1]);
  if (!room)
    return detail::usage_error("'" + positional[1] +
                               "' is not a room: use conversation:ID or ID, ID made of "
                               "[A-Za-z0-9_.@:-], at most 128 characters");
  o.room = std::move(*room);
  if (o.cmd == command::send) {
    o.text = positional[2];
    if (auto why = text_problem(o.text); !why.empty()) return detail::usage_error(why);
  }
  return r;
}

}  // namespace livechat_client

#endif
