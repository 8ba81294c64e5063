// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_LOG_SINK_HPP
#define LIVECHAT_EXAMPLES_SERVER_LOG_SINK_HPP

// The one place livechat-server's log lines go (its own and websocketpp's,
// through websocketpp_logger.hpp): a level filter, one line per event in
// key=value form, and a rate limit per kind of event.
//
//   ts=2026-11-25T20:24:25.123Z level=warn event=handshake_refused remote=127.0.0.1:5555 status=403
//
// Values are written bare when they are printable ASCII without spaces,
// quotes, `=` or backslashes, otherwise quoted with C escapes (\" \\ \n \r
// \t, \xHH for every other control byte and every byte >= 0x80), and cut at
// 256 bytes: a peer-supplied value can neither start a line of its own nor
// pass for another field, nor make a line long.
//
// The rate limit: at most `lines_per_window` lines per event kind per window
// (1 s); what is over is counted, and once the window is over one summary
// line says how many were left out (`event=log_suppressed kind=K
// suppressed=N`). A client that makes the server log on every frame gets a
// bounded number of lines per second, whatever its rate. The kinds are the
// server's event names, a fixed set, so the table stays small.
//
// A small sink of our own rather than spdlog: see docs/architecture.md
// ("Logging").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <livechat/protocol/timestamp.hpp>

namespace livechat_server::logging {

enum class level : std::uint8_t { trace, debug, info, warn, error, off };

inline constexpr std::string_view level_name(level l) noexcept {
  switch (l) {
    case level::trace: return "trace";
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::off: return "off";
  }
  return "off";
}

/// The spelling of --log-level: trace, debug, info, warn, error or off.
inline std::optional<level> parse_level(std::string_view s) noexcept {
  for (level l : {level::trace, level::debug, level::info, level::warn, level::error, level::off})
    if (s == level_name(l)) return l;
  return std::nullopt;
}

/// One `key=value` of a line. Text is viewed, not copied: a field lives only
/// for the call it is passed to. Numbers are formatted only when the line is
/// written, so a filtered or suppressed line costs no formatting.
class field {
 public:
  field(std::string_view key, std::string_view text) noexcept : key_(key), text_(text) {}
  field(std::string_view key, const char* text) noexcept
      : key_(key), text_(text != nullptr ? text : "") {}
  field(std::string_view key, const std::string& text) noexcept : key_(key), text_(text) {}
  template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
  field(std::string_view key, Int n) noexcept : key_(key), is_number_(true) {
    if constexpr (std::is_signed_v<Int>) {
      negative_ = n < 0;
      magnitude_ = negative_ ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
    } else {
      magnitude_ = static_cast<std::uint64_t>(n);
    }
  }
  field(std::string_view key, bool b) noexcept : key_(key), text_(b ? "true" : "false") {}

  std::string_view key() const noexcept { return key_; }
  /// Appends `key=value`, the value escaped (see the top of this file).
  void append_to(std::string& out) const;

 private:
  std::string_view key_;
  std::string_view text_;
  std::uint64_t magnitude_ = 0;
  bool is_number_ = false;
  bool negative_ = false;
};

/// Longest value written; a longer one is cut and ends in `...`.
inline constexpr std::size_t max_value_bytes = 256;

/// Appends `v` as a value: bare if it needs no quoting, else quoted and
/// escaped, and never more than max_value_bytes of it.
inline void append_value(std::string& out, std::string_view v) {
  const bool cut = v.size() > max_value_bytes;
  if (cut) v = v.substr(0, max_value_bytes);
  bool bare = !v.empty() && !cut;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=' || c == '\\') {
      bare = false;
      break;
    }
  }
  if (bare) {
    out += v;
    return;
  }
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += hex[u >> 4];
          out += hex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  if (cut) out += "...";
  out += '"';
}

inline void field::append_to(std::string& out) const {
  out += key_;
  out += '=';
  if (!is_number_) return append_value(out, text_);
  char digits[24];
  std::size_t n = 0;
  std::uint64_t m = magnitude_;
  do {
    digits[n++] = static_cast<char>('0' + m % 10);
    m /= 10;
  } while (m != 0);
  if (negative_) out += '-';
  while (n != 0) out += digits[--n];
}

/// The rate limit of each kind of event.
struct rate_limit {
  std::size_t lines_per_window = 10;  ///< 0: no limit
  std::chrono::milliseconds window{1000};
};

/// Writes a line (ending in '\n') to stderr in one call, so lines written
/// from two threads never interleave and each costs one write(2) (stderr is
/// unbuffered).
inline void write_stderr(std::string_view line) noexcept {
  std::fwrite(line.data(), 1, line.size(), stderr);
}

