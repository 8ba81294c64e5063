// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/detail/hmac_sha256.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_hmac_sha256 {

namespace {
std::string hex(const livechat::detail::hmac_sha256_digest& d) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const unsigned char b : d) {
    s += digits[b >> 4];
    s += digits[b & 0x0F];
  }
  return s;
}
}  // namespace

TEST_CASE("hmac_sha256", "[hmac]") {
  using livechat::detail::hmac_sha256;
  SECTION("RFC 4231 test case 1") {
    const std::string key(20, '\x0b');
    CHECK(hex(hmac_sha256(key, "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  }
  SECTION("RFC 4231 test case 2") {
    CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
  SECTION("RFC 4231 test case 6: key longer than the block size") {
    const std::string key(131, '\xaa');
    CHECK(hex(hmac_sha256(key, "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  }
  SECTION("empty key and empty data") {
    CHECK(hex(hmac_sha256("", "")) ==
          "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    CHECK(hex(hmac_sha256(std::string_view(), std::string_view())) ==
          "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  }
  SECTION("try_ form agrees") {
    const auto r = livechat::detail::try_hmac_sha256("Jefe", "what do ya want for nothing?");
    REQUIRE(r);
    CHECK(*r == hmac_sha256("Jefe", "what do ya want for nothing?"));
  }
  SECTION("embedded NUL bytes are data, not terminators") {
    CHECK(hmac_sha256(std::string("k\0a", 3), "x") != hmac_sha256("k", "x"));
    CHECK(hmac_sha256("k", std::string("x\0y", 3)) != hmac_sha256("k", "x"));
  }
}

TEST_CASE("constant_time_equal", "[hmac]") {
  using livechat::detail::constant_time_equal;
  SECTION("equal") {
    CHECK(constant_time_equal("", ""));
    CHECK(constant_time_equal(std::string_view(), ""));
    CHECK(constant_time_equal("abc", "abc"));
    CHECK(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  }
  SECTION("different content") {
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "xbc"));
    CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  }
  SECTION("different length, including a prefix") {
    CHECK_FALSE(constant_time_equal("abc", "ab"));
    CHECK_FALSE(constant_time_equal("", "a"));
    CHECK_FALSE(constant_time_equal("a", ""));
  }
}

}  // namespace livechat_unit_hmac_sha256
