// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/json_writer.hpp>

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

}  // namespace livechat_unit_json_writer
