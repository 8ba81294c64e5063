// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/server_codec.hpp>

#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_codec {

namespace {

namespace ce = livechat::client_events;
namespace se = livechat::server_events;
using livechat::decode_client_frame;
using livechat::decoded_frame;
using livechat::encode;
using livechat::errc;
using livechat::system_time;

// ------------------------------------------------------------------ helpers

system_time at(std::int64_t ms) { return system_time(std::chrono::milliseconds(ms)); }

std::string repeat(std::string_view unit, std::size_t n) {
  std::string s;
  s.reserve(unit.size() * n);
  for (std::size_t i = 0; i < n; ++i) s.append(unit);
  return s;
}

// Multibyte UTF-8 units (spelled as bytes so the source stays ASCII).
const std::string e_acute = "\xC3\xA9";            // U+00E9, 2 bytes
const std::string kanji = "\xE6\x97\xA5";          // U+65E5, 3 bytes
const std::string emoji = "\xF0\x9F\x98\x80";      // U+1F600, 4 bytes
const std::string nbsp = "\xC2\xA0";               // U+00A0 NO-BREAK SPACE
const std::string ideographic_space = "\xE3\x80\x80";  // U+3000

/// A JSON string literal for `s` (escapes quotes, backslashes and control bytes;
/// every other byte, including non-ASCII UTF-8, is copied as is).
std::string q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

/// `{"type": <type>, "payload": <payload_json>}`.
std::string frame(const std::string& type, const std::string& payload_json) {
  return "{\"type\":" + q(type) + ",\"payload\":" + payload_json + "}";
}

const std::string room_a = "conversation:U4af4980629abc";

std::string room_payload(const std::string& room = room_a) { return "{\"room\":" + q(room) + "}"; }

std::string send_payload(const std::string& text, const std::string& extra = {}) {
  return "{\"room\":" + q(room_a) + ",\"text\":" + q(text) + extra + "}";
}

/// Decodes and requires success with the alternative E; returns the event.
template <class E>
E decode_ok(std::string_view text) {
  INFO("frame: " << std::string(text));
  decoded_frame f = decode_client_frame(text);
  if (f.envelope_error) UNSCOPED_INFO("envelope_error field: " << f.envelope_error->field);
  if (f.payload_error) UNSCOPED_INFO("payload_error field: " << f.payload_error->field);
  REQUIRE_FALSE(f.envelope_error.has_value());
  REQUIRE_FALSE(f.payload_error.has_value());
  REQUIRE(f.ok());
  REQUIRE(f.kind.has_value());
  CHECK(f.kind == livechat::parse_client_event_type(E::type_name));
  CHECK(f.type == E::type_name);
  CHECK(f.event.index() == static_cast<std::size_t>(*f.kind));
  REQUIRE(std::holds_alternative<E>(f.event));
  return std::get<E>(f.event);
}

/// Requires an envelope error with `code` and `field` (empty: no field).
decoded_frame expect_envelope_error(std::string_view text, errc code, const std::string& field = {}) {
  INFO("frame: " << std::string(text).substr(0, 200));
  decoded_frame f = decode_client_frame(text);
  REQUIRE(f.envelope_error.has_value());
  CHECK(f.envelope_error->code == code);
  CHECK(f.envelope_error->field == field);
  CHECK_FALSE(f.envelope_error->message.empty());
  CHECK_FALSE(f.payload_error.has_value());
  CHECK_FALSE(f.ok());
  return f;
}

/// Requires a payload error (validation_error) naming `field`, with a good envelope.
decoded_frame expect_payload_error(std::string_view text, const std::string& field) {
  INFO("frame: " << std::string(text).substr(0, 200));
  decoded_frame f = decode_client_frame(text);
  if (f.envelope_error) UNSCOPED_INFO("envelope_error field: " << f.envelope_error->field);
  REQUIRE_FALSE(f.envelope_error.has_value());
  REQUIRE(f.payload_error.has_value());
  CHECK(f.payload_error->code == errc::validation_error);
  CHECK(f.payload_error->field == field);
  CHECK_FALSE(f.payload_error->message.empty());
  CHECK(f.kind.has_value());
  CHECK_FALSE(f.type.empty());
  CHECK_FALSE(f.ok());
  return f;
}

// Every event type whose payload is just `room` (or needs it first).
const std::vector<std::string> room_only_types = {"leave_room",    "typing_start",
                                                  "typing_stop",   "claim_session",
                                                  "release_session", "close_session"};

/// A valid payload for `type` with the `room` member replaced by `room_json`
/// (an empty `room_json` omits `room`).
std::string payload_with_room(const std::string& type, const std::string& room_json) {
  std::string members;
  if (!room_json.empty()) members = "\"room\":" + room_json;
  auto add = [&](const std::string& m) { members += (members.empty() ? "" : ",") + m; };
  if (type == "send_message") add("\"text\":\"hi\"");
  if (type == "mark_read") add("\"seq\":3");
  return "{" + members + "}";
}

// ------------------------------------------------------------ JSON reading

std::string str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

const rapidjson::Value& member(const rapidjson::Value& obj, const char* name) {
  INFO("member: " << name);
  REQUIRE(obj.IsObject());
  auto it = obj.FindMember(name);
  REQUIRE(it != obj.MemberEnd());
  return it->value;
}

std::string string_member(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value& v = member(obj, name);
  INFO("member: " << name);
  REQUIRE(v.IsString());
  return str(v);
}

std::uint64_t uint_member(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value& v = member(obj, name);
  INFO("member: " << name);
  REQUIRE(v.IsUint64());
  return v.GetUint64();
}

bool bool_member(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value& v = member(obj, name);
  INFO("member: " << name);
  REQUIRE(v.IsBool());
  return v.GetBool();
}

bool is_wire_timestamp(const std::string& s) {
  // YYYY-MM-DDTHH:MM:SS.mmmZ
  static constexpr char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != sizeof pattern - 1) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (pattern[i] == 'd') {
      if (s[i] < '0' || s[i] > '9') return false;
    } else if (s[i] != pattern[i]) {
      return false;
    }
  }
  return true;
}

void check_time_member(const rapidjson::Value& obj, const char* name, system_time expected) {
  const std::string s = string_member(obj, name);
  INFO(name << " = " << s);
  CHECK(is_wire_timestamp(s));
  CHECK(s == livechat::format_timestamp(expected));
  CHECK(livechat::parse_timestamp(s) == expected);
}

/// A parsed frame; keeps the document alive.
struct parsed {
  rapidjson::Document doc;
  const rapidjson::Value& payload() const { return member(doc, "payload"); }
};

/// Parses `text` (validating UTF-8), checks the envelope, returns the document.
void parse_frame(parsed& p, const std::string& text, std::string_view type, system_time ts,
                 const std::optional<std::string>& ref) {
  INFO("encoded: " << text);
  p.doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  REQUIRE_FALSE(p.doc.HasParseError());
  REQUIRE(p.doc.IsObject());
  CHECK(string_member(p.doc, "type") == type);
  CHECK(member(p.doc, "payload").IsObject());
  check_time_member(p.doc, "timestamp", ts);
  if (ref) {
    CHECK(string_member(p.doc, "ref") == *ref);
    CHECK(p.doc.MemberCount() == 4);
  } else {
    CHECK_FALSE(p.doc.HasMember("ref"));
    CHECK(p.doc.MemberCount() == 3);
  }
  // Every byte below 0x20 must be escaped in the output.
  for (char c : text) CHECK(static_cast<unsigned char>(c) >= 0x20);
}

void check_message(const rapidjson::Value& v, const livechat::message& m) {
  REQUIRE(v.IsObject());
  CHECK(string_member(v, "id") == m.id);
  CHECK(string_member(v, "room") == m.room);
  CHECK(uint_member(v, "seq") == m.seq);
  const rapidjson::Value& s = member(v, "sender");
  REQUIRE(s.IsObject());
  CHECK(string_member(s, "type") == livechat::to_string(m.sender.type));
  CHECK(string_member(s, "id") == m.sender.id);
  CHECK(string_member(s, "name") == m.sender.name);
  CHECK(s.MemberCount() == 3);
  CHECK(string_member(v, "text") == m.text);
  check_time_member(v, "created_at", m.created_at);
  if (m.client_msg_id.empty()) {
    CHECK_FALSE(v.HasMember("client_msg_id"));
    CHECK(v.MemberCount() == 6);
  } else {
    CHECK(string_member(v, "client_msg_id") == m.client_msg_id);
    CHECK(v.MemberCount() == 7);
  }
}

