// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/server_codec.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_server_codec {

using namespace livechat;
namespace se = server_events;
namespace ce = client_events;

namespace {

const system_time t1 = system_time(std::chrono::milliseconds(1764102265123));
const system_time t2 = system_time(std::chrono::milliseconds(1764102299999));

message sample_message(std::uint64_t seq, std::string client_msg_id = "") {
  message m;
  m.id = "e-" + std::to_string(seq);
  m.room = "conversation:U1";
  m.seq = seq;
  m.sender = sender{sender_type::user, "U1", "Ann \xE3\x81\x82"};
  m.text = "hi \"there\"\n\xF0\x9F\x98\x80";
  m.created_at = t1;
  m.client_msg_id = std::move(client_msg_id);
  return m;
}

session_state claimed_session() {
  session_state s;
  s.status = session_status::claimed;
  s.claimed_by = user_ref{"op1", "Operator One"};
  s.updated_at = t2;
  s.version = 7;
  return s;
}

void check_same(const message& a, const message& b) {
  CHECK(a.id == b.id);
  CHECK(a.room == b.room);
  CHECK(a.seq == b.seq);
  CHECK(a.sender.type == b.sender.type);
  CHECK(a.sender.id == b.sender.id);
  CHECK(a.sender.name == b.sender.name);
  CHECK(a.text == b.text);
  CHECK(a.created_at == b.created_at);
  CHECK(a.client_msg_id == b.client_msg_id);
}

void check_same(const session_state& a, const session_state& b) {
  CHECK(a.status == b.status);
  CHECK(a.claimed_by.has_value() == b.claimed_by.has_value());
  if (a.claimed_by && b.claimed_by) CHECK(*a.claimed_by == *b.claimed_by);
  CHECK(a.updated_at == b.updated_at);
  CHECK(a.version == b.version);
}

void check_same(const presence_entry& a, const presence_entry& b) {
  CHECK(a.user_id == b.user_id);
  CHECK(a.name == b.name);
  CHECK(a.connections == b.connections);
}

/// Encodes with the server's encoder, decodes with the client's decoder.
template <class E>
E round_trip(const E& e, std::optional<std::string_view> ref = std::nullopt) {
  const std::string frame = encode(e, t2, ref);
  decoded_server_frame d = decode_server_frame(frame);
  INFO(frame);
  REQUIRE(d.ok());
  CHECK(d.type == E::type_name);
  REQUIRE(d.kind);
  CHECK(d.timestamp == std::optional<system_time>(t2));
  if (ref) CHECK(d.ref == std::optional<std::string>(std::string(*ref)));
  else CHECK_FALSE(d.ref);
  REQUIRE(std::holds_alternative<E>(d.event));
  return std::get<E>(d.event);
}

decode_error bad(std::string_view frame) {
  decoded_server_frame d = decode_server_frame(frame);
  INFO(frame);
  REQUIRE(d.error);
  return *d.error;
}

}  // namespace

