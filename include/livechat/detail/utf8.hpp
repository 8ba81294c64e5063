// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_DETAIL_UTF8_HPP
#define LIVECHAT_DETAIL_UTF8_HPP

// The one UTF-8 decoder of the library, for strings that never go through a
// JSON parser: outgoing message text and ids (client::session), user ids
// taken from tokens (authenticators), command-line text (the examples).
// Incoming frames are not checked here: the codec has RapidJSON validate the
// encoding while it parses, in the same pass.

#include <cstddef>
#include <string_view>

namespace livechat::detail {

/// What decode_utf8 returns for a malformed sequence (above any code point).
inline constexpr char32_t invalid_code_point = 0xFFFFFFFFu;

/// Decodes the code point that starts at `s[i]` (`i < s.size()`) and moves
/// `i` past it, or returns invalid_code_point (and leaves `i` alone) when
/// the bytes there are not well-formed UTF-8 in the sense of RFC 3629: no
/// overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF,
/// no truncated sequence.
inline char32_t decode_utf8(std::string_view s, std::size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80u) {
    ++i;
    return b0;
  }
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;     // below: an overlong form
  if (b0 >= 0xC2u && b0 <= 0xDFu) {  // 0xC0 and 0xC1 could only start overlong forms
    len = 2;
    cp = b0 & 0x1Fu;
    min = 0x80;
  } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
    len = 3;
    cp = b0 & 0x0Fu;
    min = 0x800;
  } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
    len = 4;
    cp = b0 & 0x07u;
    min = 0x10000;
  } else {
    return invalid_code_point;  // a stray continuation byte, or 0xF5..0xFF
  }
  if (s.size() - i < len) return invalid_code_point;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0u) != 0x80u) return invalid_code_point;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) return invalid_code_point;
  i += len;
  return cp;
}

/// True when `s` is well-formed UTF-8 (see decode_utf8). The server closes
/// a connection (1007) on a text frame that is not, and refuses such JSON
/// strings as invalid_json, a refusal that cannot be tied to the message
/// that caused it: so a client checks its own text before sending it.
inline bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size())
    if (decode_utf8(s, i) == invalid_code_point) return false;
  return true;
}

/// True when `s` is well-formed UTF-8 without a control character: C0
/// (< 0x20), DEL, or C1 (U+0080..U+009F). A user id is echoed into presence
/// lists, logs and operators' screens, where controls could forge lines or
/// terminal escapes (C1 includes the 8-bit CSI, U+009B).
inline bool is_printable_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const char32_t cp = decode_utf8(s, i);
    if (cp == invalid_code_point || cp < 0x20u || (cp >= 0x7Fu && cp <= 0x9Fu)) return false;
  }
  return true;
}

/// Number of code points in valid UTF-8 (the unit of every length limit in
/// PROTOCOL.md). Counts lead bytes only, so it is cheap and never fails; on
/// invalid input the count means nothing.
inline std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0u) != 0x80u;
  return n;
}

}  // namespace livechat::detail

#endif