void check_session(const rapidjson::Value& v, const livechat::session_state& s) {
  REQUIRE(v.IsObject());
  CHECK(string_member(v, "status") == livechat::to_string(s.status));
  const rapidjson::Value& c = member(v, "claimed_by");
  if (s.claimed_by) {
    REQUIRE(c.IsObject());
    CHECK(string_member(c, "user_id") == s.claimed_by->user_id);
    CHECK(string_member(c, "name") == s.claimed_by->name);
    CHECK(c.MemberCount() == 2);
  } else {
    CHECK(c.IsNull());
  }
  check_time_member(v, "updated_at", s.updated_at);
  CHECK(uint_member(v, "version") == s.version);
  CHECK(v.MemberCount() == 4);
}

void check_presence_list(const rapidjson::Value& v, const std::vector<livechat::presence_entry>& l) {
  REQUIRE(v.IsArray());
  REQUIRE(v.Size() == l.size());
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    CHECK(string_member(v[i], "user_id") == l[i].user_id);
    CHECK(string_member(v[i], "name") == l[i].name);
    CHECK(uint_member(v[i], "connections") == l[i].connections);
    CHECK(v[i].MemberCount() == 3);
  }
}

// Sample model values.
const system_time t_event = at(1795638265123);  // 2026-11-25T20:24:25.123Z
const system_time t_created = at(1795638200007);
const system_time t_session = at(1795638100450);

livechat::message sample_message(std::string client_msg_id = "c-1",
                                 livechat::sender_type type = livechat::sender_type::operator_) {
  livechat::message m;
  m.id = "m-42";
  m.room = room_a;
  m.seq = 42;
  m.sender = {type, "alice", "Alice Liddell"};
  m.text = "hello";
  m.created_at = t_created;
  m.client_msg_id = std::move(client_msg_id);
  return m;
}

livechat::session_state claimed_session() {
  livechat::session_state s;
  s.status = livechat::session_status::claimed;
  s.claimed_by = livechat::user_ref{"alice", "Alice Liddell"};
  s.updated_at = t_session;
  s.version = 3;
  return s;
}

livechat::session_state open_session() {
  livechat::session_state s;
  s.updated_at = t_session;
  return s;
}

}  // namespace

// =================================================================== decoding

TEST_CASE("codec decodes every client event type", "[codec]") {
  SECTION("auth") {
    auto e = decode_ok<ce::auth>(frame("auth", R"({"token":"secret-token"})"));
    CHECK(e.token == "secret-token");
    // An empty token is still a string: the authenticator decides.
    CHECK(decode_ok<ce::auth>(frame("auth", R"({"token":""})")).token.empty());
  }

  SECTION("join_room without and with since_seq/epoch") {
    auto e = decode_ok<ce::join_room>(frame("join_room", room_payload()));
    CHECK(e.room == room_a);
    CHECK_FALSE(e.since_seq.has_value());
    CHECK_FALSE(e.epoch.has_value());

    e = decode_ok<ce::join_room>(
        frame("join_room", R"({"room":"conversation:x","since_seq":17,"epoch":"ep-1"})"));
    CHECK(e.room == "conversation:x");
    CHECK(e.since_seq == std::uint64_t{17});
    CHECK(e.epoch == std::string("ep-1"));
  }

  SECTION("leave_room") {
    CHECK(decode_ok<ce::leave_room>(frame("leave_room", room_payload())).room == room_a);
  }

  SECTION("watch_inbox / unwatch_inbox / ping with and without payload") {
    decode_ok<ce::watch_inbox>(R"({"type":"watch_inbox"})");
    decode_ok<ce::watch_inbox>(R"({"type":"watch_inbox","payload":{}})");
    decode_ok<ce::unwatch_inbox>(R"({"type":"unwatch_inbox"})");
    decode_ok<ce::unwatch_inbox>(R"({"type":"unwatch_inbox","payload":{}})");
    decode_ok<ce::ping>(R"({"type":"ping"})");
    decode_ok<ce::ping>(R"({"type":"ping","payload":{}})");
  }

  SECTION("send_message without and with client_msg_id") {
    auto e = decode_ok<ce::send_message>(frame("send_message", send_payload("hello")));
    CHECK(e.room == room_a);
    CHECK(e.text == "hello");
    CHECK_FALSE(e.client_msg_id.has_value());

    e = decode_ok<ce::send_message>(
        frame("send_message", send_payload("hello", R"(,"client_msg_id":"c-1")")));
    CHECK(e.client_msg_id == std::string("c-1"));
  }

  SECTION("typing_start / typing_stop") {
    CHECK(decode_ok<ce::typing_start>(frame("typing_start", room_payload())).room == room_a);
    CHECK(decode_ok<ce::typing_stop>(frame("typing_stop", room_payload())).room == room_a);
  }

  SECTION("claim_session / release_session / close_session") {
    CHECK(decode_ok<ce::claim_session>(frame("claim_session", room_payload())).room == room_a);
    CHECK(decode_ok<ce::release_session>(frame("release_session", room_payload())).room == room_a);
    CHECK(decode_ok<ce::close_session>(frame("close_session", room_payload())).room == room_a);
  }

  SECTION("mark_read") {
    auto e = decode_ok<ce::mark_read>(frame("mark_read", R"({"room":"conversation:a","seq":12})"));
    CHECK(e.room == "conversation:a");
    CHECK(e.seq == 12);
    CHECK(decode_ok<ce::mark_read>(frame("mark_read", R"({"room":"conversation:a","seq":0})")).seq ==
          0);
  }

  SECTION("every valid room name shape") {
    for (const std::string& room :
         {std::string("conversation:a"), std::string("conversation:U4af4980629"),
          std::string("conversation:a_b.c@d:e-f"), "conversation:" + std::string(128, 'x')}) {
      INFO(room);
      CHECK(decode_ok<ce::typing_start>(frame("typing_start", room_payload(room))).room == room);
    }
  }
}

TEST_CASE("codec ref handling", "[codec]") {
  SECTION("no ref: unset") {
    decoded_frame f = decode_client_frame(R"({"type":"ping"})");
    CHECK(f.ok());
    CHECK_FALSE(f.ref.has_value());
  }

  SECTION("a valid ref is returned, wherever it sits in the envelope") {
    decoded_frame f = decode_client_frame(R"({"ref":"r-1","type":"ping"})");
    CHECK(f.ok());
    CHECK(f.ref == std::string("r-1"));
    f = decode_client_frame(R"({"type":"ping","payload":{},"ref":"abc"})");
    CHECK(f.ref == std::string("abc"));
  }

  SECTION("an empty ref is a string of at most 64 characters") {
    decoded_frame f = decode_client_frame(R"({"type":"ping","ref":""})");
    CHECK(f.ok());
    CHECK(f.ref == std::string());
  }

  SECTION("64 code points accepted, ASCII and multibyte") {
    for (const std::string& unit : {std::string("r"), e_acute, kanji, emoji}) {
      const std::string ref = repeat(unit, 64);
      decoded_frame f = decode_client_frame(R"({"type":"ping","ref":)" + q(ref) + "}");
      INFO("unit bytes: " << unit.size());
      CHECK(f.ok());
      CHECK(f.ref == ref);
    }
  }

  SECTION("65 code points rejected, ASCII and multibyte; ref never set") {
    for (const std::string& unit : {std::string("r"), e_acute, kanji, emoji}) {
      INFO("unit bytes: " << unit.size());
      decoded_frame f = expect_envelope_error(
          R"({"type":"ping","ref":)" + q(repeat(unit, 65)) + "}", errc::validation_error, "ref");
      CHECK_FALSE(f.ref.has_value());
      CHECK(f.type == "ping");
    }
  }

  SECTION("a non-string ref is rejected and never set") {
    for (const char* ref : {"5", "null", "true", "{}", "[\"r\"]", "1.5"}) {
      INFO(ref);
      decoded_frame f = expect_envelope_error(std::string(R"({"type":"ping","ref":)") + ref + "}",
                                              errc::validation_error, "ref");
      CHECK_FALSE(f.ref.has_value());
    }
  }

  SECTION("a valid ref is kept on later errors so the error can echo it") {
    decoded_frame f = expect_envelope_error(R"({"type":"fly","ref":"r1"})", errc::unknown_type);
    CHECK(f.ref == std::string("r1"));
    f = expect_envelope_error(R"({"type":"ping","ref":"r2","payload":[]})", errc::validation_error,
                              "payload");
    CHECK(f.ref == std::string("r2"));
    f = expect_payload_error(R"({"type":"join_room","ref":"r3","payload":{}})", "room");
    CHECK(f.ref == std::string("r3"));
    f = expect_envelope_error(R"({"ref":"r4","payload":{}})", errc::validation_error, "type");
    CHECK(f.ref == std::string("r4"));
  }
}

