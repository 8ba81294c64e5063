// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/json_writer.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/model.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_json_writer {

namespace {

livechat::message sample_message() {
  livechat::message m;
  m.id = "m-1";
  m.room = "conversation:U1";
  m.seq = 7;
  m.sender.type = livechat::sender_type::user;
  m.sender.id = "U1";
  m.sender.name = "Ann \"A\"";
  m.text = "hi\n\xE3\x81\x82";
  m.created_at = livechat::system_time{} + std::chrono::milliseconds(1'700'000'000'123);
  m.client_msg_id = "c-1";
  return m;
}

}  // namespace

TEST_CASE("json_writer: a message is spelled as inside new_message", "[json_writer]") {
  const livechat::message m = sample_message();
  const std::string doc = livechat::json_document([&](livechat::json_writer& w) {
    w.StartObject();
    livechat::write_json_key(w, "message");
    livechat::write_json(w, m);
    w.EndObject();
  });
  // encode() writes {"type":"new_message","payload":{"message":...},"timestamp":...}.
  const std::string event =
      livechat::encode(livechat::server_events::new_message{m}, livechat::system_time{});
  const std::string prefix = R"({"type":"new_message","payload":)";
  REQUIRE(event.compare(0, prefix.size(), prefix) == 0);
  CHECK(event.compare(prefix.size(), doc.size(), doc) == 0);
}

TEST_CASE("json_writer: strings, arrays and the writer's own members", "[json_writer]") {
  livechat::conversation_summary c;
  c.room = "conversation:U2";
  c.conversation_id = "U2";
  c.last_seq = 3;
  const std::string doc = livechat::json_document([&](livechat::json_writer& w) {
    w.StartObject();
    livechat::write_json_key(w, "ids");
    livechat::write_json(w, std::vector<std::string>{"a", "b\"c"});
    livechat::write_json_key(w, "conversations");
    livechat::write_json(w, std::vector<livechat::conversation_summary>{c});
    livechat::write_json_key(w, "next");
    w.Null();
    livechat::write_json_key(w, "name");
    livechat::write_json(w, "x");
    w.EndObject();
  });
  const std::string head = R"({"ids":["a","b\"c"],"conversations":[{"room":"conversation:U2",)"
                           R"("conversation_id":"U2","last_message":null,"last_seq":3,"session":{)";
  CHECK(doc.compare(0, head.size(), head) == 0);
  const std::string tail = R"(}],"next":null,"name":"x"})";
  REQUIRE(doc.size() > tail.size());
  CHECK(doc.compare(doc.size() - tail.size(), tail.size(), tail) == 0);
}

TEST_CASE("json_writer: presence entries spelled as RapidJSON writes them, escaped or not",
          "[json_writer]") {
  const std::vector<livechat::presence_entry> online = {
      {"alice", "Alice Liddell", 1},
      {"bob", "", 4294967295u},
      {"U4af4980629", "\xE3\x81\x82\xF0\x9F\x98\x80 caf\xC3\xA9 / <b>", 2},  // UTF-8 passes through
      {"quote\"d", "back\\slash", 3},
      {"ctl", std::string("tab\there\x01", 10), 5},
      {"long", std::string(300, 'n'), 6},  // past the one-piece path's size
      {std::string(200, 'u'), std::string(56, 'v'), 7},  // at its limit
  };
  const std::string ours = livechat::json_document(
      [&](livechat::json_writer& w) { livechat::write_json(w, online); });
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> ref(buf);
  ref.StartArray();
  for (const auto& p : online) {
    ref.StartObject();
    ref.Key("user_id");
    ref.String(p.user_id.data(), static_cast<rapidjson::SizeType>(p.user_id.size()));
    ref.Key("name");
    ref.String(p.name.data(), static_cast<rapidjson::SizeType>(p.name.size()));
    ref.Key("connections");
    ref.Uint(p.connections);
    ref.EndObject();
  }
  ref.EndArray();
  CHECK(ours == std::string(buf.GetString(), buf.GetSize()));
  CHECK(ours.find(R"({"user_id":"bob","name":"","connections":4294967295})") != std::string::npos);
}

namespace {

/// `s` as a string value through RapidJSON's own Writer::String.
std::string rapidjson_string(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> ref(buf);
  ref.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buf.GetString(), buf.GetSize());
}

std::string ours_string(const std::string& s) {
  return livechat::json_document([&](livechat::json_writer& w) { livechat::write_json(w, s); });
}

}  // namespace

TEST_CASE("json_writer: strings are escaped byte for byte as RapidJSON escapes them",
          "[json_writer]") {
  SECTION("every byte alone, and inside runs on both sides of 8-byte words") {
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      for (const std::string& s : {std::string(1, c), "abcdefg" + std::string(1, c),
                                   "abcdefgh" + std::string(1, c) + "ijklmnopq",
                                   std::string(15, 'x') + std::string(1, c)}) {
        INFO("byte " << b << ", length " << s.size());
        CHECK(ours_string(s) == rapidjson_string(s));
      }
    }
  }
  SECTION("random strings over the bytes that matter") {
    // Mostly plain text, with the escaped bytes, the bytes next to them
    // (0x1F/0x20, 0x21/0x22/0x23, 0x5B/0x5C/0x5D) and UTF-8 lead bytes.
    const std::string alphabet = std::string("aZ09 !#[]~\x7F\x1F\x01\x08\t\n\x0C\r\"\\", 20) +
                                 "\xC3\xA9\xE3\x81\x82\xF0\x9F\x98\x80\xFF\x80";
    std::mt19937 rng(13);
    for (int round = 0; round < 2000; ++round) {
      std::string s(rng() % 40, ' ');
      for (auto& c : s) c = alphabet[rng() % alphabet.size()];
      INFO("round " << round);
      REQUIRE(ours_string(s) == rapidjson_string(s));
    }
  }
  SECTION("keys too") {
    const std::string doc = livechat::json_document([&](livechat::json_writer& w) {
      w.StartObject();
      livechat::write_json_key(w, "a\"b\n");
      livechat::write_json(w, "v");
      w.EndObject();
    });
    CHECK(doc == R"({"a\"b\n":"v"})");
  }
}

TEST_CASE("json_writer: nesting deeper than the writer's own stack buffer", "[json_writer]") {
  // The nesting stack starts in a buffer inside the writer (32 levels);
  // deeper documents continue on the heap and must still close properly.
  for (const int depth : {1, 31, 32, 33, 100}) {
    const std::string doc = livechat::json_document([&](livechat::json_writer& w) {
      for (int i = 0; i < depth; ++i) w.StartArray();
      livechat::write_json(w, "x");
      w.Uint(static_cast<unsigned>(depth));
      for (int i = 0; i < depth; ++i) w.EndArray();
      CHECK(w.IsComplete());
    });
    CHECK(doc == std::string(static_cast<std::size_t>(depth), '[') + "\"x\"," +
                     std::to_string(depth) + std::string(static_cast<std::size_t>(depth), ']'));
  }
}

}  // namespace livechat_unit_json_writer
