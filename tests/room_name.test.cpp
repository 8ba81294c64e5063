// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/room_name.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_room_name {

using livechat::conversation_id_of;
using livechat::is_valid_conversation_id;
using livechat::is_valid_room;
using livechat::room_of;

TEST_CASE("is_valid_conversation_id", "[room_name]") {
  SECTION("letters, digits and each allowed punctuation") {
    CHECK(is_valid_conversation_id("a"));
    CHECK(is_valid_conversation_id("Z"));
    CHECK(is_valid_conversation_id("0"));
    CHECK(is_valid_conversation_id("U4af4980629abcdefABCDEF0123456789"));  // a LINE user id
    for (const char* id : {"_", ".", "@", ":", "-", "a_b", "a.b", "a@b", "a:b", "a-b",
                           "user@example.com", "..", "-_.@:"}) {
      INFO(id);
      CHECK(is_valid_conversation_id(id));
    }
  }

  SECTION("length 1 to 128") {
    CHECK(livechat::max_conversation_id_length == 128);
    CHECK(is_valid_conversation_id(std::string(128, 'x')));
    CHECK_FALSE(is_valid_conversation_id(std::string(129, 'x')));
    CHECK_FALSE(is_valid_conversation_id(""));
  }

  SECTION("anything else is rejected") {
    for (const char* id : {" ", "a b", "a/b", "/", "a\\b", "a#b", "a+b", "a?b", "a%20b",
                           "a,b", "a;b", "a=b", "a!b", "a~b", "a*b", "a'b", "a\"b", "a\tb",
                           "a\nb", "(a)", "[a]", "{a}", "<a>", "a|b", "a$b", "a&b",
                           "caf\xc3\xa9", "\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6", "\x7f"}) {
      INFO(id);
      CHECK_FALSE(is_valid_conversation_id(id));
    }
    CHECK_FALSE(is_valid_conversation_id(std::string_view("a\0b", 3)));
    CHECK_FALSE(is_valid_conversation_id(std::string(127, 'x') + " "));
  }
}

TEST_CASE("room names need the conversation: prefix", "[room_name]") {
  CHECK(livechat::room_prefix == "conversation:");

  SECTION("valid rooms") {
    CHECK(is_valid_room("conversation:abc"));
    CHECK(is_valid_room("conversation:U123"));
    CHECK(is_valid_room("conversation:" + std::string(128, 'a')));
    // ':' is allowed in ids, so a nested prefix is just an id.
    CHECK(is_valid_room("conversation:conversation:x"));
    CHECK(conversation_id_of("conversation:abc") == std::string_view("abc"));
    CHECK(conversation_id_of("conversation:a:b") == std::string_view("a:b"));
  }

  SECTION("invalid rooms") {
    for (const char* room : {"", "abc", "conversation", "conversation:", "conversation: a",
                             "Conversation:abc", "CONVERSATION:abc", "conversations:abc",
                             "conversation;abc", " conversation:abc", "conversation:abc ",
                             "room:abc", ":abc", "conversation:a/b", "conversation:\xc3\xa9"}) {
      INFO(room);
      CHECK_FALSE(is_valid_room(room));
      CHECK_FALSE(conversation_id_of(room).has_value());
    }
    CHECK_FALSE(is_valid_room("conversation:" + std::string(129, 'a')));
  }

  SECTION("the id must be valid on its own, without the prefix") {
    CHECK(is_valid_conversation_id("abc"));
    CHECK_FALSE(is_valid_room("abc"));
  }
}

TEST_CASE("room_of builds the room name", "[room_name]") {
  CHECK(room_of("abc") == "conversation:abc");
  CHECK(room_of("U4af4980629") == "conversation:U4af4980629");
  const std::string id(128, 'q');
  const std::string room = room_of(id);
  CHECK(room.size() == 13 + 128);
  CHECK(is_valid_room(room));
  CHECK(conversation_id_of(room) == std::string_view(id));

  SECTION("round-trips with conversation_id_of") {
    for (const char* cid : {"a", "a.b@c:d-e_f", "U123"}) {
      const std::string r = room_of(cid);  // the view points into it
      auto back = conversation_id_of(r);
      REQUIRE(back.has_value());
      CHECK(*back == cid);
    }
  }

  SECTION("does not validate: callers check the id first") {
    CHECK(room_of("a b") == "conversation:a b");
    CHECK_FALSE(is_valid_room(room_of("a b")));
  }
}

}  // namespace livechat_unit_room_name