TEST_CASE("codec envelope errors", "[codec]") {
  SECTION("not JSON -> invalid_json") {
    for (const char* text : {"", " ", "hello", "{", "}", "{'type':'ping'}", "{type:\"ping\"}",
                             "{\"type\":\"ping\",}", "{\"type\":\"ping\"", "\"unterminated",
                             "{\"type\":\"ping\" \"payload\":{}}", "NaN", "{\"type\":\"p\\x\"}"}) {
      INFO("frame: " << text);
      decoded_frame f = expect_envelope_error(text, errc::invalid_json);
      CHECK_FALSE(f.kind.has_value());
      CHECK_FALSE(f.ref.has_value());
    }
  }

  SECTION("JSON that is not an object -> invalid_json") {
    for (const char* text : {"[]", "[{\"type\":\"ping\"}]", "\"ping\"", "5", "-1.5", "true",
                             "false", "null"}) {
      expect_envelope_error(text, errc::invalid_json);
    }
  }

  SECTION("trailing garbage -> invalid_json; trailing whitespace is fine") {
    for (const char* text : {"{\"type\":\"ping\"} x", "{\"type\":\"ping\"}{}",
                             "{\"type\":\"ping\"}}", "{\"type\":\"ping\"},", "{\"type\":\"ping\"}0"}) {
      expect_envelope_error(text, errc::invalid_json);
    }
    decode_ok<ce::ping>("  {\"type\":\"ping\"} \r\n\t ");
  }

  SECTION("a raw NUL byte inside a string -> invalid_json") {
    using namespace std::string_literals;
    expect_envelope_error("{\"type\":\"ping\",\"x\":\"a\0b\"}"s, errc::invalid_json);
    expect_envelope_error("{\"type\":\"pi\0ng\"}"s, errc::invalid_json);
  }

  SECTION("missing or non-string type -> validation_error field type") {
    for (const char* text : {"{}", "{\"payload\":{}}", "{\"type\":5}", "{\"type\":null}",
                             "{\"type\":true}", "{\"type\":{}}", "{\"type\":[\"ping\"]}",
                             "{\"Type\":\"ping\"}"}) {
      INFO("frame: " << text);
      decoded_frame f = expect_envelope_error(text, errc::validation_error, "type");
      CHECK_FALSE(f.kind.has_value());
    }
  }

  SECTION("payload present but not an object -> validation_error field payload") {
    for (const char* payload : {"[]", "\"x\"", "5", "true", "null", "[{\"room\":\"conversation:a\"}]"}) {
      INFO("payload: " << payload);
      expect_envelope_error(std::string(R"({"type":"leave_room","payload":)") + payload + "}",
                            errc::validation_error, "payload");
      expect_envelope_error(std::string(R"({"type":"ping","payload":)") + payload + "}",
                            errc::validation_error, "payload");
    }
  }

  SECTION("unknown type -> unknown_type, kind unset, type kept") {
    for (const char* type : {"fly", "", "PING", "Ping", "ping ", "send-message", "auth_success",
                             "error"}) {
      INFO("type: " << type);
      decoded_frame f = expect_envelope_error("{\"type\":" + q(type) + "}", errc::unknown_type);
      CHECK_FALSE(f.kind.has_value());
      CHECK(f.type == type);
    }
    // An unknown type with a payload is still unknown_type.
    decoded_frame f = expect_envelope_error(R"({"type":"fly","payload":{"room":5}})",
                                            errc::unknown_type);
    CHECK(f.type == "fly");
  }

  SECTION("order: type, then ref, then payload, then unknown type") {
    // Missing type wins over a bad ref and a bad payload.
    expect_envelope_error(R"({"ref":5,"payload":[]})", errc::validation_error, "type");
    // A bad ref wins over a bad payload and an unknown type; the type is kept.
    decoded_frame f = expect_envelope_error(R"({"type":"fly","ref":5,"payload":[]})",
                                            errc::validation_error, "ref");
    CHECK(f.type == "fly");
    f = expect_envelope_error(R"({"type":"join_room","ref":5,"payload":{}})",
                              errc::validation_error, "ref");
    CHECK(f.type == "join_room");
    // A bad payload wins over an unknown type.
    expect_envelope_error(R"({"type":"fly","payload":[]})", errc::validation_error, "payload");
    // Envelope errors win over payload errors.
    f = expect_envelope_error(R"({"type":"join_room","ref":[],"payload":{"room":5}})",
                              errc::validation_error, "ref");
    CHECK_FALSE(f.payload_error.has_value());
  }

  SECTION("unknown top-level and payload fields are ignored; client timestamp ignored") {
    auto e = decode_ok<ce::leave_room>(
        R"({"type":"leave_room","payload":{"room":"conversation:a","extra":[1,{"x":null}],"text":5},)"
        R"("foo":{"bar":[1,2,3]},"timestamp":"not a time","version":2})");
    CHECK(e.room == "conversation:a");
    decode_ok<ce::ping>(R"({"type":"ping","timestamp":12345,"zzz":null})");
    decode_ok<ce::watch_inbox>(R"({"type":"watch_inbox","payload":{"anything":"goes"}})");
    auto s = decode_ok<ce::send_message>(
        frame("send_message", send_payload("hi", R"(,"since_seq":"x","seq":-1,"token":5)")));
    CHECK(s.text == "hi");
  }
}

TEST_CASE("codec payload errors: room", "[codec]") {
  std::vector<std::string> all_room_types = room_only_types;
  for (const char* t : {"join_room", "send_message", "mark_read"}) all_room_types.emplace_back(t);

  SECTION("the helper's valid payloads decode") {
    for (const std::string& type : all_room_types) {
      INFO("type: " << type);
      decoded_frame f = decode_client_frame(frame(type, payload_with_room(type, q(room_a))));
      CHECK(f.ok());
    }
  }

  SECTION("missing room, or payload omitted") {
    for (const std::string& type : all_room_types) {
      INFO("type: " << type);
      expect_payload_error(frame(type, payload_with_room(type, "")), "room");
      expect_payload_error("{\"type\":" + q(type) + "}", "room");
    }
  }

  SECTION("non-string room") {
    for (const std::string& type : all_room_types) {
      for (const char* room : {"5", "null", "true", "{}", "[\"conversation:a\"]"}) {
        INFO("type: " << type << ", room: " << room);
        expect_payload_error(frame(type, payload_with_room(type, room)), "room");
      }
    }
  }

  SECTION("bad room names are validation_error, never anything else") {
    const std::vector<std::string> bad = {
        "lobby",
        "conversation:",
        "conversation:a b",
        "conversation:" + std::string(129, 'a'),
        "Conversation:a",
        " conversation:a",
        "conversation:a ",
        "conversation:a/b",
        "conversation:caf" + e_acute,
        "conversation",
        "",
        std::string("conversation:a\0b", 16),
        "room:a",
    };
    for (const std::string& type : all_room_types) {
      for (const std::string& room : bad) {
        INFO("type: " << type << ", room: " << room);
        decoded_frame f = expect_payload_error(frame(type, payload_with_room(type, q(room))), "room");
        CHECK(f.type == type);
      }
    }
  }
}

