// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/limits.hpp>
#include <livechat/server/hub_config.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_limits {

TEST_CASE("codec_limits carries the PROTOCOL.md defaults", "[limits]") {
  const livechat::codec_limits l;
  CHECK(l.max_text_length == 5000);
  CHECK(l.max_ref_length == 64);
  CHECK(l.max_client_msg_id_length == 64);
  CHECK(l.max_request_type_length == 64);
  const livechat::server::hub_config config;
  CHECK(config.codec.max_text_length == l.max_text_length);
}

TEST_CASE("the codec enforces the limits it is given", "[limits]") {
  livechat::codec_limits tight;
  tight.max_text_length = 3;
  const std::string frame =
      R"({"type":"send_message","payload":{"room":"conversation:a","text":"abcd"}})";
  CHECK(livechat::decode_client_frame(frame).ok());
  const auto d = livechat::decode_client_frame(frame, tight);
  REQUIRE(d.payload_error);
  CHECK(d.payload_error->field == "text");
}

}  // namespace livechat_unit_limits