/// @par Thread Safety
/// Every member may be called from any thread (one mutex; the server writes
/// from the Asio thread, the LINE push client may report from another).
class sink {
 public:
  using clock = std::chrono::steady_clock;
  using writer = std::function<void(std::string_view line)>;

  explicit sink(level min = level::info, rate_limit limit = {}, writer out = write_stderr)
      : min_(min), limit_(limit), out_(std::move(out)) {}

  sink(const sink&) = delete;
  sink& operator=(const sink&) = delete;
  ~sink() { flush_suppressed(true); }

  level min_level() const noexcept { return min_; }
  bool enabled(level l) const noexcept { return l != level::off && l >= min_; }

  /// Tests: a steady clock to drive the windows, and lines without `ts=`.
  void set_clock(std::function<clock::time_point()> now) { now_ = std::move(now); }
  void set_timestamps(bool on) noexcept { timestamps_ = on; }

  /// One line for `event` (also its rate-limit kind), unless its level is
  /// filtered out or its kind is over its limit. Never throws: a log line
  /// that cannot be written is lost, the caller carries on.
  void write(level l, std::string_view event, std::initializer_list<field> fields = {}) noexcept {
    if (!enabled(l)) return;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!admit(l, event)) return;
      emit(l, event, fields);
    } catch (...) {
    }
  }
  void trace(std::string_view event, std::initializer_list<field> f = {}) noexcept { write(level::trace, event, f); }
  void debug(std::string_view event, std::initializer_list<field> f = {}) noexcept { write(level::debug, event, f); }
  void info(std::string_view event, std::initializer_list<field> f = {}) noexcept { write(level::info, event, f); }
  void warn(std::string_view event, std::initializer_list<field> f = {}) noexcept { write(level::warn, event, f); }
  void error(std::string_view event, std::initializer_list<field> f = {}) noexcept { write(level::error, event, f); }

  /// Writes the summary of every window that has ended with lines left
  /// out (all of them if `all`, at exit) and forgets quiet kinds. The
  /// server calls it on its 100 ms tick, so a summary follows the end of a
  /// flood even when nothing else is logged.
  void flush_suppressed(bool all = false) noexcept {
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto t = now();
      for (auto it = windows_.begin(); it != windows_.end();) {
        if (all || t - it->second.start >= limit_.window) {
          summarize(it->first, it->second);
          it = windows_.erase(it);
        } else {
          ++it;
        }
      }
    } catch (...) {
    }
  }

 private:
  struct window {
    clock::time_point start;
    std::size_t lines = 0;
    std::size_t suppressed = 0;
    level highest = level::trace;  ///< of the suppressed lines
  };

  clock::time_point now() const { return now_ ? now_() : clock::now(); }

  // Under mutex_. True: write the line.
  bool admit(level l, std::string_view event) {
    if (limit_.lines_per_window == 0) return true;
    const auto t = now();
    auto it = windows_.find(event);
    if (it == windows_.end()) {
      it = windows_.emplace(std::string(event), window{}).first;
      it->second.start = t;
    } else if (t - it->second.start >= limit_.window) {
      summarize(it->first, it->second);
      it->second = window{};
      it->second.start = t;
    }
    window& w = it->second;
    if (w.lines < limit_.lines_per_window) {
      ++w.lines;
      return true;
    }
    ++w.suppressed;
    if (l > w.highest) w.highest = l;
    return false;
  }

  // Under mutex_.
  void summarize(std::string_view kind, const window& w) {
    if (w.suppressed == 0) return;
    const auto ms = static_cast<std::int64_t>(limit_.window.count());
    emit(w.highest, "log_suppressed",
         {field("kind", kind), field("suppressed", w.suppressed), field("window_ms", ms)});
  }

  // Under mutex_.
  void emit(level l, std::string_view event, std::initializer_list<field> fields) {
    std::string line;
    line.reserve(128);
    if (timestamps_) {
      line += "ts=";
      line += livechat::format_timestamp(
          livechat::to_system_time(std::chrono::system_clock::now()));
      line += ' ';
    }
    line += "level=";
    line += level_name(l);
    line += " event=";
    append_value(line, event);
    for (const field& f : fields) {
      line += ' ';
      f.append_to(line);
    }
    line += '\n';
    if (out_) out_(line);
  }

  const level min_;
  const rate_limit limit_;
  const writer out_;
  std::function<clock::time_point()> now_;
  bool timestamps_ = true;
  std::mutex mutex_;
  // Ordered with a transparent comparator so that admit() looks a kind up
  // by its string_view: a suppressed line (one per operator message on a
  // server without a LINE token) then allocates nothing.
  std::map<std::string, window, std::less<>> windows_;
};

}  // namespace livechat_server::logging

#endif