TEST_CASE("codec payload errors: text", "[codec]") {
  const std::string frame_prefix = R"({"type":"send_message","payload":{"room":"conversation:a")";

  SECTION("missing, non-string") {
    expect_payload_error(frame_prefix + "}}", "text");
    for (const char* text : {"5", "null", "true", "{}", "[\"hi\"]"}) {
      INFO("text: " << text);
      expect_payload_error(frame_prefix + ",\"text\":" + text + "}}", "text");
    }
  }

  SECTION("empty or only trimmed whitespace") {
    for (const std::string& text : {std::string(), std::string(" "), std::string("  \t\r\n "),
                                    std::string("\n"), std::string("\t\t"), std::string("\r\n")}) {
      INFO("text: " << q(text));
      expect_payload_error(frame("send_message", send_payload(text)), "text");
    }
  }

  SECTION("only space, tab, CR and LF are trimmed") {
    auto text_of = [](const std::string& t) {
      return decode_ok<ce::send_message>(frame("send_message", send_payload(t))).text;
    };
    CHECK(text_of("  hello  ") == "hello");
    CHECK(text_of("\t\r\n hello \n\r\t") == "hello");
    CHECK(text_of("hello") == "hello");
    // Inner whitespace stays.
    CHECK(text_of(" a \t\r\n b ") == "a \t\r\n b");
    // Other whitespace is content.
    CHECK(text_of(nbsp + "hi" + nbsp) == nbsp + "hi" + nbsp);
    CHECK(text_of(" " + nbsp + " ") == nbsp);
    CHECK(text_of(ideographic_space) == ideographic_space);
    CHECK(text_of("\fhi\v") == "\fhi\v");
    CHECK(text_of("\f") == "\f");
    CHECK(text_of(" \x0b ") == "\x0b");
  }

  SECTION("5000 code points accepted, 5001 rejected (counted after trimming)") {
    for (const std::string& unit : {std::string("a"), e_acute, kanji, emoji}) {
      INFO("unit bytes: " << unit.size());
      const std::string max = repeat(unit, 5000);
      CHECK(decode_ok<ce::send_message>(frame("send_message", send_payload(max))).text == max);
      CHECK(decode_ok<ce::send_message>(frame("send_message", send_payload("  \n" + max + "\t  ")))
                .text == max);
      expect_payload_error(frame("send_message", send_payload(max + unit)), "text");
    }
  }

  SECTION("escapes decode before counting and trimming") {
    // "\u00e9" is one code point; "\ud83d\ude00" (a pair) is one code point.
    auto e = decode_ok<ce::send_message>(
        R"({"type":"send_message","payload":{"room":"conversation:a","text":"\u0020caf\u00e9 \ud83d\ude00\n"}})");
    CHECK(e.text == "caf" + e_acute + " " + emoji);
    std::string pairs;
    for (int i = 0; i < 5000; ++i) pairs += "\\ud83d\\ude00";
    e = decode_ok<ce::send_message>(
        R"({"type":"send_message","payload":{"room":"conversation:a","text":")" + pairs + "\"}}");
    CHECK(e.text == repeat(emoji, 5000));
    expect_payload_error(
        R"({"type":"send_message","payload":{"room":"conversation:a","text":")" + pairs +
            "\\ud83d\\ude00\"}}",
        "text");
  }

  SECTION("special characters survive decoding") {
    const std::string tricky = std::string("q\"uote\\back/slash\x01\x1f\x7f<>&'") + e_acute + kanji +
                               emoji + "\xE2\x80\xA8";  // U+2028
    // Build the frame with RapidJSON's own writer as a third-party client would.
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("type");
    w.String("send_message");
    w.Key("payload");
    w.StartObject();
    w.Key("room");
    w.String(room_a.c_str());
    w.Key("text");
    w.String(tricky.data(), static_cast<rapidjson::SizeType>(tricky.size()));
    w.EndObject();
    w.EndObject();
    CHECK(decode_ok<ce::send_message>(buf.GetString()).text == tricky);
    // An escaped NUL is content too.
    CHECK(decode_ok<ce::send_message>(
              R"({"type":"send_message","payload":{"room":"conversation:a","text":"a\u0000b"}})")
              .text == std::string("a\0b", 3));
  }
}

TEST_CASE("codec payload errors: client_msg_id", "[codec]") {
  auto with_id = [](const std::string& id_json) {
    return frame("send_message", send_payload("hi", ",\"client_msg_id\":" + id_json));
  };

  SECTION("non-string, empty, too long") {
    for (const char* id : {"5", "true", "{}", "[\"c\"]", "\"\""}) {
      INFO("client_msg_id: " << id);
      expect_payload_error(with_id(id), "client_msg_id");
    }
    expect_payload_error(with_id(q(std::string(65, 'c'))), "client_msg_id");
    expect_payload_error(with_id(q(repeat(kanji, 65))), "client_msg_id");
  }

  SECTION("1 to 64 characters accepted") {
    CHECK(decode_ok<ce::send_message>(with_id("\"c\"")).client_msg_id == std::string("c"));
    const std::string max(64, 'c');
    CHECK(decode_ok<ce::send_message>(with_id(q(max))).client_msg_id == max);
    const std::string max_multibyte = repeat(e_acute, 64);
    CHECK(decode_ok<ce::send_message>(with_id(q(max_multibyte))).client_msg_id == max_multibyte);
  }

  SECTION("null is treated as absent") {
    CHECK_FALSE(decode_ok<ce::send_message>(with_id("null")).client_msg_id.has_value());
  }
}

TEST_CASE("codec payload errors: since_seq, epoch, seq, token", "[codec]") {
  auto join = [](const std::string& extra) {
    return frame("join_room", R"({"room":"conversation:a")" + extra + "}");
  };

  SECTION("since_seq must be an integer >= 0") {
    for (const char* v : {"-1", "1.5", "\"3\"", "true", "{}", "[3]", "-9223372036854775808",
                          "18446744073709551616"}) {
      INFO("since_seq: " << v);
      expect_payload_error(join(std::string(",\"since_seq\":") + v), "since_seq");
    }
    // A number too large for a double: refused either way, never accepted.
    decoded_frame f = decode_client_frame(join(",\"since_seq\":1e400"));
    CHECK_FALSE(f.ok());
    if (f.envelope_error) CHECK(f.envelope_error->code == errc::invalid_json);
    if (f.payload_error) CHECK(f.payload_error->field == "since_seq");
  }

  SECTION("since_seq 0 and large values are fine; null is absent") {
    CHECK(decode_ok<ce::join_room>(join(",\"since_seq\":0")).since_seq == std::uint64_t{0});
    CHECK(decode_ok<ce::join_room>(join(",\"since_seq\":9007199254740993")).since_seq ==
          std::uint64_t{9007199254740993ULL});
    CHECK(decode_ok<ce::join_room>(join(",\"since_seq\":18446744073709551615")).since_seq ==
          std::uint64_t{18446744073709551615ULL});
    CHECK_FALSE(decode_ok<ce::join_room>(join(",\"since_seq\":null")).since_seq.has_value());
  }

  SECTION("epoch must be a string; null is absent") {
    for (const char* v : {"5", "true", "{}", "[\"e\"]"}) {
      INFO("epoch: " << v);
      expect_payload_error(join(std::string(",\"epoch\":") + v), "epoch");
    }
    CHECK_FALSE(decode_ok<ce::join_room>(join(",\"epoch\":null")).epoch.has_value());
    CHECK(decode_ok<ce::join_room>(join(",\"epoch\":\"\"")).epoch == std::string());
    const std::string long_epoch(128, 'e');
    CHECK(decode_ok<ce::join_room>(join(",\"epoch\":" + q(long_epoch))).epoch == long_epoch);
    auto e = decode_ok<ce::join_room>(join(",\"since_seq\":5,\"epoch\":\"abc\""));
    CHECK(e.since_seq == std::uint64_t{5});
    CHECK(e.epoch == std::string("abc"));
  }

  SECTION("mark_read seq is required and an integer >= 0") {
    expect_payload_error(frame("mark_read", R"({"room":"conversation:a"})"), "seq");
    for (const char* v : {"-1", "1.5", "\"3\"", "true", "{}", "[1]"}) {
      INFO("seq: " << v);
      expect_payload_error(frame("mark_read", std::string(R"({"room":"conversation:a","seq":)") + v +
                                                  "}"),
                           "seq");
    }
    CHECK(decode_ok<ce::mark_read>(frame("mark_read", R"({"room":"conversation:a","seq":18446744073709551615})"))
              .seq == 18446744073709551615ULL);
  }

  SECTION("auth token missing or non-string") {
    expect_payload_error(R"({"type":"auth"})", "token");
    expect_payload_error(frame("auth", "{}"), "token");
    for (const char* v : {"5", "null", "true", "{}", "[\"t\"]"}) {
      INFO("token: " << v);
      decoded_frame f = expect_payload_error(frame("auth", std::string("{\"token\":") + v + "}"),
                                             "token");
      CHECK(f.kind == livechat::client_event_type::auth);
      CHECK(f.type == "auth");
    }
  }
}