TEST_CASE("server codec: every server event survives encode → decode", "[server_codec]") {
  SECTION("auth_success") {
    se::auth_success e{identity{"u1", "User One", user_role::admin}, "c42", 1, 25000, t1};
    auto d = round_trip(e, "a1");
    CHECK(d.identity.user_id == "u1");
    CHECK(d.identity.name == "User One");
    CHECK(d.identity.role == user_role::admin);
    CHECK(d.connection_id == "c42");
    CHECK(d.protocol == 1);
    CHECK(d.heartbeat_interval_ms == 25000);
    CHECK(d.server_time == t1);
  }
  SECTION("presence_update and presence_diff") {
    auto u = round_trip(se::presence_update{{{"a", "A", 1}, {"b", "B", 3}}});
    REQUIRE(u.online.size() == 2);
    check_same(u.online[1], presence_entry{"b", "B", 3});
    auto d = round_trip(se::presence_diff{{{"c", "C", 2}}, {"a", "b"}});
    REQUIRE(d.online.size() == 1);
    check_same(d.online[0], presence_entry{"c", "C", 2});
    CHECK(d.offline == std::vector<std::string>{"a", "b"});
  }
  SECTION("inbox_update and inbox_unwatched") {
    conversation_summary with;
    with.room = "conversation:U1";
    with.conversation_id = "U1";
    with.last_message = sample_message(3);
    with.last_seq = 3;
    with.session = claimed_session();
    with.read_seq = 2;
    with.customer = customer_profile{"U1", "Taro", "https://p.example/t.jpg"};
    conversation_summary without;
    without.room = "conversation:U2";
    without.conversation_id = "U2";
    auto d = round_trip(se::inbox_update{{with, without}, {{"a", "A", 1}}}, "w");
    REQUIRE(d.conversations.size() == 2);
    CHECK(d.conversations[0].room == "conversation:U1");
    REQUIRE(d.conversations[0].last_message);
    check_same(*d.conversations[0].last_message, sample_message(3));
    CHECK(d.conversations[0].last_seq == 3);
    check_same(d.conversations[0].session, claimed_session());
    CHECK(d.conversations[0].read_seq == 2);
    CHECK(d.conversations[1].read_seq == 0);
    REQUIRE(d.conversations[0].customer);
    CHECK(d.conversations[0].customer->id == "U1");
    CHECK(d.conversations[0].customer->name == "Taro");
    CHECK(d.conversations[0].customer->picture_url == "https://p.example/t.jpg");
    CHECK_FALSE(d.conversations[1].customer);
    CHECK_FALSE(d.conversations[1].last_message);
    CHECK_FALSE(d.conversations[1].session.claimed_by);
    REQUIRE(d.online.size() == 1);
    round_trip(se::inbox_unwatched{}, "u");
  }
  SECTION("conversation_update") {
    se::conversation_update e;
    e.room = "conversation:U1";
    e.conversation_id = "U1";
    e.session = claimed_session();
    e.members = {{"op1", "Operator One"}, {"op2", "Two"}};
    e.messages = {sample_message(4), sample_message(5, "cm-5")};
    e.last_seq = 5;
    e.has_more = true;
    e.epoch = "3f2a";
    e.recovered = true;
    e.read_seq = 4;
    e.customer = customer_profile{"U1", "U1", ""};  // no picture: null on the wire
    auto d = round_trip(e, "j");
    CHECK(d.room == e.room);
    CHECK(d.conversation_id == "U1");
    check_same(d.session, e.session);
    CHECK(d.members == e.members);
    REQUIRE(d.messages.size() == 2);
    check_same(d.messages[0], e.messages[0]);
    check_same(d.messages[1], e.messages[1]);
    CHECK(d.last_seq == 5);
    CHECK(d.has_more);
    CHECK(d.epoch == "3f2a");
    CHECK(d.recovered);
    CHECK(d.read_seq == 4);
    REQUIRE(d.customer);
    CHECK(d.customer->name == "U1");
    CHECK(d.customer->picture_url.empty());
  }
  SECTION("new_message and message_sent") {
    check_same(round_trip(se::new_message{sample_message(9)}).message, sample_message(9));
    auto s =
        round_trip(se::message_sent{std::string("cm-1"), sample_message(9, "cm-1"), true}, "s");
    CHECK(s.client_msg_id == std::optional<std::string>("cm-1"));
    check_same(s.message, sample_message(9, "cm-1"));
    CHECK(s.duplicate);
    auto n = round_trip(se::message_sent{std::nullopt, sample_message(2), false});
    CHECK_FALSE(n.client_msg_id);
    CHECK_FALSE(n.duplicate);
  }
  SECTION("conversation_activity") {
    auto d = round_trip(
        se::conversation_activity{"conversation:U1", "U1", sample_message(1), claimed_session(),
                                  customer_profile{"U1", "Hanako", ""}});
    CHECK(d.room == "conversation:U1");
    REQUIRE(d.customer);
    CHECK(d.customer->name == "Hanako");
    CHECK(d.conversation_id == "U1");
    check_same(d.last_message, sample_message(1));
    check_same(d.session, claimed_session());
  }
  SECTION("typing, operator_joined/left, room_left, read_receipt, pong") {
    auto t = round_trip(se::typing{"conversation:U1", "op1", "One", true});
    CHECK(t.room == "conversation:U1");
    CHECK(t.user_id == "op1");
    CHECK(t.name == "One");
    CHECK(t.is_typing);
    auto j = round_trip(se::operator_joined{"conversation:U1", "op2", "Two"});
    CHECK(j.user_id == "op2");
    auto l = round_trip(se::operator_left{"conversation:U1", "op2", "Two"});
    CHECK(l.name == "Two");
    CHECK(round_trip(se::room_left{"conversation:U9"}, "l").room == "conversation:U9");
    auto r = round_trip(se::read_receipt{"conversation:U1", "op1", 12});
    CHECK(r.seq == 12);
    CHECK(round_trip(se::pong{t1}, "p").server_time == t1);
  }
  SECTION("session events") {
    check_same(round_trip(se::session_claimed{"conversation:U1", claimed_session()}).session,
               claimed_session());
    session_state open;
    open.version = 8;
    auto rel = round_trip(se::session_released{"conversation:U1", open});
    CHECK(rel.session.status == session_status::open);
    CHECK_FALSE(rel.session.claimed_by);
    CHECK(rel.session.version == 8);
    session_state closed = claimed_session();
    closed.status = session_status::closed;
    CHECK(round_trip(se::session_closed{"conversation:U1", closed}).session.status ==
          session_status::closed);
  }
  SECTION("error") {
    auto e = round_trip(se::error{errc::not_in_room, "join first", std::string("send_message"),
                                  std::string("room")},
                        "x");
    CHECK(e.code == errc::not_in_room);
    CHECK(e.message == "join first");
    CHECK(e.request_type == std::optional<std::string>("send_message"));
    CHECK(e.field == std::optional<std::string>("room"));
    auto plain = round_trip(se::error{errc::rate_limited, "slow down", std::nullopt, std::nullopt});
    CHECK(plain.code == errc::rate_limited);
    CHECK_FALSE(plain.request_type);
    CHECK_FALSE(plain.field);
  }
}

