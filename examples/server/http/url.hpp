// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_URL_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_URL_HPP

// The parts of a request target the routes read: the one percent-decoder
// (paths of static files, conversation ids, query parameters), query
// parameters, and decimal numbers in them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace livechat_server {

namespace url_detail {
inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace url_detail

/// `%XX` decoding (and `+` as space when `plus_is_space`, for queries);
/// nothing on a malformed escape. A decoded NUL, '/' or '..' is the
/// caller's to refuse.
inline std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = url_detail::hex_value(s[i + 1]), lo = url_detail::hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// Decimal digits only (no sign, no space, no empty string), within uint64.
inline std::optional<std::uint64_t> parse_uint(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

/// One query parameter, percent-decoded. `ok` is false when the query is
/// malformed or names the parameter twice (which one would win is a guess).
struct query_value {
  bool ok = true;
  std::optional<std::string> value;
};

inline query_value query_param(std::string_view query, std::string_view name) {
  query_value out;
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (!key) continue;  // a parameter we cannot even name is not ours
    if (*key != name) continue;
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1),
                                true);
    if (!value || out.value) {
      out.ok = false;
      return out;
    }
    out.value = std::move(*value);
  }
  return out;
}

}  // namespace livechat_server

#endif