TEST_CASE("codec rejects hostile input without crashing", "[codec]") {
  SECTION("deep nesting is parsed iteratively") {
    expect_envelope_error(std::string(100000, '['), errc::invalid_json);
    expect_envelope_error(repeat("{\"a\":", 100000), errc::invalid_json);
    // Deep but well-formed nesting in an ignored field is fine (or refused), never a crash.
    const std::string deep = std::string(R"({"type":"ping","x":)") + std::string(50000, '[') +
                             std::string(50000, ']') + "}";
    decoded_frame f = decode_client_frame(deep);
    if (f.envelope_error) CHECK(f.envelope_error->code == errc::invalid_json);
    else CHECK(f.ok());
  }

  SECTION("invalid UTF-8 inside a JSON string -> invalid_json") {
    const std::vector<std::string> bad_bytes = {
        "\xFF",              // never valid
        "\xC0\xAF",          // overlong '/'
        "\xC3",              // truncated 2-byte
        "\xE6\x97",          // truncated 3-byte
        "\x80",              // lone continuation
        "\xED\xA0\x80",      // UTF-16 surrogate encoded in UTF-8
        "\xF4\x90\x80\x80",  // beyond U+10FFFF
        "\xF8\x88\x80\x80\x80",
    };
    for (const std::string& b : bad_bytes) {
      INFO("bytes: " << b.size());
      expect_envelope_error(frame("send_message", send_payload("ok" + b + "ok")), errc::invalid_json);
      expect_envelope_error("{\"type\":\"ping\",\"ref\":\"" + b + "\"}", errc::invalid_json);
      expect_envelope_error("{\"type\":\"ping\",\"k" + b + "\":1}", errc::invalid_json);
    }
  }

  SECTION("lone surrogate escapes -> invalid_json") {
    const char* lone[] = {
        R"("\uD800")",        R"("a\uD800b")",      R"("\uD800\u0041")",
        R"("\uDBFF\uDBFF")",  R"("\uD800\n")",      R"("\uD83D")",
    };
    for (const char* text : lone) {
      INFO("text: " << text);
      expect_envelope_error(std::string(R"({"type":"send_message","payload":{"room":"conversation:a","text":)") +
                                text + "}}",
                            errc::invalid_json);
    }
  }

  SECTION("a large valid frame decodes") {
    const std::string text = repeat("ab", 2500);
    std::string big = R"({"type":"send_message","ignored":)" + q(std::string(60000, 'x')) +
                      R"(,"payload":{"room":"conversation:a","text":)" + q(text) + "}}";
    CHECK(decode_ok<ce::send_message>(big).text == text);
  }
}

// Three cases found after the first release (a null required `seq`, a lone
// low surrogate, a NUL byte), each its own test case so a regression names
// the rule it breaks.

TEST_CASE("codec: mark_read with seq null is validation_error field seq", "[codec]") {
  // `seq` is required (PROTOCOL.md: mark_read | room, seq); null is no integer >= 0,
  // and unlike the optional since_seq it cannot mean "absent".
  expect_payload_error(frame("mark_read", R"({"room":"conversation:a","seq":null})"), "seq");
}

TEST_CASE("codec: a lone low surrogate escape is invalid_json", "[codec]") {
  // "\uDC00" has no UTF-8 form, exactly like "\uD800"; accepting it yields the
  // bytes ED B0 80 (invalid UTF-8) that the server would store and re-broadcast.
  for (const char* text : {R"("\uDC00")", R"("a\uDFFFb")", R"("\uDE00\uD83D\uDE00")"}) {
    INFO("text: " << text);
    expect_envelope_error(
        std::string(R"({"type":"send_message","payload":{"room":"conversation:a","text":)") + text +
            "}}",
        errc::invalid_json);
  }
  expect_envelope_error(R"({"type":"ping","ref":"\uDC00"})", errc::invalid_json);
  // `type` is echoed as the error's request_type: found by tests/fuzz/codec.fuzz.cpp.
  expect_envelope_error(R"({"type":"\uDC00","ref":"r"})", errc::invalid_json);
  expect_envelope_error(R"({"type":"ping\uDFFF"})", errc::invalid_json);
}

TEST_CASE("codec: bytes after a NUL byte are trailing garbage", "[codec]") {
  // A raw NUL is never valid outside a string; the frame below is not JSON.
  using namespace std::string_literals;
  expect_envelope_error("{\"type\":\"ping\"}\0"s, errc::invalid_json);
  expect_envelope_error("{\"type\":\"ping\"}\0garbage]]]"s, errc::invalid_json);
  expect_envelope_error("{\"type\":\"ping\"} \0 {\"type\":\"auth\"}"s, errc::invalid_json);
}

// =================================================================== request_type, envelope

TEST_CASE("codec: request_type_echo cuts to 64 code points, keeping UTF-8 valid", "[codec]") {
  CHECK(livechat::request_type_echo("send_message") == "send_message");
  CHECK(livechat::request_type_echo("").empty());
  CHECK(livechat::request_type_echo(std::string(64, 'x')) == std::string(64, 'x'));
  CHECK(livechat::request_type_echo(std::string(60 * 1024, 'x')) == std::string(64, 'x'));
  // Multi-byte code points: 64 of them, never a split sequence.
  CHECK(livechat::request_type_echo(repeat(kanji, 1000)) == repeat(kanji, 64));
  CHECK(livechat::request_type_echo("a" + repeat(emoji, 100)) == "a" + repeat(emoji, 63));
  livechat::codec_limits limits;
  limits.max_request_type_length = 2;
  CHECK(livechat::request_type_echo("a" + std::string(kanji) + "b", limits) == "a" + std::string(kanji));
}

TEST_CASE("codec: read_envelope gives ref and type of a refused frame", "[codec]") {
  using livechat::read_envelope;
  SECTION("a valid ref and a string type: both; the payload is not looked at") {
    auto e = read_envelope(R"({"type":"send_message","ref":"r1","payload":{"room":7}})");
    CHECK(e.ref == std::optional<std::string>("r1"));
    CHECK(e.request_type == std::optional<std::string>("send_message"));
    e = read_envelope(R"({"payload":[1,{"ref":"inner","type":"x"}],"ref":"","type":"made_up"})");
    CHECK(e.ref == std::optional<std::string>(""));
    CHECK(e.request_type == std::optional<std::string>("made_up"));
  }
  SECTION("the first of duplicate members, as the decoder reads them") {
    auto e = read_envelope(R"({"ref":"a","type":"ping","ref":"b","type":"auth"})");
    CHECK(e.ref == std::optional<std::string>("a"));
    CHECK(e.request_type == std::optional<std::string>("ping"));
  }
  SECTION("type is cut to 64 code points") {
    auto e = read_envelope(R"({"ref":"r","type":")" + repeat(kanji, 20000) + "\"}");
    CHECK(e.ref == std::optional<std::string>("r"));
    CHECK(e.request_type == std::optional<std::string>(repeat(kanji, 64)));
  }
  SECTION("otherwise neither") {
    using namespace std::string_literals;
    for (const std::string& f :
         {R"({"type":"ping"})"s, R"({"ref":"r"})"s, R"({"ref":"r","type":5})"s,
          R"({"ref":5,"type":"ping"})"s, R"({"ref":null,"type":"ping"})"s,
          R"({"ref":{"x":"y"},"type":"ping"})"s, R"({"ref":"r","type":["ping"]})"s,
          R"({"ref":")" + std::string(65, 'r') + R"(","type":"ping"})",
          R"({"ref":"\uDC00","type":"ping"})"s, R"({"ref":"r","type":"\uDC00"})"s,
          R"(["ref","r","type","ping"])"s, R"("ref")"s, "null"s, ""s, "not json"s,
          R"({"ref":"r","type":"ping"} trailing)"s, R"({"ref":"r","type":"ping")"s,
          "{\"ref\":\"r\",\"type\":\"ping\"}\0"s, "{\"ref\":\"r\",\"type\":\"\xff\"}"s}) {
      INFO("frame: " << f);
      auto e = read_envelope(f);
      CHECK_FALSE(e.ref.has_value());
      CHECK_FALSE(e.request_type.has_value());
    }
  }
  SECTION("a valid ref of 64 code points, non-ASCII") {
    auto e = read_envelope(R"({"ref":")" + repeat(kanji, 64) + R"(","type":"ping"})");
    CHECK(e.ref == std::optional<std::string>(repeat(kanji, 64)));
  }
  SECTION("deep nesting does not exhaust the stack") {
    const std::string deep = R"({"ref":"r","type":"t","payload":)" + std::string(100000, '[') +
                             std::string(100000, ']') + "}";
    CHECK(read_envelope(deep).ref == std::optional<std::string>("r"));
  }
}