TEST_CASE("server codec: error codes from the wire", "[server_codec]") {
  for (int i = 1; i <= 13; ++i) {
    const auto code = static_cast<errc>(i);
    CHECK(parse_wire_code(wire_code(code)) == std::optional<errc>(code));
  }
  CHECK_FALSE(parse_wire_code("teapot"));
  // A newer server's code is still an error, read as internal.
  decoded_server_frame d = decode_server_frame(
      R"({"type":"error","payload":{"code":"teapot","message":"short and stout"}})");
  REQUIRE(d.ok());
  CHECK(std::get<se::error>(d.event).code == errc::internal);
  CHECK(std::get<se::error>(d.event).message == "short and stout");
}

TEST_CASE("server codec: malformed frames are described, never thrown", "[server_codec]") {
  CHECK(bad("").code == errc::invalid_json);
  CHECK(bad("nope").code == errc::invalid_json);
  CHECK(bad("[]").code == errc::invalid_json);
  CHECK(bad(R"({"type":"pong"} trailing)").code == errc::invalid_json);
  CHECK(bad(std::string_view("{\"type\":\"pong\"}\0", 16)).code == errc::invalid_json);
  CHECK(bad("{\"type\":\"pong\",\"x\":\"\xff\"}").code == errc::invalid_json);  // raw invalid UTF-8

  CHECK(bad(R"({"payload":{}})").field == "type");
  CHECK(bad(R"({"type":7})").field == "type");
  CHECK(bad(R"({"type":"pong","payload":"x"})").field == "payload");
  CHECK(bad(R"({"type":"pong"})").field == "server_time");
  CHECK(bad(R"({"type":"pong","payload":{"server_time":"yesterday"}})").field == "server_time");
  CHECK(bad(R"({"type":"new_message","payload":{}})").field == "message");
  CHECK(bad(R"({"type":"new_message","payload":{"message":[]}})").field == "message");
  CHECK(bad(R"({"type":"read_receipt","payload":{"room":"r","user_id":"u","seq":1.5}})").field ==
        "seq");
  CHECK(bad(R"({"type":"read_receipt","payload":{"room":"r","user_id":"u","seq":-1}})").field ==
        "seq");
  CHECK(
      bad(R"({"type":"typing","payload":{"room":"r","user_id":"u","name":"n","is_typing":"yes"}})")
          .field == "is_typing");
  CHECK(bad(R"({"type":"room_left","payload":{"room":null}})").field == "room");
  CHECK(bad(R"({"type":"presence_diff","payload":{"online":[],"offline":[1]}})").field ==
        "offline[0]");
  CHECK(
      bad(R"({"type":"presence_update","payload":{"online":[{"user_id":"a","name":"A","connections":-2}]}})")
          .field == "online[0].connections");
  CHECK(
      bad(R"({"type":"auth_success","payload":{"user_id":"u","name":"n","role":"root","connection_id":"c",)"
          R"("protocol":1,"heartbeat_interval_ms":1,"server_time":"2026-01-01T00:00:00.000Z"}})")
          .field == "role");

  // Nested paths name the element that failed.
  const std::string good_message =
      R"({"id":"1","room":"conversation:U1","seq":1,"sender":{"type":"user","id":"U1","name":"U1"},)"
      R"("text":"t","created_at":"2026-01-01T00:00:00.000Z"})";
  std::string update =
      R"({"type":"conversation_update","payload":{"room":"conversation:U1","conversation_id":"U1",)"
      R"("session":{"status":"open","claimed_by":null,"updated_at":"2026-01-01T00:00:00.000Z",)"
      R"("version":0},"members":[],"messages":[)" +
      good_message +
      R"(,{"id":"2"}],"last_seq":2,"has_more":false,"epoch":"e","recovered":false}})";
  CHECK(bad(update).field == "messages[1].room");
  // read_seq: absent (an older server) reads as 0, present must be an integer >= 0.
  std::string no_read = update;
  no_read.replace(no_read.find(R"(,{"id":"2"})"), 11, "");
  auto older = decode_server_frame(no_read);
  REQUIRE(older.ok());
  CHECK(std::get<se::conversation_update>(older.event).read_seq == 0);
  std::string bad_read = no_read;
  bad_read.replace(bad_read.find(R"("recovered":false)"), 17, R"("recovered":false,"read_seq":-2)");
  CHECK(bad(bad_read).field == "read_seq");
  std::string robot = good_message;
  robot.replace(robot.find(R"("type":"user")"), 13, R"("type":"robot")");
  CHECK(bad(R"({"type":"new_message","payload":{"message":)" + robot + "}}").field ==
        "message.sender.type");
  std::string status =
      R"({"type":"session_claimed","payload":{"room":"conversation:U1","session":{"status":"held",)"
      R"("claimed_by":null,"updated_at":"2026-01-01T00:00:00.000Z","version":0}}})";
  CHECK(bad(status).field == "session.status");
  // A lone surrogate escape decodes to bytes that are not UTF-8: refused.
  CHECK(bad(R"({"type":"room_left","payload":{"room":"\uDC00"}})").field == "room");
}

