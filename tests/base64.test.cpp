// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/detail/base64.hpp>

#include <array>
#include <string>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_base64 {

using livechat::detail::base64_decode;
using livechat::detail::base64_encode;
using livechat::detail::base64url_decode;
using livechat::detail::base64url_encode;

TEST_CASE("base64 standard alphabet", "[base64]") {
  SECTION("RFC 4648 section 10 vectors encode") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
  }
  SECTION("RFC 4648 section 10 vectors decode") {
    CHECK(base64_decode("") == std::string());
    CHECK(base64_decode("Zg==") == std::string("f"));
    CHECK(base64_decode("Zm8=") == std::string("fo"));
    CHECK(base64_decode("Zm9v") == std::string("foo"));
    CHECK(base64_decode("Zm9vYg==") == std::string("foob"));
    CHECK(base64_decode("Zm9vYmE=") == std::string("fooba"));
    CHECK(base64_decode("Zm9vYmFy") == std::string("foobar"));
  }
  SECTION("binary round trip, every byte value, every tail length") {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t len = 0; len <= all.size(); ++len) {
      const std::string in = all.substr(all.size() - len);
      const auto out = base64_decode(base64_encode(in));
      REQUIRE(out);
      CHECK(*out == in);
    }
  }
  SECTION("uses + and / and the pointer overload") {
    const std::array<unsigned char, 3> bytes{0xFB, 0xEF, 0xFF};
    CHECK(base64_encode(bytes.data(), bytes.size()) == "++//");
    CHECK(base64_decode("++//") == std::string("\xFB\xEF\xFF"));
  }
  SECTION("missing or malformed padding is rejected") {
    CHECK_FALSE(base64_decode("Zg"));
    CHECK_FALSE(base64_decode("Zg="));
    CHECK_FALSE(base64_decode("Zm8"));
    CHECK_FALSE(base64_decode("Zg==="));
    CHECK_FALSE(base64_decode("Z==="));
    CHECK_FALSE(base64_decode("===="));
    CHECK_FALSE(base64_decode("Zg=a"));
    CHECK_FALSE(base64_decode("Z=g="));
    CHECK_FALSE(base64_decode("Zg==Zg=="));  // padding mid-stream
    CHECK_FALSE(base64_decode("Z"));
  }
  SECTION("foreign bytes are rejected") {
    CHECK_FALSE(base64_decode("Zm9v YmFy"));
    CHECK_FALSE(base64_decode("Zm9v\nYmFy"));
    CHECK_FALSE(base64_decode("Zm9-"));  // url alphabet
    CHECK_FALSE(base64_decode("Zm9_"));
    CHECK_FALSE(base64_decode(std::string("Zm9\0", 4)));
    CHECK_FALSE(base64_decode("Zm9\xC3"));
  }
  SECTION("non-zero padding bits are rejected") {
    CHECK(base64_decode("QQ=="));
    CHECK_FALSE(base64_decode("QR=="));
    CHECK(base64_decode("QUE="));
    CHECK_FALSE(base64_decode("QUF="));
  }
}

TEST_CASE("base64url", "[base64]") {
  SECTION("RFC 4648 vectors without padding") {
    CHECK(base64url_encode("") == "");
    CHECK(base64url_encode("f") == "Zg");
    CHECK(base64url_encode("fo") == "Zm8");
    CHECK(base64url_encode("foo") == "Zm9v");
    CHECK(base64url_encode("foob") == "Zm9vYg");
    CHECK(base64url_encode("fooba") == "Zm9vYmE");
    CHECK(base64url_encode("foobar") == "Zm9vYmFy");
    CHECK(base64url_decode("") == std::string());
    CHECK(base64url_decode("Zg") == std::string("f"));
    CHECK(base64url_decode("Zm8") == std::string("fo"));
    CHECK(base64url_decode("Zm9vYmE") == std::string("fooba"));
    CHECK(base64url_decode("Zm9vYmFy") == std::string("foobar"));
  }
  SECTION("uses - and _") {
    const std::array<unsigned char, 3> bytes{0xFB, 0xEF, 0xFF};
    CHECK(base64url_encode(bytes.data(), bytes.size()) == "--__");
    CHECK(base64url_decode("--__") == std::string("\xFB\xEF\xFF"));
    CHECK_FALSE(base64url_decode("++//"));
  }
  SECTION("RFC 7515 appendix C example") {
    const std::array<unsigned char, 5> bytes{3, 236, 255, 224, 193};
    CHECK(base64url_encode(bytes.data(), bytes.size()) == "A-z_4ME");
  }
  SECTION("padding is rejected") {
    CHECK_FALSE(base64url_decode("Zg=="));
    CHECK_FALSE(base64url_decode("Zm8="));
    CHECK_FALSE(base64url_decode("Zg="));
  }
  SECTION("impossible lengths are rejected") {
    CHECK_FALSE(base64url_decode("Z"));
    CHECK_FALSE(base64url_decode("Zm9vY"));
  }
  SECTION("foreign bytes and non-zero padding bits are rejected") {
    CHECK_FALSE(base64url_decode("Zm9v.YmFy"));
    CHECK_FALSE(base64url_decode("Zm 8"));
    CHECK_FALSE(base64url_decode("Zh"));  // 'h' leaves low bits set
    CHECK_FALSE(base64url_decode("Zm9"));
    CHECK(base64url_decode("Zm8"));
  }
  SECTION("binary round trip") {
    std::string all;
    for (int i = 255; i >= 0; --i) all += static_cast<char>(i);
    for (std::size_t len = 0; len <= all.size(); ++len) {
      const std::string in = all.substr(0, len);
      const auto out = base64url_decode(base64url_encode(in));
      REQUIRE(out);
      CHECK(*out == in);
    }
  }
}

}  // namespace livechat_unit_base64
