// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_DETAIL_IDS_HPP
#define LIVECHAT_CLIENT_DETAIL_IDS_HPP

// Random client_msg_ids and a UTF-8 check for outgoing text.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>

namespace livechat::client::detail {

/// A generator of 32 lowercase hex digits (128 random bits). Ids only need
/// to be unique per user and room (the server's dedupe key), so a seeded
/// mt19937_64 is plenty; the time and the address of the engine are mixed
/// into the seed because random_device may be deterministic on some
/// platforms, and two sessions must not produce the same sequence.
inline std::function<std::string()> random_id_generator() {
  std::random_device rd;
  const auto ticks =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  auto engine = std::make_shared<std::mt19937_64>();
  const auto addr = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(engine.get()));
  std::seed_seq seed{rd(), rd(), rd(), rd(), static_cast<std::uint32_t>(ticks),
                     static_cast<std::uint32_t>(ticks >> 32), static_cast<std::uint32_t>(addr),
                     static_cast<std::uint32_t>(addr >> 32)};
  engine->seed(seed);
  return [engine] {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(32, '0');
    for (std::size_t half = 0; half < 32; half += 16) {
      std::uint64_t v = (*engine)();
      for (std::size_t i = 0; i < 16; ++i, v >>= 4) s[half + i] = digits[v & 0xfu];
    }
    return s;
  };
}

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, at most
/// U+10FFFF). The server refuses anything else as invalid_json, and such a
/// refusal could not be tied to the message that caused it.
inline bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80u) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0u) == 0xC0u) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0u) == 0xE0u) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8u) == 0xF0u) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 2 && cp < 0x80u) || (len == 3 && cp < 0x800u) || (len == 4 && cp < 0x10000u))
      return false;  // overlong
    if (cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) return false;
    i += len;
  }
  return true;
}

}  // namespace livechat::client::detail

#endif
