// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/detail/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_utf8 {

using livechat::detail::decode_utf8;
using livechat::detail::invalid_code_point;
using livechat::detail::is_printable_utf8;
using livechat::detail::is_valid_utf8;
using livechat::detail::utf8_length;

namespace {

std::string bytes(std::initializer_list<unsigned> list) {
  std::string s;
  for (unsigned b : list) s += static_cast<char>(b);
  return s;
}

/// The oracle: RapidJSON's table-driven validator (the one the codec runs
/// on incoming frames), written independently of decode_utf8.
bool rapidjson_accepts(std::string_view s) {
  struct null_stream {
    void Put(char) {}
  } sink;
  rapidjson::MemoryStream in(s.data(), s.size());
  while (in.Tell() < s.size())
    if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
  return true;
}

/// Encodes a code point the textbook way (no validity check), so the
/// decoder can be run over every scalar value and every surrogate.
std::string encode(std::uint32_t cp) {
  std::string s;
  auto put = [&s](std::uint32_t b) { s += static_cast<char>(static_cast<unsigned char>(b)); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6));
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

TEST_CASE("utf8: decode_utf8 returns each code point and moves past it", "[utf8]") {
  SECTION("every scalar value round-trips; surrogates are refused") {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
      const std::string s = encode(cp);
      std::size_t i = 0;
      const char32_t got = decode_utf8(s, i);
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        if (got != invalid_code_point || i != 0) FAIL("surrogate accepted: " << cp);
      } else if (got != cp || i != s.size()) {
        FAIL("U+" << std::hex << cp << " decoded as " << static_cast<std::uint32_t>(got));
      }
    }
  }
  SECTION("a sequence in the middle of a string") {
    const std::string s = "a" + bytes({0xE2, 0x82, 0xAC}) + "b";  // a€b
    std::size_t i = 1;
    CHECK(decode_utf8(s, i) == U'\u20AC');
    CHECK(i == 4);
    CHECK(decode_utf8(s, i) == U'b');
    CHECK(i == 5);
  }
  SECTION("malformed sequences leave the position alone") {
    for (const std::string& s : {bytes({0x80}), bytes({0xC0, 0xAF}), bytes({0xC3}), bytes({0xE0, 0x80, 0xAF}),
                                 bytes({0xED, 0xA0, 0x80}), bytes({0xF4, 0x90, 0x80, 0x80}), bytes({0xF5, 0x80, 0x80, 0x80}),
                                 bytes({0xFF}), bytes({0xE2, 0x82}), bytes({0xE2, 0x28, 0xA1})}) {
      std::size_t i = 0;
      CHECK(decode_utf8(s, i) == invalid_code_point);
      CHECK(i == 0);
    }
  }
}

