// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TESTS_FUZZ_FUZZ_CHECK_HPP
#define LIVECHAT_TESTS_FUZZ_FUZZ_CHECK_HPP

// What the fuzz harnesses share: a check that aborts (libFuzzer reports an
// abort as a crash and keeps the input; the replay runner dies with it, so
// the ctest case fails), and an independent UTF-8 validator for the
// "everything we hand out is valid UTF-8" invariants.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace livechat_fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
  std::abort();
}

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
/// U+10FFFF. Written apart from the library's own checks on purpose.
inline bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0u) == 0xC0u) {
      len = 2;
      cp = b & 0x1Fu;
    } else if ((b & 0xF0u) == 0xE0u) {
      len = 3;
      cp = b & 0x0Fu;
    } else if ((b & 0xF8u) == 0xF0u) {
      len = 4;
      cp = b & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace livechat_fuzz

#define LIVECHAT_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::livechat_fuzz::fail(#cond, __FILE__, __LINE__))

#endif