TEST_CASE("codec honours custom limits", "[codec]") {
  livechat::codec_limits limits;
  limits.max_text_length = 3;
  limits.max_ref_length = 2;
  limits.max_client_msg_id_length = 1;
  CHECK(decode_client_frame(frame("send_message", send_payload(" " + repeat(kanji, 3) + " ")),
                            limits)
            .ok());
  decoded_frame f = decode_client_frame(frame("send_message", send_payload("abcd")), limits);
  REQUIRE(f.payload_error.has_value());
  CHECK(f.payload_error->field == "text");
  f = decode_client_frame(R"({"type":"ping","ref":"abc"})", limits);
  REQUIRE(f.envelope_error.has_value());
  CHECK(f.envelope_error->field == "ref");
  f = decode_client_frame(frame("send_message", send_payload("a", R"(,"client_msg_id":"xy")")),
                          limits);
  REQUIRE(f.payload_error.has_value());
  CHECK(f.payload_error->field == "client_msg_id");
}

// =================================================================== encoding

TEST_CASE("codec encodes the envelope", "[codec]") {
  SECTION("type, payload, timestamp; no ref unless given") {
    parsed p;
    parse_frame(p, encode(se::pong{t_created}, t_event), "pong", t_event, std::nullopt);
    CHECK(string_member(p.doc, "timestamp") == "2026-11-25T20:24:25.123Z");
  }

  SECTION("ref echoed when given") {
    parsed p;
    parse_frame(p, encode(se::pong{t_created}, t_event, std::string_view("r-77")), "pong", t_event,
                std::string("r-77"));
  }

  SECTION("an empty ref given is written as an empty string") {
    parsed p;
    parse_frame(p, encode(se::pong{t_created}, t_event, std::string_view("")), "pong", t_event,
                std::string());
  }

  SECTION("a ref with special characters round-trips") {
    const std::string ref = std::string("\"\\\n\x01") + e_acute + emoji;
    parsed p;
    parse_frame(p, encode(se::pong{t_created}, t_event, std::string_view(ref)), "pong", t_event, ref);
  }

  SECTION("timestamps are zero-padded with milliseconds") {
    parsed p;
    parse_frame(p, encode(se::inbox_unwatched{}, at(0)), "inbox_unwatched", at(0), std::nullopt);
    CHECK(string_member(p.doc, "timestamp") == "1970-01-01T00:00:00.000Z");
    parsed p2;
    parse_frame(p2, encode(se::inbox_unwatched{}, at(1000000000001)), "inbox_unwatched",
                at(1000000000001), std::nullopt);
    CHECK(string_member(p2.doc, "timestamp") == "2001-09-09T01:46:40.001Z");
  }
}