TEST_CASE("utf8: is_valid_utf8 is RFC 3629", "[utf8]") {
  SECTION("valid text") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("hello"));
    CHECK(is_valid_utf8(std::string_view("a\0b", 3)));  // NUL is a code point
    CHECK(is_valid_utf8(bytes({0xC3, 0xA9})));              // é
    CHECK(is_valid_utf8(bytes({0xE3, 0x81, 0x82})));        // あ
    CHECK(is_valid_utf8(bytes({0xF0, 0x9F, 0x98, 0x80})));  // U+1F600
    CHECK(is_valid_utf8(bytes({0xEF, 0xBF, 0xBF})));        // U+FFFF
    CHECK(is_valid_utf8(bytes({0xF4, 0x8F, 0xBF, 0xBF})));  // U+10FFFF, the last one
  }
  SECTION("boundaries of each length") {
    CHECK(is_valid_utf8(bytes({0x7F})));
    CHECK(is_valid_utf8(bytes({0xC2, 0x80})));
    CHECK(is_valid_utf8(bytes({0xDF, 0xBF})));
    CHECK(is_valid_utf8(bytes({0xE0, 0xA0, 0x80})));
    CHECK(is_valid_utf8(bytes({0xED, 0x9F, 0xBF})));  // U+D7FF, just below the surrogates
    CHECK(is_valid_utf8(bytes({0xEE, 0x80, 0x80})));  // U+E000, just above
    CHECK(is_valid_utf8(bytes({0xF0, 0x90, 0x80, 0x80})));
  }
  SECTION("overlong forms") {
    CHECK_FALSE(is_valid_utf8(bytes({0xC0, 0x80})));  // NUL in two bytes
    CHECK_FALSE(is_valid_utf8(bytes({0xC1, 0xBF})));
    CHECK_FALSE(is_valid_utf8(bytes({0xE0, 0x9F, 0xBF})));
    CHECK_FALSE(is_valid_utf8(bytes({0xF0, 0x8F, 0xBF, 0xBF})));
  }
  SECTION("surrogates, above U+10FFFF, bytes that never appear") {
    CHECK_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0x80})));  // U+D800
    CHECK_FALSE(is_valid_utf8(bytes({0xED, 0xBF, 0xBF})));  // U+DFFF
    CHECK_FALSE(is_valid_utf8(bytes({0xF4, 0x90, 0x80, 0x80})));
    for (unsigned b = 0xF5; b <= 0xFF; ++b) CHECK_FALSE(is_valid_utf8(bytes({b, 0x80, 0x80, 0x80})));
  }
  SECTION("truncated and interrupted sequences, stray continuation bytes") {
    CHECK_FALSE(is_valid_utf8(bytes({0x80})));
    CHECK_FALSE(is_valid_utf8("ok" + bytes({0xC3})));
    CHECK_FALSE(is_valid_utf8(bytes({0xE3, 0x81})));
    CHECK_FALSE(is_valid_utf8(bytes({0xF0, 0x9F, 0x98})));
    CHECK_FALSE(is_valid_utf8(bytes({0xC3, 0x41})));
    CHECK_FALSE(is_valid_utf8(bytes({0xE3, 0x81, 0x41})));
    CHECK_FALSE(is_valid_utf8(bytes({0xC3, 0xA9, 0xA9})));
  }
  SECTION("agrees with RapidJSON on every string of one or two bytes, and of three from a lead byte") {
    // 4.3 million strings: every lead byte with every possible tail, so no
    // range boundary is left to the hand-picked cases above.
    std::size_t disagreements = 0;
    auto compare = [&disagreements](std::initializer_list<unsigned> list) {
      const std::string p = bytes(list);
      if (is_valid_utf8(p) != rapidjson_accepts(p)) ++disagreements;
    };
    for (unsigned b0 = 0; b0 <= 0xFF; ++b0) {
      compare({b0});
      for (unsigned b1 = 0; b1 <= 0xFF; ++b1) {
        compare({b0, b1});
        if (b0 >= 0xC0)
          for (unsigned b2 = 0; b2 <= 0xFF; ++b2) compare({b0, b1, b2});
      }
    }
    CHECK(disagreements == 0);
  }
  SECTION("agrees with RapidJSON on four-byte sequences around every lead byte") {
    std::size_t disagreements = 0;
    for (unsigned b0 = 0xE0; b0 <= 0xFF; ++b0)
      for (unsigned b1 = 0; b1 <= 0xFF; ++b1)
        for (unsigned b2 : {0x00u, 0x7Fu, 0x80u, 0xBFu, 0xC0u})
          for (unsigned b3 : {0x00u, 0x80u, 0xBFu, 0xC0u, 0xFFu}) {
            const std::string p = bytes({b0, b1, b2, b3});
            if (is_valid_utf8(p) != rapidjson_accepts(p)) ++disagreements;
          }
    CHECK(disagreements == 0);
  }
}

TEST_CASE("utf8: is_printable_utf8 also refuses control characters", "[utf8]") {
  CHECK(is_printable_utf8(""));
  CHECK(is_printable_utf8("alice smith ~"));
  CHECK(is_printable_utf8(bytes({0xC2, 0xA0})));  // U+00A0, the first after C1
  CHECK(is_printable_utf8(bytes({0xE3, 0x81, 0x82})));
  for (unsigned c = 0; c < 0x20; ++c) CHECK_FALSE(is_printable_utf8("a" + bytes({c}) + "b"));
  CHECK_FALSE(is_printable_utf8(bytes({0x7F})));         // DEL
  CHECK_FALSE(is_printable_utf8(bytes({0xC2, 0x80})));  // U+0080
  CHECK_FALSE(is_printable_utf8(bytes({0xC2, 0x9B})));  // U+009B, the 8-bit CSI
  CHECK_FALSE(is_printable_utf8(bytes({0xC2, 0x9F})));  // U+009F
  CHECK_FALSE(is_printable_utf8(bytes({0xC3})));        // invalid before printable
  CHECK_FALSE(is_printable_utf8(bytes({0xED, 0xA0, 0x80})));
}

TEST_CASE("utf8: utf8_length counts code points", "[utf8]") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length(bytes({0xC3, 0xA9})) == 1);
  CHECK(utf8_length("a" + bytes({0xE3, 0x81, 0x82}) + bytes({0xF0, 0x9F, 0x98, 0x80}) + "z") == 4);
  std::string long_text;
  for (int i = 0; i < 5000; ++i) long_text += "\xE3\x81\x82";
  CHECK(utf8_length(long_text) == 5000);
}

}  // namespace livechat_unit_utf8
