// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/detail/parse_arena.hpp>

#include <catch2/catch.hpp>

#include <string>

#include <livechat/protocol/codec.hpp>

using livechat::detail::arena_document;
using livechat::detail::make_document;
using livechat::detail::parse_arena;
using livechat::detail::parse_frame;

namespace {

std::string send_frame(const std::string& text) {
  return R"({"type":"send_message","ref":"r-12345","payload":{"room":"conversation:U4af4980629abcdef",)"
         R"("text":")" +
         text + R"(","client_msg_id":"c-0123456789abcdef"}})";
}

}  // namespace

TEST_CASE("parse_arena: a typical frame is parsed without a heap chunk") {
  // A chunk beyond the buffers is a 64 KiB malloc and free per frame (see
  // the header); the arena must hold the frames a chat server sees all day,
  // up to the longest ASCII text (5,000 code points).
  for (const std::size_t text_bytes : {std::size_t{0}, std::size_t{100}, std::size_t{1000}, std::size_t{2000}, std::size_t{5000}}) {
    CAPTURE(text_bytes);
    parse_arena arena;
    arena_document doc = make_document(arena);
    const std::string frame = send_frame(std::string(text_bytes, 'x'));
    parse_frame(doc, frame, true);
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc["payload"]["text"].GetStringLength() == text_bytes);
    CHECK(arena.in_place());
  }
  SECTION("non-ASCII text, validated") {
    parse_arena arena;
    arena_document doc = make_document(arena);
    std::string text;
    for (int i = 0; i < 300; ++i) text += "\xE3\x81\x82";  // U+3042, 3 bytes
    parse_frame(doc, send_frame(text), false);
    REQUIRE_FALSE(doc.HasParseError());
    CHECK(std::string(doc["payload"]["text"].GetString()) == text);
    CHECK(arena.in_place());
  }
}

TEST_CASE("parse_arena: a frame larger than the arena still parses, from the heap") {
  parse_arena arena;
  arena_document doc = make_document(arena);
  const std::string text(20000, 'y');
  parse_frame(doc, send_frame(text), true);
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["payload"]["text"].GetString()) == text);
  CHECK_FALSE(arena.in_place());
}

TEST_CASE("parse_arena: invalid UTF-8 is refused when validation is asked for") {
  parse_arena arena;
  arena_document doc = make_document(arena);
  parse_frame(doc, send_frame("\xC3("), false);
  CHECK(doc.HasParseError());
}

TEST_CASE("parse_arena: decode_client_frame decodes long and short texts alike") {
  for (const std::size_t n : {std::size_t{1}, std::size_t{100}, std::size_t{4000}}) {
    CAPTURE(n);
    const auto d = livechat::decode_client_frame(send_frame(std::string(n, 'z')));
    REQUIRE(d.ok());
    const auto* e = std::get_if<livechat::client_events::send_message>(&d.event);
    REQUIRE(e != nullptr);
    CHECK(e->text.size() == n);
  }
}
