// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/message_fields.hpp>

#include <string>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_message_fields {

namespace {

livechat::message_fields_result read(const std::string& json, const livechat::codec_limits& limits = {}) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  return livechat::read_message_fields(doc, limits);
}

}  // namespace

TEST_CASE("message_fields: text trimmed, client_msg_id optional", "[message_fields]") {
  auto r = read(R"({"text":"  hello \n","client_msg_id":"c-1","other":1})");
  REQUIRE(r.ok());
  CHECK(r.fields.text == "hello");
  CHECK(r.fields.client_msg_id == std::string("c-1"));

  r = read(R"({"text":"hi","client_msg_id":null})");
  REQUIRE(r.ok());
  CHECK_FALSE(r.fields.client_msg_id);
}

TEST_CASE("message_fields: send_message's refusals, with the field", "[message_fields]") {
  livechat::codec_limits limits;
  limits.max_text_length = 3;
  limits.max_client_msg_id_length = 2;
  const auto refused = [&](const std::string& json, const char* field) {
    const auto r = read(json, limits);
    REQUIRE(r.error);
    CHECK(r.error->code == livechat::errc::validation_error);
    CHECK(r.error->field == field);
    CHECK_FALSE(r.error->message.empty());
  };
  refused(R"({})", "text");
  refused(R"({"text":5})", "text");
  refused(R"({"text":" \t "})", "text");
  refused(R"({"text":"abcd"})", "text");
  refused(R"({"text":"abc","client_msg_id":"xyz"})", "client_msg_id");
  refused(R"({"text":"abc","client_msg_id":""})", "client_msg_id");
  refused(R"({"text":"abc","client_msg_id":7})", "client_msg_id");
  // Three code points, more bytes: the limit counts code points.
  CHECK(read("{\"text\":\"\xE3\x81\x82\xE3\x81\x82\xE3\x81\x82\"}", limits).ok());
}

TEST_CASE("message_fields: undecodable text and non-objects are invalid_json", "[message_fields]") {
  // RapidJSON decodes an escaped lone surrogate into bytes that are not UTF-8.
  auto r = read(R"({"text":"a\udc00","client_msg_id":"toolong-toolong-toolong-toolong-toolong-toolong-x"})");
  REQUIRE(r.error);
  CHECK(r.error->code == livechat::errc::invalid_json);

  r = read(R"(["text"])");
  REQUIRE(r.error);
  CHECK(r.error->code == livechat::errc::invalid_json);
}

}  // namespace livechat_unit_message_fields
