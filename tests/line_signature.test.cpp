// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/line_signature.hpp>

#include <string>

#include <catch2/catch.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_line_signature {

TEST_CASE("line_signature: base64(HMAC-SHA256(secret, body))", "[line_signature]") {
  const std::string body = R"({"destination":"U1","events":[]})";
  // openssl dgst -sha256 -hmac secret -binary | base64
  const std::string good = "9a6kxZ9i5nWMf5b8hc6KEcGGkvVpRrwtLnjZ/UIHOrM=";
  CHECK(livechat::line_signature_valid("secret", body, good));
  CHECK_FALSE(livechat::line_signature_valid("other", body, good));
  CHECK_FALSE(livechat::line_signature_valid("secret", body + " ", good));
  CHECK_FALSE(livechat::line_signature_valid("secret", body, good.substr(0, good.size() - 1)));
  CHECK_FALSE(livechat::line_signature_valid("secret", body, ""));
  std::string flipped = good;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  CHECK_FALSE(livechat::line_signature_valid("secret", body, flipped));
}

}  // namespace livechat_unit_line_signature