TEST_CASE("server codec: unknown event types and fields", "[server_codec]") {
  decoded_server_frame d =
      decode_server_frame(R"({"type":"reaction","payload":{"emoji":"+1"},"ref":"r"})");
  REQUIRE(d.error);
  CHECK(d.error->code == errc::unknown_type);
  CHECK_FALSE(d.kind);
  CHECK(d.type == "reaction");
  CHECK(d.ref == std::optional<std::string>("r"));
  // Unknown fields are ignored, a missing payload is {} for events without fields.
  d = decode_server_frame(R"({"type":"inbox_unwatched","extra":[1,{}],"timestamp":"bad"})");
  CHECK(d.ok());
  CHECK_FALSE(d.timestamp);
  d = decode_server_frame(
      R"({"type":"room_left","payload":{"room":"conversation:x","future":true}})");
  REQUIRE(d.ok());
  CHECK(std::get<se::room_left>(d.event).room == "conversation:x");
  CHECK(parse_server_event_type("error") ==
        std::optional<server_event_type>(server_event_type::error));
  CHECK(parse_server_event_type("auth_success") ==
        std::optional<server_event_type>(server_event_type::auth_success));
  CHECK_FALSE(parse_server_event_type("auth"));
}

TEST_CASE("server codec: client events encode to what the server decodes", "[server_codec]") {
  const std::vector<client_event> events = {
      ce::auth{"tok\"en"},
      ce::join_room{"conversation:U1", std::nullopt, std::nullopt},
      ce::join_room{"conversation:U1", std::uint64_t{42}, std::string("ep")},
      ce::leave_room{"conversation:U1"},
      ce::watch_inbox{},
      ce::unwatch_inbox{},
      ce::send_message{"conversation:U1", "h\xC3\xA9llo", std::string("cm-1")},
      ce::send_message{"conversation:U1", "no id", std::nullopt},
      ce::typing_start{"conversation:U1"},
      ce::typing_stop{"conversation:U1"},
      ce::claim_session{"conversation:U1"},
      ce::release_session{"conversation:U1"},
      ce::close_session{"conversation:U1"},
      ce::mark_read{"conversation:U1", 9},
      ce::ping{},
  };
  for (const auto& e : events) {
    const std::string frame = encode_client_event(e, std::string_view("ref-1"));
    INFO(frame);
    decoded_frame d = decode_client_frame(frame);
    REQUIRE(d.ok());
    CHECK(d.event.index() == e.index());
    CHECK(d.ref == std::optional<std::string>("ref-1"));
    CHECK(encode_client_event(d.event, std::string_view("ref-1")) == frame);  // nothing lost
  }
  decoded_frame j = decode_client_frame(encode_client_event(events[2]));
  REQUIRE(j.ok());
  CHECK_FALSE(j.ref);
  CHECK(std::get<ce::join_room>(j.event).since_seq == std::optional<std::uint64_t>(42));
  CHECK(std::get<ce::join_room>(j.event).epoch == std::optional<std::string>("ep"));
  decoded_frame s = decode_client_frame(encode_client_event(events[6]));
  CHECK(std::get<ce::send_message>(s.event).text == "h\xC3\xA9llo");
  CHECK(std::get<ce::send_message>(s.event).client_msg_id == std::optional<std::string>("cm-1"));
}

