// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_TIMESTAMP_HPP
#define LIVECHAT_PROTOCOL_TIMESTAMP_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace livechat {

/// Wall-clock instant with millisecond resolution, as the wire carries it.
using system_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

inline system_time to_system_time(std::chrono::system_clock::time_point t) noexcept {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(t);
}

namespace detail {
// Howard Hinnant's civil-calendar algorithms: no gmtime_r, no locale, no
// allocation, valid for the whole proleptic Gregorian calendar.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil_date {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

constexpr civil_date civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

inline void put_digits(char* out, std::int64_t value, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}
}  // namespace detail

/// Characters in a timestamp as format_timestamp writes it.
constexpr std::size_t timestamp_length = 24;

/// Writes `t` as PROTOCOL.md's timestamp (`2026-11-25T20:24:25.123Z`,
/// UTC, milliseconds) into `out`, exactly `timestamp_length` bytes, no
/// terminator. Years outside 0000-9999 are clamped into range. The
/// encoder's form: a frame carries up to three of them, and a returned
/// std::string of 24 characters is one heap block each (past the small
/// string buffer).
inline void format_timestamp_to(system_time t, char* out) noexcept {
  const std::int64_t ms = t.time_since_epoch().count();
  // A message's frames carry the same millisecond two or three times
  // (created_at, each frame's timestamp): the last one formatted is kept,
  // per thread, and copied when asked again.
  struct last_formatted {
    std::int64_t ms = 0;
    bool valid = false;
    char text[timestamp_length];
  };
  static thread_local last_formatted last;
  if (last.valid && last.ms == ms) {
    std::memcpy(out, last.text, timestamp_length);
    return;
  }
  std::int64_t days = ms / 86400000;
  std::int64_t rem = ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    --days;
  }
  detail::civil_date date = detail::civil_from_days(days);
  if (date.year < 0) date = {0, 1, 1};
  if (date.year > 9999) date = {9999, 12, 31};
  char* p = out;
  detail::put_digits(p, date.year, 4);
  p[4] = '-';
  detail::put_digits(p + 5, date.month, 2);
  p[7] = '-';
  detail::put_digits(p + 8, date.day, 2);
  p[10] = 'T';
  detail::put_digits(p + 11, rem / 3600000, 2);
  p[13] = ':';
  detail::put_digits(p + 14, rem / 60000 % 60, 2);
  p[16] = ':';
  detail::put_digits(p + 17, rem / 1000 % 60, 2);
  p[19] = '.';
  detail::put_digits(p + 20, rem % 1000, 3);
  p[23] = 'Z';
  std::memcpy(last.text, out, timestamp_length);
  last.ms = ms;
  last.valid = true;
}

/// Formats `t` as PROTOCOL.md's timestamp: `2026-11-25T20:24:25.123Z`
/// (UTC, milliseconds). Years outside 0000-9999 are clamped into range.
inline std::string format_timestamp(system_time t) {
  std::string s(timestamp_length, '0');
  format_timestamp_to(t, s.data());
  return s;
}

/// Parses exactly the format written by format_timestamp; anything else
/// (another offset, no milliseconds, out-of-range fields) is std::nullopt.
inline std::optional<system_time> parse_timestamp(std::string_view s) noexcept {
  if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != '.' || s[23] != 'Z')
    return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, std::int64_t& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  std::int64_t y, mo, d, h, mi, se, ms;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) ||
      !num(17, 2, se) || !num(20, 3, ms))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) return std::nullopt;
  const std::int64_t days =
      detail::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (detail::civil_from_days(days).day != static_cast<unsigned>(d)) return std::nullopt;  // Feb 30
  const std::int64_t total = ((days * 24 + h) * 60 + mi) * 60 * 1000 + se * 1000 + ms;
  return system_time(std::chrono::milliseconds(total));
}

}  // namespace livechat

#endif