TEST_CASE("codec encodes every server event", "[codec]") {
  parsed p;

  SECTION("auth_success") {
    se::auth_success e;
    e.identity = {"alice", "Alice Liddell", livechat::user_role::admin};
    e.connection_id = "c-9";
    e.server_time = t_created;
    parse_frame(p, encode(e, t_event, std::string_view("a1")), "auth_success", t_event,
                std::string("a1"));
    const auto& pl = p.payload();
    CHECK(string_member(pl, "user_id") == "alice");
    CHECK(string_member(pl, "name") == "Alice Liddell");
    CHECK(string_member(pl, "role") == "admin");
    CHECK(string_member(pl, "connection_id") == "c-9");
    CHECK(member(pl, "protocol").IsInt());
    CHECK(uint_member(pl, "protocol") == 1);
    CHECK(uint_member(pl, "heartbeat_interval_ms") == 25000);
    check_time_member(pl, "server_time", t_created);
    CHECK(pl.MemberCount() == 7);

    e.identity.role = livechat::user_role::operator_;
    parsed p2;
    parse_frame(p2, encode(e, t_event), "auth_success", t_event, std::nullopt);
    CHECK(string_member(p2.payload(), "role") == "operator");
  }

  SECTION("presence_update") {
    se::presence_update e;
    e.online = {{"alice", "Alice", 2}, {"bob", "Bob", 1}};
    parse_frame(p, encode(e, t_event), "presence_update", t_event, std::nullopt);
    check_presence_list(member(p.payload(), "online"), e.online);
    CHECK(p.payload().MemberCount() == 1);

    parsed empty;
    parse_frame(empty, encode(se::presence_update{}, t_event), "presence_update", t_event,
                std::nullopt);
    CHECK(member(empty.payload(), "online").IsArray());
    CHECK(member(empty.payload(), "online").Empty());
  }

  SECTION("presence_diff") {
    se::presence_diff e;
    e.online = {{"carol", "Carol", 3}};
    e.offline = {"alice", "bob"};
    parse_frame(p, encode(e, t_event), "presence_diff", t_event, std::nullopt);
    check_presence_list(member(p.payload(), "online"), e.online);
    const auto& off = member(p.payload(), "offline");
    REQUIRE(off.IsArray());
    REQUIRE(off.Size() == 2);
    CHECK(str(off[0]) == "alice");
    CHECK(str(off[1]) == "bob");
    CHECK(p.payload().MemberCount() == 2);

    parsed empty;
    parse_frame(empty, encode(se::presence_diff{}, t_event), "presence_diff", t_event, std::nullopt);
    CHECK(member(empty.payload(), "online").IsArray());
    CHECK(member(empty.payload(), "offline").IsArray());
  }

  SECTION("inbox_update") {
    se::inbox_update e;
    livechat::conversation_summary with_message;
    with_message.room = room_a;
    with_message.conversation_id = "U4af4980629abc";
    with_message.last_message = sample_message("", livechat::sender_type::user);
    with_message.last_seq = 42;
    with_message.session = claimed_session();
    with_message.read_seq = 40;
    livechat::conversation_summary without_message;
    without_message.room = "conversation:empty";
    without_message.conversation_id = "empty";
    without_message.session = open_session();
    e.conversations = {with_message, without_message};
    e.online = {{"alice", "Alice", 1}};
    parse_frame(p, encode(e, t_event, std::string_view("w")), "inbox_update", t_event,
                std::string("w"));
    const auto& convs = member(p.payload(), "conversations");
    REQUIRE(convs.IsArray());
    REQUIRE(convs.Size() == 2);
    CHECK(string_member(convs[0], "room") == room_a);
    CHECK(string_member(convs[0], "conversation_id") == "U4af4980629abc");
    check_message(member(convs[0], "last_message"), *with_message.last_message);
    CHECK(uint_member(convs[0], "last_seq") == 42);
    check_session(member(convs[0], "session"), with_message.session);
    CHECK(uint_member(convs[0], "read_seq") == 40);
    CHECK(convs[0].MemberCount() == 6);
    CHECK(member(convs[1], "last_message").IsNull());
    CHECK(uint_member(convs[1], "last_seq") == 0);
    CHECK(uint_member(convs[1], "read_seq") == 0);  // none: 0, never absent
    check_session(member(convs[1], "session"), without_message.session);
    check_presence_list(member(p.payload(), "online"), e.online);
    CHECK(p.payload().MemberCount() == 2);
  }

  SECTION("inbox_unwatched") {
    parse_frame(p, encode(se::inbox_unwatched{}, t_event, std::string_view("u")), "inbox_unwatched",
                t_event, std::string("u"));
    CHECK(p.payload().MemberCount() == 0);
  }

  SECTION("conversation_update") {
    se::conversation_update e;
    e.room = room_a;
    e.conversation_id = "U4af4980629abc";
    e.session = claimed_session();
    e.members = {{"alice", "Alice"}, {"bob", "Bob"}};
    e.messages = {sample_message("", livechat::sender_type::user), sample_message("c-2")};
    e.messages[1].seq = 43;
    e.last_seq = 43;
    e.has_more = true;
    e.epoch = "epoch-1";
    e.recovered = false;
    e.read_seq = 41;
    parse_frame(p, encode(e, t_event, std::string_view("j")), "conversation_update", t_event,
                std::string("j"));
    const auto& pl = p.payload();
    CHECK(string_member(pl, "room") == room_a);
    CHECK(string_member(pl, "conversation_id") == "U4af4980629abc");
    check_session(member(pl, "session"), e.session);
    const auto& members = member(pl, "members");
    REQUIRE(members.IsArray());
    REQUIRE(members.Size() == 2);
    CHECK(string_member(members[0], "user_id") == "alice");
    CHECK(string_member(members[0], "name") == "Alice");
    CHECK(members[0].MemberCount() == 2);
    CHECK(string_member(members[1], "user_id") == "bob");
    const auto& msgs = member(pl, "messages");
    REQUIRE(msgs.IsArray());
    REQUIRE(msgs.Size() == 2);
    check_message(msgs[0], e.messages[0]);
    check_message(msgs[1], e.messages[1]);
    CHECK(uint_member(pl, "last_seq") == 43);
    CHECK(bool_member(pl, "has_more"));
    CHECK(string_member(pl, "epoch") == "epoch-1");
    CHECK_FALSE(bool_member(pl, "recovered"));
    CHECK(uint_member(pl, "read_seq") == 41);
    CHECK(pl.MemberCount() == 10);

    se::conversation_update empty;
    empty.room = "conversation:x";
    empty.conversation_id = "x";
    empty.recovered = true;
    parsed p2;
    parse_frame(p2, encode(empty, t_event), "conversation_update", t_event, std::nullopt);
    CHECK(member(p2.payload(), "members").Empty());
    CHECK(member(p2.payload(), "messages").Empty());
    CHECK(member(member(p2.payload(), "session"), "claimed_by").IsNull());
    CHECK(bool_member(p2.payload(), "recovered"));
    CHECK_FALSE(bool_member(p2.payload(), "has_more"));
    CHECK(uint_member(p2.payload(), "read_seq") == 0);
  }

  SECTION("new_message, with each sender type, client_msg_id only when non-empty") {
    for (auto type : {livechat::sender_type::operator_, livechat::sender_type::user,
                      livechat::sender_type::system}) {
      for (const char* id : {"", "c-5"}) {
        se::new_message e{sample_message(id, type)};
        parsed q1;
        parse_frame(q1, encode(e, t_event), "new_message", t_event, std::nullopt);
        check_message(member(q1.payload(), "message"), e.message);
        CHECK(q1.payload().MemberCount() == 1);
      }
    }
    se::new_message e{sample_message("", livechat::sender_type::system)};
    parsed q2;
    parse_frame(q2, encode(e, t_event), "new_message", t_event, std::nullopt);
    CHECK(string_member(member(member(q2.payload(), "message"), "sender"), "type") == "system");
  }

  SECTION("message_sent") {
    se::message_sent e;
    e.client_msg_id = "c-1";
    e.message = sample_message("c-1");
    e.duplicate = true;
    parse_frame(p, encode(e, t_event, std::string_view("s1")), "message_sent", t_event,
                std::string("s1"));
    CHECK(string_member(p.payload(), "client_msg_id") == "c-1");
    check_message(member(p.payload(), "message"), e.message);
    CHECK(bool_member(p.payload(), "duplicate"));
    CHECK(p.payload().MemberCount() == 3);

    se::message_sent no_id;
    no_id.message = sample_message("");
    parsed p2;
    parse_frame(p2, encode(no_id, t_event), "message_sent", t_event, std::nullopt);
    CHECK_FALSE(p2.payload().HasMember("client_msg_id"));
    CHECK_FALSE(bool_member(p2.payload(), "duplicate"));
    check_message(member(p2.payload(), "message"), no_id.message);
    CHECK(p2.payload().MemberCount() == 2);
  }

  SECTION("a long text grows the output several times and comes back whole") {
    se::new_message e{sample_message()};
    e.message.text = repeat(std::string("a\"") + e_acute + emoji, 5000);
    parse_frame(p, encode(e, t_event), "new_message", t_event, std::nullopt);
    check_message(member(p.payload(), "message"), e.message);
  }

  SECTION("new_message and message_sent from one encoding of the message: the same bytes") {
    for (const std::string id : {"c-1", ""}) {
      const livechat::message m = sample_message(id, livechat::sender_type::operator_);
      const std::string json = livechat::encode_message_object(m);
      CHECK(livechat::encode_new_message(json, t_event) == encode(se::new_message{m}, t_event));
      for (const bool duplicate : {false, true}) {
        const std::optional<std::string> cid =
            id.empty() ? std::nullopt : std::optional<std::string>(id);
        CHECK(livechat::encode_message_sent(cid, json, duplicate, t_event) ==
              encode(se::message_sent{cid, m, duplicate}, t_event));
        CHECK(livechat::encode_message_sent(cid, json, duplicate, t_event, std::string_view("r\"")) ==
              encode(se::message_sent{cid, m, duplicate}, t_event, std::string_view("r\"")));
      }
    }
  }

  SECTION("conversation_activity") {
    se::conversation_activity e;
    e.room = room_a;
    e.conversation_id = "U4af4980629abc";
    e.last_message = sample_message("", livechat::sender_type::user);
    e.session = open_session();
    parse_frame(p, encode(e, t_event), "conversation_activity", t_event, std::nullopt);
    CHECK(string_member(p.payload(), "room") == room_a);
    CHECK(string_member(p.payload(), "conversation_id") == "U4af4980629abc");
    check_message(member(p.payload(), "last_message"), e.last_message);
    check_session(member(p.payload(), "session"), e.session);
    CHECK(p.payload().MemberCount() == 4);
  }

  SECTION("typing") {
    for (bool is_typing : {true, false}) {
      se::typing e{};
      e.room = room_a;
      e.user_id = "alice";
      e.name = "Alice";
      e.is_typing = is_typing;
      parsed q1;
      parse_frame(q1, encode(e, t_event), "typing", t_event, std::nullopt);
      CHECK(string_member(q1.payload(), "room") == room_a);
      CHECK(string_member(q1.payload(), "user_id") == "alice");
      CHECK(string_member(q1.payload(), "name") == "Alice");
      CHECK(bool_member(q1.payload(), "is_typing") == is_typing);
      CHECK(q1.payload().MemberCount() == 4);
    }
  }

  SECTION("operator_joined / operator_left") {
    parse_frame(p, encode(se::operator_joined{room_a, "bob", "Bob"}, t_event), "operator_joined",
                t_event, std::nullopt);
    CHECK(string_member(p.payload(), "room") == room_a);
    CHECK(string_member(p.payload(), "user_id") == "bob");
    CHECK(string_member(p.payload(), "name") == "Bob");
    CHECK(p.payload().MemberCount() == 3);
    parsed p2;
    parse_frame(p2, encode(se::operator_left{room_a, "bob", "Bob"}, t_event), "operator_left",
                t_event, std::nullopt);
    CHECK(string_member(p2.payload(), "room") == room_a);
    CHECK(string_member(p2.payload(), "user_id") == "bob");
    CHECK(string_member(p2.payload(), "name") == "Bob");
    CHECK(p2.payload().MemberCount() == 3);
  }

  SECTION("room_left") {
    parse_frame(p, encode(se::room_left{room_a}, t_event, std::string_view("l")), "room_left",
                t_event, std::string("l"));
    CHECK(string_member(p.payload(), "room") == room_a);
    CHECK(p.payload().MemberCount() == 1);
  }

  SECTION("session_claimed / session_released / session_closed") {
    parse_frame(p, encode(se::session_claimed{room_a, claimed_session()}, t_event),
                "session_claimed", t_event, std::nullopt);
    CHECK(string_member(p.payload(), "room") == room_a);
    check_session(member(p.payload(), "session"), claimed_session());
    CHECK(p.payload().MemberCount() == 2);

    parsed p2;
    parse_frame(p2, encode(se::session_released{room_a, open_session()}, t_event),
                "session_released", t_event, std::nullopt);
    check_session(member(p2.payload(), "session"), open_session());
    CHECK(member(member(p2.payload(), "session"), "claimed_by").IsNull());

    livechat::session_state closed = claimed_session();
    closed.status = livechat::session_status::closed;
    closed.version = 4;
    parsed p3;
    parse_frame(p3, encode(se::session_closed{room_a, closed}, t_event), "session_closed", t_event,
                std::nullopt);
    check_session(member(p3.payload(), "session"), closed);
    CHECK(string_member(member(p3.payload(), "session"), "status") == "closed");
  }

  SECTION("read_receipt") {
    parse_frame(p, encode(se::read_receipt{room_a, "alice", 18446744073709551615ULL}, t_event),
                "read_receipt", t_event, std::nullopt);
    CHECK(string_member(p.payload(), "room") == room_a);
    CHECK(string_member(p.payload(), "user_id") == "alice");
    CHECK(uint_member(p.payload(), "seq") == 18446744073709551615ULL);
    CHECK(p.payload().MemberCount() == 3);
  }

  SECTION("pong") {
    parse_frame(p, encode(se::pong{t_created}, t_event, std::string_view("p")), "pong", t_event,
                std::string("p"));
    check_time_member(p.payload(), "server_time", t_created);
    CHECK(p.payload().MemberCount() == 1);
  }

  SECTION("error: code as wire string; request_type and field only when set") {
    se::error e;
    e.code = errc::validation_error;
    e.message = "room is required";
    e.request_type = "join_room";
    e.field = "room";
    parse_frame(p, encode(e, t_event, std::string_view("e1")), "error", t_event, std::string("e1"));
    CHECK(string_member(p.payload(), "code") == "validation_error");
    CHECK(string_member(p.payload(), "message") == "room is required");
    CHECK(string_member(p.payload(), "request_type") == "join_room");
    CHECK(string_member(p.payload(), "field") == "room");
    CHECK(p.payload().MemberCount() == 4);

    se::error bare;
    bare.code = errc::not_authenticated;
    bare.message = "authenticate first";
    parsed p2;
    parse_frame(p2, encode(bare, t_event), "error", t_event, std::nullopt);
    CHECK(string_member(p2.payload(), "code") == "not_authenticated");
    CHECK_FALSE(p2.payload().HasMember("request_type"));
    CHECK_FALSE(p2.payload().HasMember("field"));
    CHECK(p2.payload().MemberCount() == 2);
  }

  SECTION("error: every code") {
    const std::pair<errc, const char*> codes[] = {
        {errc::invalid_json, "invalid_json"},
        {errc::unknown_type, "unknown_type"},
        {errc::validation_error, "validation_error"},
        {errc::not_authenticated, "not_authenticated"},
        {errc::already_authenticated, "already_authenticated"},
        {errc::auth_failed, "auth_failed"},
        {errc::not_in_room, "not_in_room"},
        {errc::forbidden, "forbidden"},
        {errc::session_already_claimed, "session_already_claimed"},
        {errc::limit_exceeded, "limit_exceeded"},
        {errc::rate_limited, "rate_limited"},
        {errc::unsupported_frame, "unsupported_frame"},
        {errc::internal, "internal"},
        {errc::store_failure, "internal"},
        {errc::not_found, "internal"},
    };
    for (const auto& [code, wire] : codes) {
      se::error e;
      e.code = code;
      e.message = "m";
      e.request_type = "send_message";
      parsed q1;
      parse_frame(q1, encode(e, t_event), "error", t_event, std::nullopt);
      CHECK(string_member(q1.payload(), "code") == wire);
      CHECK(string_member(q1.payload(), "request_type") == "send_message");
      CHECK_FALSE(q1.payload().HasMember("field"));
    }
  }
}

