// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/auth/dev_authenticator.hpp>

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_dev_authenticator {

namespace {
const livechat::system_time now{std::chrono::milliseconds(1'700'000'000'000)};
}  // namespace

TEST_CASE("dev_authenticator", "[auth]") {
  livechat::dev_authenticator auth;

  SECTION("the token is the user id and the name; role is operator") {
    const auto r = auth.authenticate("alice", now);
    REQUIRE(r);
    CHECK(r->user_id == "alice");
    CHECK(r->name == "alice");
    CHECK(r->role == livechat::user_role::operator_);
  }
  SECTION("printable ASCII, spaces and UTF-8 are accepted") {
    CHECK(auth.authenticate("U4af4980629abcdef", now));
    CHECK(auth.authenticate("a b", now));
    CHECK(auth.authenticate("~!@#$%^&*()", now));
    CHECK(auth.authenticate("\xC3\xA9mile", now));                 // émile
    CHECK(auth.authenticate("\xE5\xB1\xB1\xE7\x94\xB0", now));     // 山田
    CHECK(auth.authenticate("\xF0\x9F\x98\x80", now));             // U+1F600
    CHECK(auth.authenticate("\xC2\xA0", now));                     // U+00A0, first after C1
    CHECK(auth.authenticate("\xF4\x8F\xBF\xBF", now));             // U+10FFFF
  }
  SECTION("length limits: 1..128 bytes") {
    CHECK(auth.authenticate("x", now));
    CHECK(auth.authenticate(std::string(128, 'x'), now));
    CHECK(auth.authenticate("", now).error() == livechat::errc::auth_failed);
    CHECK(auth.authenticate(std::string(129, 'x'), now).error() == livechat::errc::auth_failed);
    // 128 bytes but fewer characters is fine; the limit is in bytes.
    std::string utf8;
    for (int i = 0; i < 64; ++i) utf8 += "\xC3\xA9";
    CHECK(auth.authenticate(utf8, now));
    CHECK_FALSE(auth.authenticate(utf8 + "x", now));
  }
  SECTION("control characters are rejected") {
    for (int c = 0; c < 0x20; ++c) {
      std::string token = "ab";
      token.insert(token.begin() + 1, static_cast<char>(c));
      CHECK(auth.authenticate(token, now).error() == livechat::errc::auth_failed);
    }
    CHECK_FALSE(auth.authenticate("a\x7F", now));
    CHECK_FALSE(auth.authenticate("a\nb", now));
    CHECK_FALSE(auth.authenticate(std::string("a\0b", 3), now));
    CHECK_FALSE(auth.authenticate("\xC2\x80", now));  // U+0080, C1
    CHECK_FALSE(auth.authenticate("\xC2\x9B", now));  // U+009B, 8-bit CSI
    CHECK_FALSE(auth.authenticate("\xC2\x9F", now));  // U+009F, C1
  }
  SECTION("invalid UTF-8 is rejected") {
    CHECK_FALSE(auth.authenticate("\x80", now));              // lone continuation
    CHECK_FALSE(auth.authenticate("a\xC3", now));             // truncated
    CHECK_FALSE(auth.authenticate("\xE5\xB1", now));          // truncated
    CHECK_FALSE(auth.authenticate("\xC3\x28", now));          // bad continuation
    CHECK_FALSE(auth.authenticate("\xC0\xAF", now));          // overlong '/'
    CHECK_FALSE(auth.authenticate("\xE0\x80\xAF", now));      // overlong '/'
    CHECK_FALSE(auth.authenticate("\xF0\x80\x80\xAF", now));  // overlong '/'
    CHECK_FALSE(auth.authenticate("\xED\xA0\x80", now));      // surrogate U+D800
    CHECK_FALSE(auth.authenticate("\xF4\x90\x80\x80", now));  // U+110000
    CHECK_FALSE(auth.authenticate("\xF8\x88\x80\x80\x80", now));
    CHECK_FALSE(auth.authenticate("\xFF", now));
  }
  SECTION("stats count accepted and rejected") {
    CHECK(auth.authenticate("alice", now));
    CHECK(auth.authenticate("bob", now));
    CHECK_FALSE(auth.authenticate("", now));
    CHECK_FALSE(auth.authenticate("a\tb", now));
    CHECK_FALSE(auth.authenticate(std::string(16384, 'x'), now));
    CHECK(auth.stats().accepted == 2);
    CHECK(auth.stats().rejected == 3);
  }
  SECTION("usable through the base class") {
    livechat::authenticator& base = auth;
    CHECK(base.authenticate("carol", now)->user_id == "carol");
  }
}

}  // namespace livechat_unit_dev_authenticator