TEST_CASE("server codec: rich messages (kind, attachment) and attachment_updated", "[server_codec]") {
  SECTION("a text message keeps its v1 shape: no kind, no attachment") {
    const std::string frame = encode(se::new_message{sample_message(1)}, t2);
    CHECK(frame.find("\"kind\"") == std::string::npos);
    CHECK(frame.find("\"attachment\"") == std::string::npos);
    CHECK(round_trip(se::new_message{sample_message(1)}).message.kind == message_kind::text);
  }
  SECTION("image with a ready file, url and duration") {
    message m = sample_message(2);
    m.kind = message_kind::video;
    file_attachment a{"a1f", attachment_status::ready, "video/mp4", 123456, "clip.mp4",
                      "/api/v1/attachments/a1f?exp=1&sig=x", 4200};
    m.attachment = a;
    const std::string frame = encode(se::new_message{m}, t2);
    CHECK(frame.find(R"("kind":"video","attachment":{"id":"a1f","status":"ready",)") !=
          std::string::npos);
    auto d = round_trip(se::new_message{m}).message;
    check_same(d, m);
    CHECK(d.kind == message_kind::video);
    REQUIRE(std::holds_alternative<file_attachment>(d.attachment));
    const auto& f = std::get<file_attachment>(d.attachment);
    CHECK(f.id == "a1f");
    CHECK(f.status == attachment_status::ready);
    CHECK(f.content_type == "video/mp4");
    CHECK(f.size == 123456);
    CHECK(f.name == "clip.mp4");
    CHECK(f.url == a.url);
    CHECK(f.duration_ms == std::optional<std::uint32_t>(4200));
  }
  SECTION("pending file: no url, no duration on the wire") {
    message m = sample_message(3);
    m.kind = message_kind::image;
    m.attachment = file_attachment{"p1", attachment_status::pending, "", 0, "image", "", {}};
    const std::string frame = encode(se::message_sent{std::nullopt, m, false}, t2);
    CHECK(frame.find("\"url\"") == std::string::npos);
    CHECK(frame.find("\"duration_ms\"") == std::string::npos);
    const auto d = round_trip(se::message_sent{std::nullopt, m, false}).message;
    CHECK(std::get<file_attachment>(d.attachment).status == attachment_status::pending);
    CHECK_FALSE(std::get<file_attachment>(d.attachment).duration_ms);
  }
  SECTION("sticker and location metadata") {
    message s = sample_message(4);
    s.kind = message_kind::sticker;
    s.text = "[sticker]";
    s.attachment = sticker_attachment{"446", "1988"};
    message l = sample_message(5);
    l.kind = message_kind::location;
    l.attachment = location_attachment{"Tower", "4-2-8 Shibakoen", 35.65910807942215, 139.70372892916203};
    se::conversation_update u;
    u.room = "conversation:U1";
    u.conversation_id = "U1";
    u.messages = {s, l};
    u.epoch = "e";
    const auto d = round_trip(u);
    REQUIRE(d.messages.size() == 2);
    CHECK(d.messages[0].kind == message_kind::sticker);
    CHECK(std::get<sticker_attachment>(d.messages[0].attachment).package_id == "446");
    CHECK(std::get<sticker_attachment>(d.messages[0].attachment).sticker_id == "1988");
    const auto& loc = std::get<location_attachment>(d.messages[1].attachment);
    CHECK(loc.title == "Tower");
    CHECK(loc.address == "4-2-8 Shibakoen");
    // RapidJSON's default parse keeps ~15 digits: far below a metre.
    CHECK(loc.latitude == Approx(35.65910807942215).epsilon(1e-12));
    CHECK(loc.longitude == Approx(139.70372892916203).epsilon(1e-12));
  }
  SECTION("a kind this version does not know reads as text") {
    auto d = decode_server_frame(
        R"({"type":"new_message","payload":{"message":{"id":"m","room":"conversation:a","seq":1,)"
        R"("sender":{"type":"user","id":"u","name":"u"},"text":"[poll]",)"
        R"("created_at":"2025-01-01T00:00:00.000Z","kind":"poll","attachment":{"q":1}}}})");
    REQUIRE(d.ok());
    const auto& m = std::get<se::new_message>(d.event).message;
    CHECK(m.kind == message_kind::text);
    CHECK(m.attachment.index() == 0);
    CHECK(m.text == "[poll]");
  }
  SECTION("a file kind without attachment, or a bad status, is refused with its path") {
    const std::string head =
        R"({"type":"new_message","payload":{"message":{"id":"m","room":"conversation:a","seq":1,)"
        R"("sender":{"type":"user","id":"u","name":"u"},"text":"x",)"
        R"("created_at":"2025-01-01T00:00:00.000Z","kind":"image")";
    CHECK(bad(head + "}}}").field == "message.attachment");
    CHECK(bad(head + R"(,"attachment":{"id":"a","status":"done","content_type":"","size":0,"name":""}}}})")
              .field == "message.attachment.status");
  }
  SECTION("attachment_updated") {
    se::attachment_updated e{"conversation:U1", "m-9", 9,
                             file_attachment{"a9", attachment_status::failed, "audio/m4a", 0,
                                             "voice.m4a", "", 1500}};
    const auto d = round_trip(e);
    CHECK(d.room == "conversation:U1");
    CHECK(d.message_id == "m-9");
    CHECK(d.seq == 9);
    CHECK(d.attachment.status == attachment_status::failed);
    CHECK(d.attachment.name == "voice.m4a");
    CHECK(d.attachment.duration_ms == std::optional<std::uint32_t>(1500));
  }
}

}  // namespace livechat_unit_server_codec