TEST_CASE("codec strings round-trip through encode and parse", "[codec]") {
  std::string all_controls;
  for (int c = 1; c < 0x20; ++c) all_controls += static_cast<char>(c);
  const std::vector<std::string> samples = {
      "",
      "plain",
      "\"quoted\"",
      "back\\slash\\\\",
      "slash/</script>",
      all_controls,
      std::string("nul\0inside", 11),
      "\x7f",
      "caf" + e_acute,
      kanji + kanji + " " + emoji,
      "\xE2\x80\xA8\xE2\x80\xA9",  // U+2028, U+2029
      "\xEF\xBF\xBF",              // U+FFFF
      "\xF4\x8F\xBF\xBF",          // U+10FFFF
      "mix \"" + e_acute + "\\\n\t" + emoji + "\r\x01",
  };
  for (const std::string& s : samples) {
    INFO("sample: " << q(s));
    livechat::message m = sample_message(s);
    m.id = s;
    m.text = s;
    m.sender.name = s;
    se::message_sent e;
    e.client_msg_id = s;
    e.message = m;
    parsed p;
    parse_frame(p, encode(e, t_event, std::string_view(s)), "message_sent", t_event, s);
    CHECK(string_member(p.payload(), "client_msg_id") == s);
    const auto& msg = member(p.payload(), "message");
    CHECK(string_member(msg, "id") == s);
    CHECK(string_member(msg, "text") == s);
    CHECK(string_member(member(msg, "sender"), "name") == s);
    if (!s.empty()) {
      CHECK(string_member(msg, "client_msg_id") == s);
    } else {
      CHECK_FALSE(msg.HasMember("client_msg_id"));
    }

    se::error err;
    err.message = s;
    err.field = s;
    err.request_type = s;
    parsed p2;
    parse_frame(p2, encode(err, t_event), "error", t_event, std::nullopt);
    CHECK(string_member(p2.payload(), "message") == s);
    CHECK(string_member(p2.payload(), "field") == s);
    CHECK(string_member(p2.payload(), "request_type") == s);
  }
}

TEST_CASE("codec: send_message with attachment_id makes text optional", "[codec]") {
  auto e = decode_ok<ce::send_message>(
      R"({"type":"send_message","payload":{"room":"conversation:a","attachment_id":"0123abcd"}})");
  CHECK(e.attachment_id == std::optional<std::string>("0123abcd"));
  CHECK(e.text.empty());
  e = decode_ok<ce::send_message>(
      R"({"type":"send_message","payload":{"room":"conversation:a","attachment_id":"x","text":" see "}})");
  CHECK(e.text == "see");
  // Without an attachment the text is still required; a given text is still checked.
  expect_payload_error(R"({"type":"send_message","payload":{"room":"conversation:a"}})", "text");
  expect_payload_error(
      R"({"type":"send_message","payload":{"room":"conversation:a","attachment_id":"x","text":" "}})",
      "text");
  expect_payload_error(
      R"({"type":"send_message","payload":{"room":"conversation:a","attachment_id":5}})",
      "attachment_id");
  expect_payload_error(R"({"type":"send_message","payload":{"room":"conversation:a","attachment_id":")" +
                           std::string(65, 'a') + "\"}}",
                       "attachment_id");
  // The client's encoder leaves an empty text out when an attachment stands in.
  ce::send_message out;
  out.room = "conversation:a";
  out.attachment_id = "abc";
  const std::string frame = livechat::encode_client_event(out);
  CHECK(frame.find("\"text\"") == std::string::npos);
  CHECK(decode_ok<ce::send_message>(frame).attachment_id == std::optional<std::string>("abc"));
}

}  // namespace livechat_unit_codec
