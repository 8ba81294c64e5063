// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/text.hpp>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_text {

// The decoder itself is tested in utf8.test.cpp; this is the public surface.
TEST_CASE("text: is_valid_utf8 and utf8_length", "[text]") {
  CHECK(livechat::is_valid_utf8("plain"));
  CHECK(livechat::is_valid_utf8("\xE3\x81\x82\xF0\x9F\x98\x80"));
  CHECK_FALSE(livechat::is_valid_utf8("\xC0\xAF"));      // overlong '/'
  CHECK_FALSE(livechat::is_valid_utf8("\xED\xA0\x80"));  // a surrogate
  CHECK_FALSE(livechat::is_valid_utf8("\xE3\x81"));      // truncated
  CHECK(livechat::utf8_length("") == 0);
  CHECK(livechat::utf8_length("abc") == 3);
  CHECK(livechat::utf8_length("\xE3\x81\x82\xF0\x9F\x98\x80") == 2);
}

}  // namespace livechat_unit_text
