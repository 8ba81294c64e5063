// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <functional>
#include <set>

#include "hub_harness.hpp"

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_hub {

using namespace livechat_test;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- the seven original cases

TEST_CASE("connect_and_auth", "[hub]") {
  harness h;
  h.open(1);
  h.send(1, R"({"type":"auth","payload":{"token":"alice"},"ref":"a1"})");
  frame ok = h.next(1);
  REQUIRE(ok.type() == "auth_success");
  CHECK(ok.ref() == "a1");
  CHECK(ok.str("user_id") == "alice");
  CHECK(ok.str("name") == "alice");
  CHECK(ok.str("role") == "operator");
  CHECK(ok.payload()["connection_id"].IsString());
  CHECK(ok.payload()["protocol"].GetInt() == 1);
  CHECK(ok.payload()["heartbeat_interval_ms"].GetInt() == 25000);
  CHECK(livechat::parse_timestamp(ok.str("server_time")).has_value());
  CHECK(livechat::parse_timestamp((*ok.doc)["timestamp"].GetString()).has_value());
  frame presence = h.next(1);
  REQUIRE(presence.type() == "presence_update");
  REQUIRE(presence.payload()["online"].Size() == 1);
  CHECK(std::string(presence.payload()["online"][0]["user_id"].GetString()) == "alice");
  CHECK(presence.payload()["online"][0]["connections"].GetInt() == 1);
  CHECK(h.pending(1) == 0);
  CHECK(h.hub.users_online() == 1);
}

TEST_CASE("ping_pong", "[hub]") {
  harness h;
  h.open(1);
  SECTION("before auth") {
    h.send(1, R"({"type":"ping","ref":"p"})");
    frame f = h.next(1);
    CHECK(f.type() == "pong");
    CHECK(f.ref() == "p");
    CHECK(livechat::parse_timestamp(f.str("server_time")).has_value());
  }
  SECTION("after auth, no ref → none echoed") {
    h.login(1, "alice");
    h.send(1, R"({"type":"ping"})");
    frame f = h.next(1);
    CHECK(f.type() == "pong");
    CHECK_FALSE(f.has_ref());
  }
}

TEST_CASE("requires_auth", "[hub]") {
  harness h;
  h.open(1);
  for (const char* type : {"join_room", "leave_room", "watch_inbox", "unwatch_inbox", "send_message",
                           "typing_start", "typing_stop", "claim_session", "release_session",
                           "close_session", "mark_read"}) {
    h.send(1, std::string(R"({"type":")") + type + R"(","ref":"x"})");
    frame f = h.next(1);
    REQUIRE(f.type() == "error");
    CHECK(f.error_code() == "not_authenticated");
    CHECK(f.str("request_type") == type);
    CHECK(f.ref() == "x");
  }
  CHECK_FALSE(h.closed(1));  // connection kept
}

TEST_CASE("unknown_message_type", "[hub]") {
  harness h;
  h.login(1, "alice");
  h.send(1, R"({"type":"dance","ref":"d"})");
  frame f = h.next(1);
  CHECK(f.type() == "error");
  CHECK(f.error_code() == "unknown_type");
  CHECK(f.ref() == "d");
  CHECK_FALSE(h.closed(1));
  SECTION("also before auth (envelope comes first)") {
    h.open(2);
    h.send(2, R"({"type":"dance"})");
    CHECK(h.next(2).error_code() == "unknown_type");
  }
}

TEST_CASE("join_room_requires_room", "[hub]") {
  harness h;
  h.login(1, "alice");
  for (const char* payload : {R"({})", R"({"room":5})", R"({"room":"lobby"})",
                              R"({"room":"conversation:"})", R"({"room":"conversation:a b"})"}) {
    h.send(1, std::string(R"({"type":"join_room","payload":)") + payload + "}");
    frame f = h.next(1);
    REQUIRE(f.type() == "error");
    CHECK(f.error_code() == "validation_error");
    CHECK(f.error_field() == "room");
  }
  CHECK(h.hub.room_count() == 0);
}

TEST_CASE("send_message_requires_room", "[hub]") {
  harness h;
  h.login(1, "alice");
  SECTION("missing room") {
    h.send(1, R"({"type":"send_message","payload":{"text":"hi"}})");
    frame f = h.next(1);
    CHECK(f.error_code() == "validation_error");
    CHECK(f.error_field() == "room");
  }
  SECTION("bad room is a validation error, never not_in_room") {
    h.say(1, "lobby", "hi");
    CHECK(h.next(1).error_field() == "room");
  }
  SECTION("room not joined") {
    h.say(1, room_a, "hi");
    frame f = h.next(1);
    CHECK(f.error_code() == "not_in_room");
    CHECK(f.str("request_type") == "send_message");
  }
  CHECK(h.store.stats().appended == 0);
}

TEST_CASE("send_message_requires_text", "[hub]") {
  harness h;
  h.login(1, "alice");
  h.join(1, room_a);
  h.clear(1);
  for (const char* text : {R"(,"text":5)", "", R"(,"text":"")", R"(,"text":" \t\r\n ")"}) {
    h.send(1, R"({"type":"send_message","payload":{"room":")" + room_a + "\"" + text + "}}");
    frame f = h.next(1);
    REQUIRE(f.type() == "error");
    CHECK(f.error_code() == "validation_error");
    CHECK(f.error_field() == "text");
  }
  SECTION("5001 characters is too long, 5000 is fine") {
    h.say(1, room_a, std::string(5001, 'x'));
    CHECK(h.next(1).error_field() == "text");
    h.say(1, room_a, std::string(5000, 'x'));
    CHECK(h.next(1).type() == "message_sent");
  }
}

// ---------------------------------------------------------------- envelope

TEST_CASE("envelope errors keep the connection", "[hub]") {
  harness h;
  h.login(1, "alice");
  SECTION("not JSON / not an object") {
    for (const char* f : {"hello", "[1,2]", "\"x\"", "{\"type\":"}) {
      h.send(1, f);
      CHECK(h.next(1).error_code() == "invalid_json");
    }
  }
  SECTION("missing or non-string type") {
    h.send(1, R"({"payload":{}})");
    CHECK(h.next(1).error_field() == "type");
    h.send(1, R"({"type":7})");
    CHECK(h.next(1).error_field() == "type");
  }
  SECTION("bad ref is never echoed") {
    h.send(1, R"({"type":"ping","ref":12})");
    frame f = h.next(1);
    CHECK(f.error_field() == "ref");
    CHECK_FALSE(f.has_ref());
    h.send(1, R"({"type":"ping","ref":")" + std::string(65, 'r') + "\"}");
    f = h.next(1);
    CHECK(f.error_field() == "ref");
    CHECK_FALSE(f.has_ref());
  }
  SECTION("payload not an object") {
    h.send(1, R"({"type":"join_room","payload":[]})");
    CHECK(h.next(1).error_field() == "payload");
  }
  SECTION("unknown fields are ignored") {
    h.send(1, R"({"type":"ping","extra":1,"timestamp":"whatever"})");
    CHECK(h.next(1).type() == "pong");
  }
  CHECK_FALSE(h.closed(1));
}

TEST_CASE("validation order: envelope, then auth, then payload", "[hub]") {
  harness h;
  h.open(1);
  h.send(1, R"({"type":"join_room","payload":{"room":"lobby"}})");
  CHECK(h.next(1).error_code() == "not_authenticated");
  h.send(1, R"({"type":"join_room","payload":7})");
  CHECK(h.next(1).error_field() == "payload");
}

TEST_CASE("binary frames are answered and kept", "[hub]") {
  harness h;
  h.login(1, "alice");
  h.hub.on_binary(1);
  CHECK(h.next(1).error_code() == "unsupported_frame");
  CHECK_FALSE(h.closed(1));
}

// ---------------------------------------------------------------- auth

TEST_CASE("auth failures", "[hub][auth]") {
  harness h;
  h.open(1);
  SECTION("rejected token → auth_failed then 4003") {
    h.send(1, R"({"type":"auth","payload":{"token":"bad"},"ref":"r"})");
    frame f = h.next(1);
    CHECK(f.error_code() == "auth_failed");
    CHECK(f.ref() == "r");
    REQUIRE(h.closed(1));
    CHECK(h.closed(1)->code == 4003);
    CHECK(h.hub.connection_count() == 0);
  }
  SECTION("missing or non-string token → validation_error, kept") {
    h.send(1, R"({"type":"auth","payload":{"token":5}})");
    CHECK(h.next(1).error_field() == "token");
    h.send(1, R"({"type":"auth"})");
    CHECK(h.next(1).error_field() == "token");
    CHECK_FALSE(h.closed(1));
  }
  SECTION("second auth → already_authenticated") {
    h.send(1, R"({"type":"auth","payload":{"token":"alice"}})");
    h.clear(1);
    h.send(1, R"({"type":"auth","payload":{"token":"bob"}})");
    CHECK(h.next(1).error_code() == "already_authenticated");
    CHECK(h.hub.users_online() == 1);
  }
}

TEST_CASE("auth deadline closes with 4001", "[hub][timers]") {
  harness h;
  h.open(1);
  h.open(2);
  h.send(2, R"({"type":"auth","payload":{"token":"alice"}})");
  h.advance(9999ms);
  CHECK_FALSE(h.closed(1));
  h.advance(1ms);
  REQUIRE(h.closed(1));
  CHECK(h.closed(1)->code == 4001);
  CHECK_FALSE(h.closed(2));
}

TEST_CASE("silent connections are closed with 1001 after 60 s", "[hub][timers]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "bob");
  h.advance(30s);
  h.send(2, R"({"type":"ping"})");
  h.advance(30s);
  REQUIRE(h.closed(1));
  CHECK(h.closed(1)->code == 1001);
  CHECK_FALSE(h.closed(2));
  CHECK(h.hub.users_online() == 1);
}

// ---------------------------------------------------------------- presence and inbox

TEST_CASE("presence counts users and tabs, watchers get diffs", "[hub][presence]") {
  harness h;
  h.login(1, "watcher");
  h.send(1, R"({"type":"watch_inbox","ref":"w"})");
  frame inbox = h.next(1);
  REQUIRE(inbox.type() == "inbox_update");
  CHECK(inbox.ref() == "w");
  CHECK(inbox.payload()["conversations"].Size() == 0);
  CHECK(inbox.payload()["online"].Size() == 1);

  h.login(2, "alice");
  frame d = h.next(1);
  REQUIRE(d.type() == "presence_diff");
  CHECK(std::string(d.payload()["online"][0]["user_id"].GetString()) == "alice");
  CHECK(d.payload()["online"][0]["connections"].GetInt() == 1);

  h.login(3, "alice");  // a second tab
  d = h.next(1);
  CHECK(d.payload()["online"][0]["connections"].GetInt() == 2);
  CHECK(h.hub.users_online() == 2);

  h.hub.on_close(3);
  d = h.next(1);
  CHECK(d.payload()["online"][0]["connections"].GetInt() == 1);
  CHECK(d.payload()["offline"].Size() == 0);

  h.hub.on_close(2);
  d = h.next(1);
  CHECK(d.payload()["online"].Size() == 0);
  REQUIRE(d.payload()["offline"].Size() == 1);
  CHECK(std::string(d.payload()["offline"][0].GetString()) == "alice");

  SECTION("unwatch stops the diffs") {
    h.send(1, R"({"type":"unwatch_inbox","ref":"u"})");
    frame u = h.next(1);
    CHECK(u.type() == "inbox_unwatched");
    CHECK(u.ref() == "u");
    h.login(4, "carol");
    CHECK(h.pending(1) == 0);
    h.send(1, R"({"type":"unwatch_inbox"})");  // not watching: same reply
    CHECK(h.next(1).type() == "inbox_unwatched");
  }
  SECTION("unauthenticated connections do not count") {
    h.open(5);
    h.hub.on_close(5);
    CHECK(h.pending(1) == 0);
  }
}

TEST_CASE("inbox lists conversations newest first with their session", "[hub][inbox]") {
  harness h;
  h.login(1, "alice");
  h.join(1, room_a);
  h.join(1, room_b);
  h.say(1, room_a, "first");
  h.clock.advance(1s);
  h.say(1, room_b, "second");
  h.room_event(1, "claim_session", room_b);
  h.clear(1);
  h.login(2, "bob");
  h.send(2, R"({"type":"watch_inbox"})");
  frame f = h.next(2);
  const auto& list = f.payload()["conversations"];
  REQUIRE(list.Size() == 2);
  CHECK(std::string(list[0]["room"].GetString()) == room_b);
  CHECK(std::string(list[0]["conversation_id"].GetString()) == "Ubbbb");
  CHECK(std::string(list[0]["last_message"]["text"].GetString()) == "second");
  CHECK(list[0]["last_seq"].GetInt() == 1);
  CHECK(std::string(list[0]["session"]["status"].GetString()) == "claimed");
  CHECK(std::string(list[1]["room"].GetString()) == room_a);
}

// ---------------------------------------------------------------- rooms

TEST_CASE("join, members, operator_joined and leave", "[hub][rooms]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "alice");
  h.login(3, "bob");
  h.send(1, R"({"type":"join_room","payload":{"room":")" + room_a + R"("},"ref":"j"})");
  frame u = h.next(1);
  REQUIRE(u.type() == "conversation_update");
  CHECK(u.ref() == "j");
  CHECK(u.str("room") == room_a);
  CHECK(u.str("conversation_id") == "U4af4980629");
  CHECK(std::string(u.payload()["session"]["status"].GetString()) == "open");
  CHECK(u.payload()["session"]["version"].GetInt() == 0);
  CHECK(u.payload()["session"]["claimed_by"].IsNull());
  CHECK(u.payload()["members"].Size() == 1);
  CHECK(u.payload()["messages"].Size() == 0);
  CHECK(u.payload()["last_seq"].GetInt() == 0);
  CHECK_FALSE(u.payload()["has_more"].GetBool());
  CHECK(u.str("epoch") == "epoch-1");
  CHECK_FALSE(u.payload()["recovered"].GetBool());

  h.join(3, room_a);
  CHECK(h.next(3).payload()["members"].Size() == 2);
  frame j = h.next(1);
  CHECK(j.type() == "operator_joined");
  CHECK(j.str("user_id") == "bob");
  CHECK(h.pending(3) == 0);  // not to the joiner

  h.join(2, room_a);  // alice's second tab: no operator_joined
  h.clear(2);
  CHECK(h.pending(1) == 0);
  CHECK(h.pending(3) == 0);

  SECTION("joining again is idempotent: a fresh update, nothing else") {
    h.join(3, room_a);
    CHECK(h.next(3).type() == "conversation_update");
    CHECK(h.pending(1) == 0);
  }
  SECTION("operator_left only when the user's last connection leaves") {
    h.send(1, R"({"type":"leave_room","payload":{"room":")" + room_a + R"("},"ref":"l"})");
    frame l = h.next(1);
    CHECK(l.type() == "room_left");
    CHECK(l.ref() == "l");
    CHECK(h.pending(3) == 0);
    h.hub.on_close(2);  // closing leaves rooms the same way
    frame left = h.next(3);
    CHECK(left.type() == "operator_left");
    CHECK(left.str("user_id") == "alice");
  }
  SECTION("leave a room not joined") {
    h.room_event(1, "leave_room", room_b);
    CHECK(h.next(1).error_code() == "not_in_room");
  }
}

TEST_CASE("a 101st room is refused", "[hub][rooms]") {
  harness h(unlimited());
  h.login(1, "alice");
  for (int i = 0; i < 100; ++i) h.join(1, "conversation:r" + std::to_string(i));
  h.clear(1);
  h.join(1, "conversation:r100");
  CHECK(h.next(1).error_code() == "limit_exceeded");
  h.join(1, "conversation:r5");  // already joined: fine
  CHECK(h.next(1).type() == "conversation_update");
}

// ---------------------------------------------------------------- messages

TEST_CASE("send_message stores, acknowledges and broadcasts once", "[hub][messages]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "alice");
  h.login(3, "bob");
  h.login(4, "watcher");
  for (int c : {1, 2, 3}) h.join(c, room_a);
  h.send(4, R"({"type":"watch_inbox"})");
  h.clear_all();
  const std::size_t before = h.transport.buffers.size();

  h.send(1, R"({"type":"send_message","payload":{"room":")" + room_a +
                R"(","text":"  hello \n","client_msg_id":"m1"},"ref":"s1"})");
  frame ack = h.next(1);
  REQUIRE(ack.type() == "message_sent");
  CHECK(ack.ref() == "s1");
  CHECK(ack.str("client_msg_id") == "m1");
  CHECK_FALSE(ack.payload()["duplicate"].GetBool());
  const auto& m = ack.payload()["message"];
  CHECK(std::string(m["text"].GetString()) == "hello");
  CHECK(m["seq"].GetInt() == 1);
  CHECK(std::string(m["room"].GetString()) == room_a);
  CHECK(std::string(m["sender"]["type"].GetString()) == "operator");
  CHECK(std::string(m["sender"]["id"].GetString()) == "alice");
  CHECK(std::string(m["client_msg_id"].GetString()) == "m1");
  const std::string id = m["id"].GetString();

  frame n2 = h.next(2);  // the sender's other tab
  frame n3 = h.next(3);
  CHECK(n2.type() == "new_message");
  CHECK(n3.type() == "new_message");
  CHECK(std::string(n3.payload()["message"]["id"].GetString()) == id);
  CHECK(n2.raw == n3.raw);
  frame act = h.next(4);
  CHECK(act.type() == "conversation_activity");
  CHECK(std::string(act.payload()["last_message"]["id"].GetString()) == id);
  CHECK(h.pending(1) == 0);

  // One encode per broadcast: both room recipients got the same buffer.
  REQUIRE(h.transport.buffers.size() == before + 4);
  CHECK(h.transport.buffers[before + 1] == h.transport.buffers[before + 2]);

  SECTION("a repeated client_msg_id returns the original, stores and broadcasts nothing") {
    h.say(1, room_a, "hello again", "m1");
    frame dup = h.next(1);
    CHECK(dup.payload()["duplicate"].GetBool());
    CHECK(std::string(dup.payload()["message"]["id"].GetString()) == id);
    CHECK(std::string(dup.payload()["message"]["text"].GetString()) == "hello");
    CHECK(h.pending(2) == 0);
    CHECK(h.pending(3) == 0);
    CHECK(h.pending(4) == 0);
    CHECK(h.store.stats().appended == 1);
  }
  SECTION("seq grows by one; the same id from another user is a new message") {
    h.say(3, room_a, "from bob", "m1");
    frame a = h.next(3);
    CHECK(a.payload()["message"]["seq"].GetInt() == 2);
    CHECK_FALSE(a.payload()["duplicate"].GetBool());
  }
  SECTION("outbound handler sees each stored operator message once") {
    std::vector<std::string> out;
    h.hub.set_outbound_handler([&](const livechat::message& msg) { out.push_back(msg.text); });
    h.say(1, room_a, "to the customer", "m2");
    h.say(1, room_a, "to the customer", "m2");
    CHECK(out == std::vector<std::string>{"to the customer"});
  }
}

TEST_CASE("a store failure answers internal and acknowledges nothing", "[hub][messages]") {
  harness h;
  std::vector<std::string> reported;
  h.hub.set_error_handler([&](std::string_view w) { reported.emplace_back(w); });
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(2, room_a);
  h.clear_all();
  h.store.fail_after(0);
  h.say(1, room_a, "lost?", "m1");
  frame f = h.next(1);
  CHECK(f.type() == "error");
  CHECK(f.error_code() == "internal");
  CHECK(h.pending(2) == 0);
  CHECK_FALSE(reported.empty());
  h.store.clear_failure();
  h.say(1, room_a, "retry", "m1");
  frame ok = h.next(1);
  CHECK(ok.type() == "message_sent");
  CHECK(ok.payload()["message"]["seq"].GetInt() == 1);
  CHECK(h.next(2).type() == "new_message");
}

TEST_CASE("exceptions never escape the hub", "[hub]") {
  harness h;
  std::vector<std::string> reported;
  h.hub.set_error_handler([&](std::string_view w) { reported.emplace_back(w); });
  h.open(1);
  h.transport.throw_on_send = true;
  REQUIRE_NOTHROW(h.send(1, R"({"type":"ping"})"));
  REQUIRE_NOTHROW(h.hub.tick(h.clock.now()));
  CHECK_FALSE(reported.empty());
}

// ---------------------------------------------------------------- history and recovery

TEST_CASE("conversation_update history and since_seq recovery", "[hub][history]") {
  harness h(unlimited());
  h.login(1, "alice");
  h.join(1, room_a);
  for (int i = 1; i <= 120; ++i) h.say(1, room_a, "m" + std::to_string(i));
  h.login(2, "bob");

  SECTION("without since_seq: the latest 50, oldest first, has_more") {
    h.join(2, room_a);
    frame u = h.next(2);
    const auto& msgs = u.payload()["messages"];
    REQUIRE(msgs.Size() == 50);
    CHECK(msgs[0]["seq"].GetInt() == 71);
    CHECK(msgs[49]["seq"].GetInt() == 120);
    CHECK(u.payload()["has_more"].GetBool());
    CHECK(u.payload()["last_seq"].GetInt() == 120);
    CHECK_FALSE(u.payload()["recovered"].GetBool());
  }
  SECTION("since_seq with the same epoch: exactly what was missed") {
    h.join(2, room_a, R"(,"since_seq":100,"epoch":"epoch-1")");
    frame u = h.next(2);
    const auto& msgs = u.payload()["messages"];
    REQUIRE(msgs.Size() == 20);
    CHECK(msgs[0]["seq"].GetInt() == 101);
    CHECK_FALSE(u.payload()["has_more"].GetBool());
    CHECK(u.payload()["recovered"].GetBool());
  }
  SECTION("since_seq without epoch is trusted") {
    h.join(2, room_a, R"(,"since_seq":120)");
    frame u = h.next(2);
    CHECK(u.payload()["messages"].Size() == 0);
    CHECK(u.payload()["recovered"].GetBool());
  }
  SECTION("another epoch: since_seq ignored, recovered false") {
    h.join(2, room_a, R"(,"since_seq":100,"epoch":"old")");
    frame u = h.next(2);
    CHECK(u.payload()["messages"].Size() == 50);
    CHECK_FALSE(u.payload()["recovered"].GetBool());
  }
  SECTION("since_seq beyond the store: another lineage, recovered false") {
    h.join(2, room_a, R"(,"since_seq":500,"epoch":"epoch-1")");
    frame u = h.next(2);
    CHECK(u.payload()["messages"].Size() == 50);
    CHECK_FALSE(u.payload()["recovered"].GetBool());
  }
  SECTION("more than 500 missed: has_more, not recovered") {
    for (int i = 121; i <= 600; ++i) h.say(1, room_a, "m" + std::to_string(i));
    h.join(2, room_a, R"(,"since_seq":0)");
    frame u = h.next(2);
    CHECK(u.payload()["messages"].Size() == 500);
    CHECK(u.payload()["has_more"].GetBool());
    CHECK_FALSE(u.payload()["recovered"].GetBool());
  }
}

// ---------------------------------------------------------------- typing

TEST_CASE("typing indicators with the 3 s expiry", "[hub][typing]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(2, room_a);
  h.clear_all();

  h.room_event(1, "typing_start", room_a);
  frame t = h.next(2);
  REQUIRE(t.type() == "typing");
  CHECK(t.str("user_id") == "alice");
  CHECK(t.payload()["is_typing"].GetBool());
  CHECK(h.pending(1) == 0);

  SECTION("a repeat only restarts the timer") {
    h.advance(2s);
    h.room_event(1, "typing_start", room_a);
    CHECK(h.pending(2) == 0);
    h.advance(2s);
    CHECK(h.pending(2) == 0);
    h.advance(1s);
    frame stop = h.next(2);
    CHECK_FALSE(stop.payload()["is_typing"].GetBool());
  }
  SECTION("expires 3 s after the last start") {
    h.advance(2999ms);
    CHECK(h.pending(2) == 0);
    h.advance(1ms);
    CHECK_FALSE(h.next(2).payload()["is_typing"].GetBool());
    h.advance(10s);
    CHECK(h.pending(2) == 0);
  }
  SECTION("typing_stop, only if typing") {
    h.room_event(1, "typing_stop", room_a);
    CHECK_FALSE(h.next(2).payload()["is_typing"].GetBool());
    h.room_event(1, "typing_stop", room_a);
    CHECK(h.pending(2) == 0);
  }
  SECTION("leaving or disconnecting stops it at once") {
    h.hub.on_close(1);
    CHECK(h.types(2) == std::vector<std::string>{"typing", "operator_left"});
  }
  SECTION("sending the message ends it") {
    h.say(1, room_a, "done");
    CHECK(h.next(2).type() == "new_message");
    frame stop = h.next(2);  // after the message, naming its room
    REQUIRE(stop.type() == "typing");
    CHECK(std::string(stop.payload()["room"].GetString()) == room_a);
    CHECK(std::string(stop.payload()["user_id"].GetString()) == "alice");
    CHECK_FALSE(stop.payload()["is_typing"].GetBool());
  }
}

TEST_CASE("the outbound handler gets the stored message whole", "[hub][messages]") {
  harness h;
  h.login(1, "alice");
  h.join(1, room_a);
  h.clear_all();
  // Sent before any handler: not kept for the one set later.
  h.say(1, room_a, "before the handler");
  std::vector<livechat::message> out;
  h.hub.set_outbound_handler([&](const livechat::message& m) { out.push_back(m); });
  const std::string text(100, 't');  // past any small-string buffer
  h.say(1, room_a, text, std::string(36, 'c'));
  h.say(1, room_a, text + "2");
  REQUIRE(out.size() == 2);
  CHECK(out[0].room == room_a);
  CHECK(out[0].seq == 2);
  CHECK(out[0].text == text);
  CHECK(out[0].client_msg_id == std::string(36, 'c'));
  CHECK(out[0].sender.id == "alice");
  CHECK(out[0].sender.type == livechat::sender_type::operator_);
  CHECK_FALSE(out[0].id.empty());
  CHECK(out[1].seq == 3);
  CHECK(out[1].text == text + "2");
  // The broadcast and the acknowledgement were encoded before the move.
  frame ack = h.next(1);
  CHECK(ack.type() == "message_sent");
  ack = h.next(1);
  REQUIRE(ack.type() == "message_sent");
  CHECK(std::string(ack.payload()["message"]["text"].GetString()) == text);
  CHECK(std::string(ack.payload()["message"]["room"].GetString()) == room_a);
}

// ---------------------------------------------------------------- sessions

TEST_CASE("claim, release and close sessions", "[hub][sessions]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "alice");
  h.login(3, "bob");
  h.login(4, "admin:root");
  h.login(5, "watcher");
  for (int c : {1, 2, 3, 4}) h.join(c, room_a);
  h.send(5, R"({"type":"watch_inbox"})");
  h.send(4, R"({"type":"watch_inbox"})");  // both in the room and watching
  h.clear_all();

  h.room_event(1, "claim_session", room_a);
  for (int c : {1, 2, 3, 4, 5}) {
    frame f = h.next(c);
    REQUIRE(f.type() == "session_claimed");
    CHECK(std::string(f.payload()["session"]["status"].GetString()) == "claimed");
    CHECK(std::string(f.payload()["session"]["claimed_by"]["user_id"].GetString()) == "alice");
    CHECK(f.payload()["session"]["version"].GetInt() == 1);
    CHECK(h.pending(c) == 0);  // each connection gets it once
  }

  SECTION("own claim again: a no-op answered to this connection only") {
    h.room_event(2, "claim_session", room_a);
    frame f = h.next(2);
    CHECK(f.type() == "session_claimed");
    CHECK(f.payload()["session"]["version"].GetInt() == 1);
    CHECK(h.pending(1) == 0);
    CHECK(h.pending(3) == 0);
  }
  SECTION("another operator is refused; an admin takes over") {
    h.room_event(3, "claim_session", room_a);
    CHECK(h.next(3).error_code() == "session_already_claimed");
    h.room_event(4, "claim_session", room_a);
    frame f = h.next(3);
    CHECK(std::string(f.payload()["session"]["claimed_by"]["user_id"].GetString()) == "root");
    CHECK(f.payload()["session"]["version"].GetInt() == 2);
  }
  SECTION("release: only the holder or an admin") {
    h.room_event(3, "release_session", room_a);
    CHECK(h.next(3).error_code() == "forbidden");
    h.room_event(2, "release_session", room_a);  // the holder's other tab
    frame f = h.next(5);
    CHECK(f.type() == "session_released");
    CHECK(std::string(f.payload()["session"]["status"].GetString()) == "open");
    CHECK(f.payload()["session"]["claimed_by"].IsNull());
    CHECK(f.payload()["session"]["version"].GetInt() == 2);
    h.clear_all();
    h.room_event(1, "release_session", room_a);  // not claimed any more
    CHECK(h.next(1).error_code() == "forbidden");
  }
  SECTION("close keeps claimed_by; closing again is silent") {
    h.room_event(2, "close_session", room_a);  // the holder's other tab
    frame f = h.next(5);
    CHECK(f.type() == "session_closed");
    CHECK(std::string(f.payload()["session"]["status"].GetString()) == "closed");
    CHECK(std::string(f.payload()["session"]["claimed_by"]["user_id"].GetString()) == "alice");
    h.clear_all();
    h.room_event(3, "close_session", room_a);
    for (int c : {1, 2, 3, 4, 5}) CHECK(h.pending(c) == 0);
    h.room_event(3, "claim_session", room_a);  // claim from closed
    CHECK(h.next(5).type() == "session_claimed");
  }
  SECTION("session events need membership") {
    h.room_event(5, "close_session", room_a);
    CHECK(h.next(5).error_code() == "not_in_room");
  }
  SECTION("a claimed session: another operator may not close it, so cannot undo the claim") {
    h.send(3, R"({"type":"close_session","ref":"c1","payload":{"room":")" + room_a + R"("}})");
    frame e = h.next(3);
    CHECK(e.error_code() == "forbidden");
    CHECK(e.str("request_type") == "close_session");
    CHECK(e.ref() == "c1");
    for (int c : {1, 2, 3, 4, 5}) CHECK(h.pending(c) == 0);
    h.room_event(3, "claim_session", room_a);  // still alice's
    CHECK(h.next(3).error_code() == "session_already_claimed");
    auto s = h.store.load_session(room_a);
    CHECK(s.value().status == livechat::session_status::claimed);
    CHECK(s.value().claimed_by->user_id == "alice");
    CHECK(s.value().version == 1);
  }
  SECTION("a claimed session: an admin closes it") {
    h.room_event(4, "close_session", room_a);
    frame f = h.next(3);
    CHECK(f.type() == "session_closed");
    CHECK(std::string(f.payload()["session"]["claimed_by"]["user_id"].GetString()) == "alice");
  }
  SECTION("an open session: any operator in the room closes it") {
    h.room_event(1, "release_session", room_a);
    h.clear_all();
    h.room_event(3, "close_session", room_a);
    frame f = h.next(5);
    CHECK(f.type() == "session_closed");
    CHECK(std::string(f.payload()["session"]["status"].GetString()) == "closed");
  }
}

// ---------------------------------------------------------------- read receipts

namespace {

/// One store shared by two hubs (two servers on one PostgreSQL): delegates
/// every hook to `shared`, and runs `before_save` once, right before its
/// first compare-and-set, so another server's change lands between this
/// server's load and its save.
class shared_store_view : public livechat::message_store {
 public:
  explicit shared_store_view(livechat::message_store& shared) : shared_(shared) {}
  std::function<void()> before_save;
  std::size_t session_loads = 0;  ///< load_session calls (each one a round trip with PostgreSQL)

 protected:
  livechat::result<livechat::append_result> do_append(const livechat::append_request& r) override {
    return shared_.append(r);
  }
  livechat::result<std::uint64_t> do_last_seq(std::string_view room) override {
    return shared_.last_seq(room);
  }
  livechat::result<void> do_read_messages(std::string_view room, const livechat::seq_range& r,
                                          livechat::history_sink& out) override {
    livechat::history_query q;
    q.since_seq = r.after;
    q.limit = static_cast<std::size_t>(r.through - r.after);
    auto page = shared_.history(room, q);
    if (!page) return page.error();
    if (r.newest_first) {
      for (auto it = page->messages.rbegin(); it != page->messages.rend(); ++it)
        if (!out.add(*it)) break;
    } else {
      for (const auto& m : page->messages)
        if (!out.add(m)) break;
    }
    return {};
  }
  livechat::result<std::string> do_epoch(std::string_view room) override {
    return shared_.epoch(room);
  }
  livechat::result<livechat::session_state> do_load_session(std::string_view room) override {
    ++session_loads;
    return shared_.load_session(room);
  }
  livechat::result<void> do_save_session(std::string_view room,
                                         const livechat::session_state& s) override {
    return shared_.save_session(room, s);
  }
  livechat::result<bool> do_save_session_if(std::string_view room, std::uint64_t expected,
                                            const livechat::session_state& s) override {
    if (before_save) {
      auto meanwhile = std::move(before_save);
      before_save = nullptr;
      meanwhile();
    }
    return shared_.save_session_if(room, expected, s);
  }
  livechat::result<std::uint64_t> do_mark_read(std::string_view room, std::string_view user,
                                               std::uint64_t seq) override {
    return shared_.mark_read(room, user, seq);
  }
  livechat::result<std::uint64_t> do_read_position(std::string_view room,
                                                   std::string_view user) override {
    return shared_.read_position(room, user);
  }
  livechat::result<void> do_list_conversations(const livechat::conversation_query& q,
                                               const std::optional<livechat::conversation_position>&,
                                               livechat::conversation_sink& out) override {
    auto page = shared_.list_conversations(q);
    if (!page) return page.error();
    for (std::size_t i = 0; i < page->conversations.size(); ++i) {
      const auto& c = page->conversations[i];
      if (!out.add(*c.last_message, c.session, *livechat::parse_cursor(page->cursors[i]))) break;
    }
    return {};
  }
  livechat::result<void> do_flush() override { return shared_.flush(); }

 private:
  livechat::message_store& shared_;
};

}  // namespace

namespace {

/// A store that defers its appends to the flush, as postgresql_store does
/// (there: one pipeline with the COMMIT), without a database: the flush
/// appends the queued requests in order, a read appends them first (so it
/// sees them), and `fail_next_flush` fails the whole batch (none stored).
class deferring_store_view final : public shared_store_view {
 public:
  using shared_store_view::shared_store_view;
  bool defers_appends() const noexcept override { return true; }
  bool fail_next_flush = false;
  std::size_t flushes = 0;
  std::size_t queued = 0;  ///< appends queued so far

 protected:
  livechat::result<std::size_t> do_queue_append(const livechat::append_request& r) override {
    ++queued;
    const std::size_t ticket = hold_result(livechat::errc::store_failure);
    waiting_.push_back({r, ticket});
    return ticket;
  }
  livechat::result<std::uint64_t> do_last_seq(std::string_view room) override {
    push();
    return shared_store_view::do_last_seq(room);
  }
  livechat::result<void> do_flush() override {
    ++flushes;
    if (fail_next_flush) {
      fail_next_flush = false;
      waiting_.clear();
      return livechat::errc::store_failure;
    }
    push();
    return shared_store_view::do_flush();
  }

 private:
  void push() {
    for (auto& w : waiting_) held_result(w.second) = shared_store_view::do_append(w.first);
    waiting_.clear();
  }
  std::vector<std::pair<livechat::append_request, std::size_t>> waiting_;
};

/// The frames `t` holds for `c`, parsed, consuming them.
std::vector<frame> take_frames(recording_transport& t, int c) {
  std::vector<frame> out;
  for (auto& raw : t.inbox[c]) {
    frame f;
    f.raw = raw;
    f.doc = std::make_shared<rapidjson::Document>();
    f.doc->Parse(f.raw.c_str());
    out.push_back(std::move(f));
  }
  t.inbox[c].clear();
  return out;
}

}  // namespace

// With a store that defers its appends (PostgreSQL: a turn's appends and
// its COMMIT in one round trip) the hub queues each message and answers it
// at the commit: one flush for the turn, each acknowledgement with its
// message's seq, in request order, and every other send where it would
// have gone without the wait (here a typing_start between two messages).
TEST_CASE("a store that defers its appends: one flush per turn, replies in request order",
          "[hub][store]") {
  harness b;  // owns the store
  deferring_store_view view(b.store);
  recording_transport t;
  livechat::manual_clock clock;
  test_authenticator auth;
  livechat::server::hub_config cfg = unlimited();
  cfg.group_commit = true;
  livechat::server::hub<recording_transport, livechat::manual_clock> a(t, clock, view, auth, cfg);
  std::size_t commit_requests = 0;
  a.set_commit_request([&] { ++commit_requests; });
  for (int c : {1, 2}) {
    a.on_open(c);
    a.on_message(c, std::string(R"({"type":"auth","payload":{"token":")") +
                        (c == 1 ? "alice" : "bob") + R"("}})");
    a.on_message(c, R"({"type":"join_room","payload":{"room":")" + room_a + R"("}})");
  }
  REQUIRE(a.commit());
  take_frames(t, 1);
  take_frames(t, 2);
  const std::size_t flushes = view.flushes;
  auto say = [&](int i, const std::string& cmid) {
    a.on_message(1, R"({"type":"send_message","ref":"r)" + std::to_string(i) +
                        R"(","payload":{"room":")" + room_a + R"(","text":"m)" +
                        std::to_string(i) + R"(")" +
                        (cmid.empty() ? "" : R"(,"client_msg_id":")" + cmid + R"(")") + "}}");
  };
  say(0, "c0");
  say(1, "");
  a.on_message(1, R"({"type":"typing_start","payload":{"room":")" + room_a + R"("}})");
  say(2, "c2");
  say(3, "c0");  // a duplicate of m0, in the same batch
  say(4, "");
  CHECK(view.queued == 5);
  CHECK(commit_requests == 1);
  CHECK(t.inbox[1].empty());  // nothing before the commit
  CHECK(t.inbox[2].empty());

  SECTION("committed: acknowledgements and broadcasts carry their seqs, in order") {
    REQUIRE(a.commit());
    CHECK(view.flushes == flushes + 1);
    const auto acks = take_frames(t, 1);
    const std::uint64_t seqs[] = {1, 2, 3, 1, 4};
    REQUIRE(acks.size() == 5);
    for (std::size_t i = 0; i < acks.size(); ++i) {
      INFO("acknowledgement " << i);
      REQUIRE(acks[i].type() == "message_sent");
      CHECK(acks[i].ref() == "r" + std::to_string(i));
      CHECK(acks[i].payload()["message"]["seq"].GetUint64() == seqs[i]);
      CHECK(acks[i].payload()["duplicate"].GetBool() == (i == 3));
      CHECK(acks[i].payload()["message"]["text"].GetString() ==
            std::string(i == 3 ? "m0" : "m" + std::to_string(i)));
    }
    const auto seen = take_frames(t, 2);
    std::vector<std::string> got;
    for (const auto& f : seen)
      got.push_back(f.type() == "new_message"
                        ? "new " + std::to_string(f.payload()["message"]["seq"].GetUint64())
                        : f.type() + (f.payload()["is_typing"].GetBool() ? " on" : " off"));
    CHECK(got == std::vector<std::string>{"new 1", "new 2", "typing on", "new 3", "typing off",
                                          "new 4"});
  }

  SECTION("a failed batch: every writer told internal, nothing broadcast") {
    view.fail_next_flush = true;
    CHECK_FALSE(a.commit());
    const auto answers = take_frames(t, 1);
    REQUIRE(answers.size() == 5);
    for (std::size_t i = 0; i < answers.size(); ++i) {
      CHECK(answers[i].type() == "error");
      CHECK(answers[i].error_code() == "internal");
      CHECK(answers[i].ref() == "r" + std::to_string(i));
    }
    for (const auto& f : take_frames(t, 2)) CHECK(f.type() == "typing");  // no new_message
    say(5, "c0");  // the key is free again: nothing of the batch was stored
    REQUIRE(a.commit());
    const auto ack = take_frames(t, 1);
    REQUIRE(ack.size() == 1);
    CHECK(ack[0].payload()["message"]["seq"].GetUint64() == 1);
    CHECK_FALSE(ack[0].payload()["duplicate"].GetBool());
  }
}

// A webhook delivery (post_user_messages) on a store that defers its
// appends: every message queued, one flush for the request, the results
// in request order (a replay in it answered with its original, a bad one
// refused alone), the broadcasts after the commit in that order.
TEST_CASE("a store that defers its appends: a webhook delivery costs one flush",
          "[hub][inbound][store]") {
  harness b;  // owns the store
  deferring_store_view view(b.store);
  recording_transport t;
  livechat::manual_clock clock;
  test_authenticator auth;
  livechat::server::hub_config cfg = unlimited();
  cfg.group_commit = true;
  livechat::server::hub<recording_transport, livechat::manual_clock> a(t, clock, view, auth, cfg);
  a.set_commit_request([] {});
  a.on_open(1);
  a.on_message(1, R"({"type":"auth","payload":{"token":"alice"}})");
  a.on_message(1, R"({"type":"join_room","payload":{"room":")" + room_a + R"("}})");
  a.on_open(2);
  a.on_message(2, R"({"type":"auth","payload":{"token":"bob"}})");
  a.on_message(2, R"({"type":"watch_inbox"})");
  REQUIRE(a.commit());
  take_frames(t, 1);
  take_frames(t, 2);
  const std::string user = "U4af4980629";  // room_a's customer
  auto event = [&](const std::string& text, const std::string& id) {
    return livechat::server::inbound_message{user, user, "", text, id};
  };
  const std::vector<livechat::server::inbound_message> delivery{
      event("m1", "evt-1"), event("m2", "evt-2"), event("m1 again", "evt-1"),
      event("   ", "evt-blank"), event("m3", "evt-3")};
  const std::size_t flushes = view.flushes;
  auto new_messages = [&](int c) {
    std::vector<std::string> got;
    for (const auto& f : take_frames(t, c))
      got.push_back(f.type() == "new_message"
                        ? f.type() + " " + f.payload()["message"]["text"].GetString()
                    : f.type() == "conversation_activity"
                        ? f.type() + " " + f.payload()["last_message"]["text"].GetString()
                        : f.type());
    return got;
  };

  SECTION("committed: one flush, results and broadcasts in order") {
    auto r = a.post_user_messages(delivery);
    CHECK(view.queued == 4);  // the blank one is refused before
    CHECK(view.flushes == flushes + 1);
    REQUIRE(r.size() == 5);
    const std::uint64_t seqs[] = {1, 2, 1, 0, 3};
    for (std::size_t i : {0u, 1u, 2u, 4u}) {
      INFO("message " << i);
      REQUIRE(r[i].ok());
      CHECK(r[i]->message.seq == seqs[i]);
      CHECK(r[i]->duplicate == (i == 2));
      CHECK(r[i]->message.sender.type == livechat::sender_type::user);
    }
    CHECK(r[2]->message.id == r[0]->message.id);
    CHECK(r[2]->message.text == "m1");
    CHECK(r[3].error() == livechat::errc::validation_error);
    CHECK(new_messages(1) ==
          std::vector<std::string>{"new_message m1", "new_message m2", "new_message m3"});
    CHECK(new_messages(2) == std::vector<std::string>{"conversation_activity m1",
                                                      "conversation_activity m2",
                                                      "conversation_activity m3"});

    // Redelivered: every one a duplicate, nothing sent again.
    auto again = a.post_user_messages(delivery);
    CHECK(view.flushes == flushes + 2);
    REQUIRE(again.size() == 5);
    for (std::size_t i : {0u, 1u, 2u, 4u}) {
      REQUIRE(again[i].ok());
      CHECK(again[i]->duplicate);
      CHECK(again[i]->message.id == r[i]->message.id);
    }
    CHECK(t.inbox[1].empty());
    CHECK(t.inbox[2].empty());
    CHECK(*b.store.last_seq(room_a) == 3);
  }

  SECTION("a failed batch fails every message and broadcasts nothing") {
    view.fail_next_flush = true;
    auto r = a.post_user_messages(delivery);
    CHECK(view.flushes == flushes + 1);
    REQUIRE(r.size() == 5);
    for (std::size_t i : {0u, 1u, 2u, 4u}) CHECK(r[i].error() == livechat::errc::store_failure);
    CHECK(r[3].error() == livechat::errc::validation_error);
    CHECK(t.inbox[1].empty());
    CHECK(t.inbox[2].empty());
    CHECK(*b.store.last_seq(room_a) == 0);
    auto retried = a.post_user_messages(delivery);  // nothing was stored: all new again
    REQUIRE(retried[0].ok());
    CHECK_FALSE(retried[0]->duplicate);
    CHECK(retried[0]->message.seq == 1);
  }

  SECTION("a closed session reopens once, before the first message goes out") {
    a.on_message(1, R"({"type":"claim_session","payload":{"room":")" + room_a + R"("}})");
    a.on_message(1, R"({"type":"close_session","payload":{"room":")" + room_a + R"("}})");
    REQUIRE(a.commit());
    take_frames(t, 1);
    take_frames(t, 2);
    const std::size_t before = view.flushes;
    auto r = a.post_user_messages({event("back", "evt-b1"), event("again", "evt-b2")});
    REQUIRE(r.size() == 2);
    REQUIRE(r[0].ok());
    REQUIRE(r[1].ok());
    CHECK(view.flushes == before + 2);  // the delivery, then the reopen
    CHECK(new_messages(1) ==
          std::vector<std::string>{"session_released", "new_message back", "new_message again"});
    auto session = b.store.load_session(room_a);
    REQUIRE(session.ok());
    CHECK(session->status == livechat::session_status::open);
  }
}

TEST_CASE("two servers on one store: a lost compare-and-set is committed like a write",
          "[hub][sessions]") {
  // A shared store runs the compare-and-set inside the turn's batch and
  // keeps the row it re-checked locked until the batch ends: with group
  // commit the loser must still ask for its commit, or the other servers'
  // writes to the room wait for its next write.
  harness b;
  shared_store_view view(b.store);
  recording_transport ta;
  livechat::manual_clock ca;
  test_authenticator auth;
  livechat::server::hub_config cfg;
  cfg.group_commit = true;
  livechat::server::hub<recording_transport, livechat::manual_clock> a(ta, ca, view, auth, cfg);
  int requests = 0;
  a.set_commit_request([&] { ++requests; });
  a.on_open(1);
  a.on_message(1, R"({"type":"auth","payload":{"token":"alice"}})");
  a.on_message(1, R"({"type":"join_room","payload":{"room":")" + room_a + R"("}})");
  b.login(2, "bob");
  b.join(2, room_a);
  ta.inbox[1].clear();
  view.before_save = [&] { b.room_event(2, "claim_session", room_a); };
  a.on_message(1, R"({"type":"claim_session","payload":{"room":")" + room_a + R"("}})");
  CHECK(requests == 1);
  CHECK(a.commit_pending());
  CHECK(ta.inbox[1].empty());  // the refusal waits for that commit
  CHECK(a.commit());
  REQUIRE(ta.inbox[1].size() == 1);
  CHECK(ta.inbox[1].front().find("session_already_claimed") != std::string::npos);
}

TEST_CASE("two servers on one store: the claim that loses the race is refused",
          "[hub][sessions]") {
  harness b;  // server B, on the store both servers share
  shared_store_view view(b.store);
  recording_transport ta;  // server A
  livechat::manual_clock ca;
  test_authenticator auth;
  livechat::server::hub<recording_transport, livechat::manual_clock> a(ta, ca, view, auth, {});
  a.on_open(1);
  a.on_message(1, R"({"type":"auth","payload":{"token":"alice"}})");
  a.on_message(1, R"({"type":"join_room","payload":{"room":")" + room_a + R"("}})");
  b.login(2, "bob");
  b.join(2, room_a);
  b.clear_all();
  ta.inbox[1].clear();

  SECTION("bob's claim on B lands between alice's load and save on A") {
    view.before_save = [&] { b.room_event(2, "claim_session", room_a); };
    a.on_message(1, R"({"type":"claim_session","payload":{"room":")" + room_a + R"("}})");
    REQUIRE(ta.inbox[1].size() == 1);
    rapidjson::Document d;
    d.Parse(ta.inbox[1].front().c_str());
    CHECK(std::string(d["type"].GetString()) == "error");
    CHECK(std::string(d["payload"]["code"].GetString()) == "session_already_claimed");
    CHECK(b.next(2).type() == "session_claimed");  // bob's, once
    CHECK(b.pending(2) == 0);
    auto s = b.store.load_session(room_a);
    REQUIRE(s.ok());
    CHECK(s->claimed_by->user_id == "bob");
    CHECK(s->version == 1);
  }

  SECTION("a claim and a release on B in between: alice's claim runs again and wins") {
    view.before_save = [&] {
      b.room_event(2, "claim_session", room_a);
      b.room_event(2, "release_session", room_a);
    };
    a.on_message(1, R"({"type":"claim_session","payload":{"room":")" + room_a + R"("}})");
    REQUIRE(ta.inbox[1].size() == 1);
    rapidjson::Document d;
    d.Parse(ta.inbox[1].front().c_str());
    CHECK(std::string(d["type"].GetString()) == "session_claimed");
    CHECK(std::string(d["payload"]["session"]["claimed_by"]["user_id"].GetString()) == "alice");
    CHECK(d["payload"]["session"]["version"].GetInt() == 3);
    auto s = b.store.load_session(room_a);
    REQUIRE(s.ok());
    CHECK(s->claimed_by->user_id == "alice");
    CHECK(s->version == 3);
  }
}

namespace {

/// A cluster_link that keeps what the hub shares and lets it deliver
/// every message at once (as a node with nothing held back does).
struct recording_link final : livechat::server::cluster_link {
  std::vector<livechat::server::cluster_event> events;
  bool committed(const livechat::server::cluster_event& e) override {
    events.push_back(e);
    return true;
  }
  void joined(const std::string&, std::uint64_t) override {}
  void local_presence(const std::string&, const std::string&, int) override {}
  std::vector<std::string> frames_to(livechat::server::cluster_audience to) const {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.to == to) out.push_back(*e.frame);
    return out;
  }
};

}  // namespace

// With a store across the network every read is a round trip the event
// loop waits for; conversation_activity needs the room's session, which the
// append returns, so a turn of k messages reads no session (PostgreSQL:
// one round trip with the COMMIT, postgresql_store.test.cpp).
TEST_CASE("a message costs no session read: conversation_activity takes the append's",
          "[hub][store]") {
  harness b;  // owns the store
  shared_store_view view(b.store);
  recording_transport t;
  livechat::manual_clock clock;
  test_authenticator auth;
  livechat::server::hub_config cfg;
  cfg.group_commit = true;
  livechat::server::hub<recording_transport, livechat::manual_clock> a(t, clock, view, auth, cfg);
  a.set_commit_request([] {});
  recording_link link;
  a.set_cluster_link(&link);
  a.on_open(1);
  a.on_message(1, R"({"type":"auth","payload":{"token":"alice"}})");
  a.on_message(1, R"({"type":"join_room","payload":{"room":")" + room_a + R"("}})");
  a.on_message(1, R"({"type":"claim_session","payload":{"room":")" + room_a + R"("}})");
  REQUIRE(a.commit());
  link.events.clear();
  const std::size_t loads = view.session_loads;

  for (int i = 0; i < 5; ++i)
    a.on_message(1, R"({"type":"send_message","payload":{"room":")" + room_a +
                        R"(","text":"m)" + std::to_string(i) + "\"" +
                        (i % 2 == 0 ? R"(,"client_msg_id":"c)" + std::to_string(i) + "\"" : "") +
                        "}}");
  REQUIRE(a.commit());
  CHECK(view.session_loads == loads);
  const auto activity = link.frames_to(livechat::server::cluster_audience::watchers);
  REQUIRE(activity.size() == 5);
  for (const auto& raw : activity) {
    rapidjson::Document d;
    d.Parse(raw.c_str());
    REQUIRE(std::string(d["type"].GetString()) == "conversation_activity");
    CHECK(std::string(d["payload"]["session"]["status"].GetString()) == "claimed");
    CHECK(std::string(d["payload"]["session"]["claimed_by"]["user_id"].GetString()) == "alice");
    CHECK(d["payload"]["session"]["version"].GetInt() == 1);
  }

  SECTION("a customer's message reopens a closed session without reading it") {
    a.on_message(1, R"({"type":"close_session","payload":{"room":")" + room_a + R"("}})");
    REQUIRE(a.commit());
    link.events.clear();
    const std::size_t before = view.session_loads;
    const std::string conversation(livechat::conversation_id_of(room_a).value_or(""));
    REQUIRE_FALSE(conversation.empty());
    livechat::server::inbound_message in{conversation, "U1", "", "hello?", "evt-1"};
    auto r = a.post_user_message(in);
    REQUIRE(r.ok());
    CHECK(view.session_loads == before);
    const auto seen = link.frames_to(livechat::server::cluster_audience::watchers);
    REQUIRE(seen.size() == 1);
    rapidjson::Document d;
    d.Parse(seen.front().c_str());
    CHECK(std::string(d["payload"]["session"]["status"].GetString()) == "open");
    CHECK(d["payload"]["session"]["version"].GetInt() == 3);
    auto stored = b.store.load_session(room_a);
    REQUIRE(stored.ok());
    CHECK(stored->status == livechat::session_status::open);
  }
}

TEST_CASE("mark_read records and tells the room", "[hub][read]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(2, room_a);
  h.say(1, room_a, "one");
  h.say(1, room_a, "two");
  h.clear_all();
  h.send(2, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":2}})");
  frame r = h.next(1);
  CHECK(r.type() == "read_receipt");
  CHECK(r.str("user_id") == "bob");
  CHECK(r.payload()["seq"].GetInt() == 2);
  CHECK(h.pending(2) == 0);
  auto pos = h.store.read_position(room_a, "bob");
  CHECK(pos.value() == 2);
  SECTION("never moves back") {
    h.send(2, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":1}})");
    CHECK(h.next(1).payload()["seq"].GetInt() == 2);
  }
  SECTION("beyond the last message") {
    h.send(2, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":3}})");
    CHECK(h.next(2).error_field() == "seq");
  }
}

TEST_CASE("read_receipt reaches the user's inbox tabs, each connection once", "[hub][read]") {
  harness h;
  h.login(1, "alice");  // in the room, marks read
  h.login(2, "alice");  // another tab: watches the inbox only
  h.login(3, "alice");  // a third tab: in the room and watching
  h.login(4, "bob");    // watches the inbox: another user's position is not his business
  h.login(5, "bob");    // in the room: sees the receipt as before
  h.login(6, "carol");  // neither
  h.join(1, room_a);
  h.join(3, room_a);
  h.join(5, room_a);
  for (int c : {2, 3, 4}) h.send(c, R"({"type":"watch_inbox"})");
  h.say(5, room_a, "one");
  h.say(5, room_a, "two");
  h.clear_all();

  h.send(1, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":2}})");
  for (int c : {2, 3, 5}) {
    INFO("connection " << c);
    REQUIRE(h.pending(c) == 1);
    frame r = h.next(c);
    CHECK(r.type() == "read_receipt");
    CHECK(r.str("room") == room_a);
    CHECK(r.str("user_id") == "alice");
    CHECK(r.payload()["seq"].GetInt() == 2);
  }
  CHECK(h.pending(1) == 0);  // the sender is not told its own position
  CHECK(h.pending(4) == 0);
  CHECK(h.pending(6) == 0);

  SECTION("a tab that stopped watching is not told") {
    h.send(2, R"({"type":"unwatch_inbox"})");
    h.clear_all();
    h.say(5, room_a, "three");
    h.clear_all();
    h.send(1, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":3}})");
    CHECK(h.pending(2) == 0);
    CHECK(h.types(3) == std::vector<std::string>{"read_receipt"});
  }
}

TEST_CASE("read_seq: the user's read position in inbox_update and conversation_update",
          "[hub][read]") {
  harness h;
  const std::string room_b = "conversation:Ub";
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(1, room_b);
  for (int i = 0; i < 3; ++i) h.say(1, room_a, "a" + std::to_string(i));
  for (int i = 0; i < 4; ++i) h.say(1, room_b, "b" + std::to_string(i));
  h.send(1, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":2}})");
  h.send(1, R"({"type":"mark_read","payload":{"room":")" + room_b + R"(","seq":4}})");
  h.clear_all();

  auto read_seq_of = [](const frame& inbox, const std::string& room) -> std::int64_t {
    for (const auto& c : inbox.payload()["conversations"].GetArray())
      if (room == c["room"].GetString()) return c["read_seq"].GetInt64();
    return -1;
  };
  h.send(1, R"({"type":"watch_inbox"})");
  frame mine = h.next(1);
  REQUIRE(mine.type() == "inbox_update");
  CHECK(read_seq_of(mine, room_a) == 2);
  CHECK(read_seq_of(mine, room_b) == 4);
  h.send(2, R"({"type":"watch_inbox"})");
  frame his = h.next(2);
  REQUIRE(his.type() == "inbox_update");
  CHECK(read_seq_of(his, room_a) == 0);  // per user: bob read nothing
  CHECK(read_seq_of(his, room_b) == 0);

  SECTION("the read positions of a page cost one store call, not one per conversation") {
    std::size_t before = h.store.calls();
    h.send(2, R"({"type":"watch_inbox"})");
    const std::size_t two_rooms = h.store.calls() - before;
    for (int i = 0; i < 5; ++i) {
      const std::string r = "conversation:more" + std::to_string(i);
      h.join(1, r);
      h.say(1, r, "x");
      h.send(1, R"({"type":"mark_read","payload":{"room":")" + r + R"(","seq":1}})");
    }
    h.clear_all();
    before = h.store.calls();
    h.send(1, R"({"type":"watch_inbox"})");
    CHECK(h.store.calls() - before == two_rooms);
    frame seven = h.next(1);
    REQUIRE(seven.payload()["conversations"].Size() == 7);
    CHECK(read_seq_of(seven, "conversation:more3") == 1);
  }

  h.join(2, room_a);
  frame u = h.next(2);
  REQUIRE(u.type() == "conversation_update");
  CHECK(u.payload()["read_seq"].GetInt() == 0);
  h.login(3, "alice");
  h.join(3, room_a);
  u = h.next(3);
  REQUIRE(u.type() == "conversation_update");
  CHECK(u.payload()["read_seq"].GetInt() == 2);
}

// ---------------------------------------------------------------- limits

TEST_CASE("rate limit: 40 burst, then rate_limited, then 1008", "[hub][limits]") {
  harness h;
  h.login(1, "alice");  // the auth frame took one token
  for (int i = 0; i < 39; ++i) h.send(1, R"({"type":"ping"})");
  CHECK(h.types(1) == std::vector<std::string>(39, "pong"));
  h.send(1, R"({"type":"ping"})");
  CHECK(h.next(1).error_code() == "rate_limited");
  CHECK_FALSE(h.closed(1));

  SECTION("tokens refill at 20/s") {
    h.advance(100ms);  // two tokens
    h.send(1, R"({"type":"ping"})");
    h.send(1, R"({"type":"ping"})");
    h.send(1, R"({"type":"ping"})");
    CHECK(h.types(1) == std::vector<std::string>{"pong", "pong", "error"});
  }
  SECTION("more than 100 refused frames within 10 s closes with 1008") {
    for (int i = 0; i < 99; ++i) h.send(1, R"({"type":"ping"})");
    CHECK_FALSE(h.closed(1));
    h.send(1, R"({"type":"ping"})");
    REQUIRE(h.closed(1));
    CHECK(h.closed(1)->code == 1008);
  }
}

TEST_CASE("rate_limited echoes the refused frame's ref and request_type", "[hub][limits]") {
  harness h;
  h.login(1, "alice");
  h.join(1, room_a);
  for (int i = 0; i < 38; ++i) h.send(1, R"({"type":"ping"})");  // the bucket is now empty
  h.clear(1);

  SECTION("a valid ref and a string type: both echoed, the payload is not validated") {
    h.send(1, R"({"type":"send_message","ref":"m7","payload":{"room":")" + room_a +
                  R"(","text":"hi","client_msg_id":"k7"}})");
    frame e = h.next(1);
    CHECK(e.error_code() == "rate_limited");
    CHECK(e.ref() == "m7");
    CHECK(e.str("request_type") == "send_message");
    h.send(1, R"({"ref":"x","type":"no_such_type","payload":{"room":42}})");
    e = h.next(1);
    CHECK(e.error_code() == "rate_limited");
    CHECK(e.ref() == "x");
    CHECK(e.str("request_type") == "no_such_type");
    CHECK(h.store.history(room_a, std::nullopt, 50).value().messages.empty());  // nothing stored
  }
  SECTION("a 60 KB type is echoed cut to 64 characters") {
    h.send(1, R"({"type":")" + std::string(60 * 1024, 't') + R"(","ref":"r"})");
    frame e = h.next(1);
    CHECK(e.error_code() == "rate_limited");
    CHECK(e.str("request_type") == std::string(64, 't'));
    CHECK(e.raw.size() < 400);
  }
  SECTION("no valid ref, no string type, or no JSON object: neither") {
    for (const std::string& f : std::vector<std::string>{
             R"({"type":"ping"})", R"({"ref":"r"})", R"({"ref":"r","type":1})",
          R"({"ref":7,"type":"ping"})", R"({"ref":")" + std::string(65, 'r') + R"(","type":"ping"})",
          std::string("not json"), std::string(R"(["ref","r"])")}) {
      INFO("frame: " << f);
      h.send(1, f);
      frame e = h.next(1);
      CHECK(e.error_code() == "rate_limited");
      CHECK_FALSE(e.has_ref());
      CHECK_FALSE(e.payload().HasMember("request_type"));
    }
    h.hub.on_binary(1);
    frame e = h.next(1);
    CHECK(e.error_code() == "rate_limited");
    CHECK_FALSE(e.has_ref());
  }
  CHECK_FALSE(h.closed(1));
}

TEST_CASE("request_type is cut to 64 characters", "[hub]") {
  harness h;
  h.login(1, "alice");
  SECTION("a 60 KB type") {
    h.send(1, R"({"type":")" + std::string(60 * 1024, 'x') + R"(","ref":"r"})");
    frame e = h.next(1);
    CHECK(e.error_code() == "unknown_type");
    CHECK(e.str("request_type") == std::string(64, 'x'));
    CHECK(e.ref() == "r");
    CHECK(e.raw.size() < 400);
  }
  SECTION("multi-byte characters are never split") {
    std::string type;
    for (int i = 0; i < 20000; ++i) type += "\xE6\x97\xA5";  // U+65E5
    h.send(1, R"({"type":")" + type + R"("})");
    frame e = h.next(1);
    CHECK(e.error_code() == "unknown_type");
    CHECK(e.str("request_type") == type.substr(0, 64 * 3));
  }
  SECTION("before auth too") {
    h.open(2);
    h.send(2, R"({"type":")" + std::string(60 * 1024, 'y') + R"("})");
    CHECK(h.next(2).str("request_type") == std::string(64, 'y'));
  }
}

TEST_CASE("events_in has one counter per client event type", "[hub][metrics]") {
  using livechat::client_event_type;
  STATIC_REQUIRE(std::tuple_size_v<decltype(livechat::server::hub_stats::events_in)> ==
                 static_cast<std::size_t>(client_event_type::count));
  harness h(unlimited());
  h.login(1, "alice");
  h.join(1, room_a);
  h.say(1, room_a, "hi");
  for (const char* type : {"leave_room", "typing_start", "typing_stop", "claim_session",
                           "release_session", "close_session"})
    h.room_event(1, type, room_a);
  h.send(1, R"({"type":"mark_read","payload":{"room":")" + room_a + R"(","seq":1}})");
  h.send(1, R"({"type":"watch_inbox"})");
  h.send(1, R"({"type":"unwatch_inbox"})");
  h.send(1, R"({"type":"ping"})");
  const auto& in = h.hub.stats().events_in;
  for (std::size_t i = 0; i < in.size(); ++i) {
    INFO("client_event_type " << i);
    CHECK(in[i] == 1);
  }
}

TEST_CASE("a slow consumer is closed with 1013 and the others go on", "[hub][limits]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "slow");
  h.login(3, "bob");
  for (int c : {1, 2, 3}) h.join(c, room_a);
  h.clear_all();
  h.transport.buffered[2] = 2 * 1024 * 1024;
  h.say(1, room_a, "hello");
  REQUIRE(h.closed(2));
  CHECK(h.closed(2)->code == 1013);
  CHECK(h.types(3) == std::vector<std::string>{"new_message", "operator_left"});
  CHECK(h.hub.connection_count() == 2);
  h.say(1, room_a, "still here");
  CHECK(h.types(3) == std::vector<std::string>{"new_message"});
}

// The online list is kept encoded (presence_tracker) and the frame reused
// while nothing changed: every list sent must still be the plain
// encoder's bytes, with the other nodes' users in it.
TEST_CASE("presence_update and inbox_update carry the plain encoding, remote users included",
          "[hub][presence][cluster]") {
  using livechat::presence_entry;
  namespace se = livechat::server_events;
  harness h;
  auto update = [&h](const std::vector<presence_entry>& online) {
    return livechat::encode(se::presence_update{online}, h.clock.system_now());
  };
  // Answers an auth of `c` as `user` with; the presence_update after auth_success.
  auto presence_after_auth = [&h](int c, const std::string& user) {
    h.open(c);
    h.send(c, R"({"type":"auth","payload":{"token":")" + user + R"("}})");
    REQUIRE(h.next(c).type() == "auth_success");
    frame p = h.next(c);
    REQUIRE(p.type() == "presence_update");
    h.clear(c);
    return p.raw;
  };

  h.hub.apply_remote_presence("remote-b", "Remote \"B\" \\ \x01", 2);
  h.hub.apply_remote_presence("a-remote", "\xC3\xA9ric", 1);
  CHECK(presence_after_auth(1, "carol") ==
        update({{"a-remote", "\xC3\xA9ric", 1}, {"carol", "carol", 1},
                {"remote-b", "Remote \"B\" \\ \x01", 2}}));
  // Same millisecond, one more tab of carol: not the frame made just before.
  CHECK(presence_after_auth(2, "carol") ==
        update({{"a-remote", "\xC3\xA9ric", 1}, {"carol", "carol", 2},
                {"remote-b", "Remote \"B\" \\ \x01", 2}}));

  // The other node's share shrinks, and a lease runs out (its users leave).
  h.hub.apply_remote_presence("remote-b", "Remote \"B\" \\ \x01", -1);
  h.hub.apply_remote_presence("a-remote", "\xC3\xA9ric", -1);
  h.clock.advance(5ms);
  CHECK(presence_after_auth(3, "bob") ==
        update({{"bob", "bob", 1}, {"carol", "carol", 2}, {"remote-b", "Remote \"B\" \\ \x01", 1}}));

  h.hub.on_close(1);
  h.send(3, R"({"type":"watch_inbox","ref":"w"})");
  const std::vector<presence_entry> now_online{
      {"bob", "bob", 1}, {"carol", "carol", 1}, {"remote-b", "Remote \"B\" \\ \x01", 1}};
  CHECK(h.next(3).raw == livechat::encode(se::inbox_update{{}, now_online},
                                          h.clock.system_now(), std::string_view("w")));
  CHECK(presence_after_auth(4, "alice") ==
        update({{"alice", "alice", 1}, {"bob", "bob", 1}, {"carol", "carol", 1},
                {"remote-b", "Remote \"B\" \\ \x01", 1}}));
}

TEST_CASE("backpressure: above the soft mark typing and presence_diff are skipped", "[hub][backpressure]") {
  harness h(unlimited());
  const std::size_t soft = h.hub.config().soft_unsent_bytes;
  REQUIRE(soft == 256 * 1024);
  h.login(1, "alice");
  h.login(2, "behind");
  h.login(3, "carol");
  for (int c : {1, 2, 3}) h.join(c, room_a);
  h.send(2, R"({"type":"watch_inbox"})");
  h.clear_all();

  SECTION("exactly at the mark is not behind") {
    h.transport.buffered[2] = soft;
    h.room_event(1, "typing_start", room_a);
    CHECK(h.types(2) == std::vector<std::string>{"typing"});
    CHECK(h.hub.stats().events_skipped_backpressure == 0);
  }

  h.transport.buffered[2] = soft + 1;

  SECTION("typing is skipped and counted per recipient; the others get it") {
    h.room_event(1, "typing_start", room_a);
    h.room_event(1, "typing_stop", room_a);
    CHECK(h.pending(2) == 0);
    CHECK(h.types(3) == std::vector<std::string>{"typing", "typing"});
    CHECK(h.hub.stats().events_skipped_backpressure == 2);
    SECTION("the expiry's typing false too") {
      h.room_event(1, "typing_start", room_a);
      h.advance(3s);
      CHECK(h.pending(2) == 0);
      CHECK(h.types(3) == std::vector<std::string>{"typing", "typing"});
      CHECK(h.hub.stats().events_skipped_backpressure == 4);
    }
  }

  SECTION("messages, replies, errors and session events are never skipped") {
    h.say(1, room_a, "hello");
    CHECK(h.types(2) == std::vector<std::string>{"new_message", "conversation_activity"});
    h.say(2, room_a, "me too", "m1");
    frame ack = h.next(2);
    CHECK(ack.type() == "message_sent");
    h.clear(2);
    h.send(2, R"({"type":"ping","ref":"p"})");
    CHECK(h.next(2).type() == "pong");
    h.send(2, "not json");
    CHECK(h.next(2).error_code() == "invalid_json");
    h.room_event(1, "claim_session", room_a);
    CHECK(h.types(2) == std::vector<std::string>{"session_claimed"});
    h.room_event(2, "leave_room", room_a);
    CHECK(h.types(2) == std::vector<std::string>{"room_left"});
    h.send(2, R"({"type":"watch_inbox","ref":"w"})");
    CHECK(h.next(2).type() == "inbox_update");
    CHECK(h.hub.stats().events_skipped_backpressure == 0);
    CHECK_FALSE(h.closed(2));
  }

  SECTION("a watcher that missed a diff is resynced with presence_update") {
    h.login(4, "dave");
    h.hub.on_close(3);
    CHECK(h.types(2) == std::vector<std::string>{"operator_left"});  // a room event: kept
    CHECK(h.hub.stats().events_skipped_backpressure == 2);

    SECTION("by the next tick once it has caught up") {
      h.advance(100ms);
      CHECK(h.pending(2) == 0);  // still behind: nothing, and no new skip counted
      CHECK(h.hub.stats().events_skipped_backpressure == 2);
      h.transport.buffered[2] = 0;
      h.advance(100ms);
      frame p = h.next(2);
      REQUIRE(p.type() == "presence_update");
      std::set<std::string> online;
      for (const auto& u : p.payload()["online"].GetArray()) online.insert(u["user_id"].GetString());
      CHECK(online == std::set<std::string>{"alice", "behind", "dave"});
      CHECK(h.pending(2) == 0);
      h.advance(100ms);
      CHECK(h.pending(2) == 0);  // once
      h.login(5, "erin");
      CHECK(h.next(2).type() == "presence_diff");  // diffs again
    }
    SECTION("or by the next change, with the whole list instead of the diff") {
      h.transport.buffered[2] = 0;
      h.login(5, "erin");
      frame p = h.next(2);
      REQUIRE(p.type() == "presence_update");
      CHECK(p.payload()["online"].Size() == 4);  // alice, behind, dave, erin
      CHECK(h.pending(2) == 0);
      h.advance(100ms);
      CHECK(h.pending(2) == 0);
    }
    SECTION("a fresh inbox_update settles it") {
      h.transport.buffered[2] = 0;
      h.send(2, R"({"type":"watch_inbox"})");
      CHECK(h.next(2).type() == "inbox_update");
      h.advance(100ms);
      CHECK(h.pending(2) == 0);
    }
  }

  SECTION("above max_unsent_bytes the connection is still closed with 1013") {
    h.transport.buffered[2] = h.hub.config().max_unsent_bytes + 1;
    h.say(1, room_a, "hello");
    REQUIRE(h.closed(2));
    CHECK(h.closed(2)->code == 1013);
    CHECK(h.hub.stats().closes_slow_consumer == 1);
  }
}

TEST_CASE("a reply larger than max_unsent_bytes goes out whole, the next frame closes", "[hub][backpressure]") {
  auto cfg = unlimited();
  cfg.max_unsent_bytes = 8 * 1024;
  cfg.soft_unsent_bytes = 2 * 1024;
  harness h(cfg);
  h.login(1, "alice");
  h.join(1, room_a);
  for (int i = 0; i < 40; ++i) h.say(1, room_a, std::string(500, 'x'));  // ~30 KiB of history
  h.login(2, "reader");
  h.clear_all();
  h.transport.accumulate = true;  // reader 2 never reads

  h.join(2, room_a);
  frame u = h.next(2);
  REQUIRE(u.type() == "conversation_update");
  CHECK(u.raw.size() > cfg.max_unsent_bytes);
  CHECK(u.payload()["messages"].Size() == 40);
  CHECK_FALSE(h.closed(2));

  // Now 2 is behind: typing is skipped, and the next message closes it.
  h.room_event(1, "typing_start", room_a);
  CHECK(h.pending(2) == 0);
  CHECK(h.hub.stats().events_skipped_backpressure == 1);
  h.say(1, room_a, "one more");
  CHECK(h.pending(2) == 0);
  REQUIRE(h.closed(2));
  CHECK(h.closed(2)->code == 1013);
  CHECK(h.hub.stats().closes_slow_consumer == 1);
}

TEST_CASE("backpressure: soft_unsent_bytes 0 never skips", "[hub][backpressure]") {
  auto cfg = unlimited();
  cfg.soft_unsent_bytes = 0;
  harness h(cfg);
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(2, room_a);
  h.clear_all();
  h.transport.buffered[2] = 512 * 1024;
  h.room_event(1, "typing_start", room_a);
  CHECK(h.types(2) == std::vector<std::string>{"typing"});
  CHECK(h.hub.stats().events_skipped_backpressure == 0);
}

TEST_CASE("backpressure costs the message path no extra transport call", "[hub][backpressure]") {
  harness h(unlimited());
  constexpr int recipients = 5;
  for (int c = 1; c <= recipients + 1; ++c) {
    h.login(c, "user" + std::to_string(c));
    h.join(c, room_a);
  }
  h.clear_all();
  h.transport.buffered_calls = 0;
  h.say(1, room_a, "hello");
  // One check per frame sent, after the send: message_sent + N new_message.
  CHECK(h.transport.buffered_calls == recipients + 1);
  h.transport.buffered_calls = 0;
  h.room_event(1, "typing_start", room_a);
  // A droppable event pays one more per recipient, before the send.
  CHECK(h.transport.buffered_calls == 2 * recipients);
}

TEST_CASE("max_connections_per_user: the 21st is refused at auth with 1008", "[hub][limits]") {
  harness h(unlimited());
  REQUIRE(h.hub.config().max_connections_per_user == 20);
  h.login(100, "watcher");
  h.send(100, R"({"type":"watch_inbox"})");
  for (int c = 1; c <= 20; ++c) h.login(c, "alice");
  h.clear(100);
  CHECK(h.hub.user_connection_count("alice") == 20);
  CHECK(h.hub.user_at_connection_limit("alice"));
  CHECK_FALSE(h.hub.user_at_connection_limit("bob"));

  h.open(21);
  h.send(21, R"({"type":"auth","payload":{"token":"alice"},"ref":"a"})");
  frame e = h.next(21);
  REQUIRE(e.type() == "error");
  CHECK(e.error_code() == "limit_exceeded");
  CHECK(e.str("request_type") == "auth");
  CHECK(e.ref() == "a");
  CHECK(e.str("message").find("20 connections") != std::string::npos);
  CHECK(h.pending(21) == 0);
  REQUIRE(h.closed(21));
  CHECK(h.closed(21)->code == 1008);
  CHECK(h.hub.user_connection_count("alice") == 20);
  CHECK(h.hub.connection_count() == 21);  // 20 tabs + the watcher
  CHECK(h.pending(100) == 0);             // no presence change to announce

  h.login(30, "bob");  // another user is not affected
  CHECK(h.hub.user_connection_count("bob") == 1);

  h.hub.on_close(5);  // one tab closes: room for one more
  h.open(22);
  h.send(22, R"({"type":"auth","payload":{"token":"alice"}})");
  CHECK(h.next(22).type() == "auth_success");
  CHECK(h.hub.user_connection_count("alice") == 20);
}

TEST_CASE("max_connections_per_user counts authenticated connections, 0 is unlimited", "[hub][limits]") {
  SECTION("unauthenticated connections do not count") {
    auto cfg = unlimited();
    cfg.max_connections_per_user = 2;
    harness h(cfg);
    for (int c = 1; c <= 5; ++c) h.open(c);
    h.login(6, "alice");
    h.login(7, "alice");
    h.open(8);
    h.send(8, R"({"type":"auth","payload":{"token":"alice"}})");
    CHECK(h.next(8).error_code() == "limit_exceeded");
    CHECK(h.closed(8)->code == 1008);
    for (int c = 1; c <= 5; ++c) CHECK_FALSE(h.closed(c));
  }
  SECTION("0: unlimited") {
    auto cfg = unlimited();
    cfg.max_connections_per_user = 0;
    harness h(cfg);
    for (int c = 1; c <= 50; ++c) h.login(c, "alice");
    CHECK(h.hub.user_connection_count("alice") == 50);
    CHECK_FALSE(h.hub.user_at_connection_limit("alice"));
    CHECK(h.transport.closes.empty());
  }
}

TEST_CASE("shutdown closes everyone with 1001", "[hub]") {
  harness h;
  h.login(1, "alice");
  h.open(2);
  h.join(1, room_a);
  h.hub.shutdown();
  CHECK(h.closed(1)->code == 1001);
  CHECK(h.closed(2)->code == 1001);
  CHECK(h.hub.connection_count() == 0);
  CHECK(h.hub.users_online() == 0);
  CHECK(h.hub.room_count() == 0);
  h.hub.on_close(1);  // the transport's late callback is harmless
}

TEST_CASE("state returns to zero after every connection closes", "[hub]") {
  harness h;
  for (int c = 1; c <= 20; ++c) {
    h.login(c, "user" + std::to_string(c % 7));
    h.join(c, "conversation:r" + std::to_string(c % 5));
    h.room_event(c, "typing_start", "conversation:r" + std::to_string(c % 5));
  }
  h.send(1, R"({"type":"watch_inbox"})");
  for (int c = 1; c <= 20; ++c) h.hub.on_close(c);
  CHECK(h.hub.connection_count() == 0);
  CHECK(h.hub.users_online() == 0);
  CHECK(h.hub.room_count() == 0);
  CHECK(h.hub.inbox_watcher_count() == 0);
}

// ---------------------------------------------------------------- commits

TEST_CASE("group commit: nothing is acknowledged or broadcast before commit()", "[hub][commit]") {
  auto cfg = unlimited();
  cfg.group_commit = true;
  harness h(cfg);
  int requests = 0;
  h.hub.set_commit_request([&] { ++requests; });
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(2, room_a);
  h.clear_all();

  h.say(1, room_a, "one", "m1");
  h.say(1, room_a, "two", "m2");
  h.send(1, R"({"type":"ping"})");  // keeps its place behind the writes
  CHECK(h.pending(1) == 0);
  CHECK(h.pending(2) == 0);
  CHECK(h.hub.commit_pending());
  CHECK(requests == 1);  // one request per turn, not per write

  REQUIRE(h.hub.commit());
  CHECK_FALSE(h.hub.commit_pending());
  CHECK(h.types(1) == std::vector<std::string>{"message_sent", "message_sent", "pong"});
  CHECK(h.types(2) == std::vector<std::string>{"new_message", "new_message"});

  SECTION("a failed commit sends what did not depend on it and answers internal") {
    h.store.fail_after(1);  // the append succeeds, the flush fails
    h.say(1, room_a, "three", "m3");
    h.send(1, R"({"type":"ping"})");
    CHECK_FALSE(h.hub.commit());
    frame pong = h.next(1);
    CHECK(pong.type() == "pong");
    frame err = h.next(1);
    CHECK(err.error_code() == "internal");
    CHECK(err.str("request_type") == "send_message");
    CHECK(h.pending(2) == 0);
  }
  SECTION("a close asked for while writes wait comes after the frames queued before it") {
    // Another connection's write holds this turn's sends for the commit;
    // the auth_failed queued behind it must still precede the 4003.
    h.say(1, room_a, "three", "m3");
    h.open(3);
    h.send(3, R"({"type":"auth","payload":{"token":"bad"}})");
    CHECK_FALSE(h.closed(3));
    REQUIRE(h.hub.commit());
    CHECK(h.next(3).error_code() == "auth_failed");
    REQUIRE(h.closed(3));
    CHECK(h.closed(3)->code == 4003);
    CHECK(h.types(1) == std::vector<std::string>{"message_sent"});
  }
  SECTION("a connection closed before the commit gets nothing, the others do") {
    h.say(1, room_a, "three", "m3");
    h.hub.on_close(2);
    REQUIRE(h.hub.commit());
    CHECK(h.types(1) == std::vector<std::string>{"message_sent", "operator_left"});
    CHECK(h.pending(2) == 0);
  }
  SECTION("shutdown commits first") {
    h.say(1, room_a, "last words", "m4");
    h.hub.shutdown();
    CHECK(h.types(1) == std::vector<std::string>{"message_sent"});
    CHECK(h.closed(1)->code == 1001);
  }
}

TEST_CASE("a failed commit acknowledges nothing (per-event commits)", "[hub][commit]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "bob");
  h.join(1, room_a);
  h.join(2, room_a);
  h.clear_all();
  std::vector<std::string> outbound;
  h.hub.set_outbound_handler([&](const livechat::message& m) { outbound.push_back(m.text); });
  h.store.fail_after(1);
  h.say(1, room_a, "hello", "m1");
  frame f = h.next(1);
  CHECK(f.error_code() == "internal");
  CHECK(h.pending(1) == 0);
  CHECK(h.pending(2) == 0);
  CHECK(outbound.empty());
}

// ---------------------------------------------------------------- messages from outside

TEST_CASE("a user message re-opens a closed session and is broadcast", "[hub][inbound]") {
  harness h;
  h.login(1, "alice");
  h.login(2, "watcher");
  h.join(1, room_a);
  h.send(2, R"({"type":"watch_inbox"})");
  h.room_event(1, "claim_session", room_a);
  h.room_event(1, "close_session", room_a);
  h.clear_all();

  livechat::server::inbound_message in{"U4af4980629", "U4af4980629", "", "  where is my order? ",
                                       "evt-1"};
  auto r = h.hub.post_user_message(in);
  REQUIRE(r.ok());
  CHECK_FALSE(r->duplicate);
  CHECK(r->message.text == "where is my order?");
  CHECK(r->message.sender.type == livechat::sender_type::user);
  CHECK(r->message.sender.name == "U4af4980629");

  frame reopened = h.next(1);
  REQUIRE(reopened.type() == "session_released");
  CHECK(std::string(reopened.payload()["session"]["status"].GetString()) == "open");
  CHECK(reopened.payload()["session"]["claimed_by"].IsNull());
  CHECK(reopened.payload()["session"]["version"].GetInt() == 3);
  frame msg = h.next(1);
  CHECK(msg.type() == "new_message");
  CHECK(std::string(msg.payload()["message"]["sender"]["type"].GetString()) == "user");
  CHECK(h.types(2) == std::vector<std::string>{"session_released", "conversation_activity"});

  SECTION("a redelivered event is stored once and sent once") {
    auto again = h.hub.post_user_message(in);
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->message.id == r->message.id);
    CHECK(h.pending(1) == 0);
    CHECK(h.store.stats().appended == 1);
  }
  SECTION("user messages do not go to the outbound channel") {
    int calls = 0;
    h.hub.set_outbound_handler([&](const livechat::message&) { ++calls; });
    in.webhook_event_id = "evt-2";
    REQUIRE(h.hub.post_user_message(in).ok());
    CHECK(calls == 0);
  }
  SECTION("bad input is refused") {
    in.conversation_id = "bad id";
    CHECK(h.hub.post_user_message(in).error() == livechat::errc::validation_error);
    in.conversation_id = "U1";
    in.text = " \n ";
    CHECK(h.hub.post_user_message(in).error() == livechat::errc::validation_error);
  }
  SECTION("a store failure is reported to the caller") {
    h.store.fail_after(0);
    in.webhook_event_id = "evt-3";
    CHECK_FALSE(h.hub.post_user_message(in).ok());
    CHECK(h.pending(1) == 0);
  }
}

TEST_CASE("an operator message posted without a WebSocket", "[hub][inbound]") {
  harness h;
  h.login(1, "alice");
  h.join(1, room_a);
  h.clear_all();
  std::vector<std::string> outbound;
  h.hub.set_outbound_handler([&](const livechat::message& m) { outbound.push_back(m.text); });
  livechat::identity bob{"bob", "Bob", livechat::user_role::operator_};
  auto r = h.hub.post_operator_message(bob, "U4af4980629", "on my way", "rest-1");
  REQUIRE(r.ok());
  CHECK_FALSE(r->duplicate);
  CHECK(r->message.sender.id == "bob");
  CHECK(h.next(1).type() == "new_message");
  CHECK(outbound == std::vector<std::string>{"on my way"});
  auto dup = h.hub.post_operator_message(bob, "U4af4980629", "on my way", "rest-1");
  REQUIRE(dup.ok());
  CHECK(dup->duplicate);
  CHECK(h.pending(1) == 0);
  CHECK(outbound.size() == 1);
  CHECK(h.hub.post_operator_message(bob, "U1", "x", std::string(65, 'c')).error() ==
        livechat::errc::validation_error);
}

// ---------------------------------------------------------------- page cap

namespace {

/// Stores `n` messages of 5,000 × U+0001 in `room` (escaped to `\u0001`,
/// 6 bytes each, about 30 KB per encoded message): the issue's case.
void store_control_heavy(livechat::memory_store& store, const std::string& room, int n) {
  for (int i = 0; i < n; ++i) {
    livechat::append_request req;
    req.room = room;
    req.sender = {livechat::sender_type::user, "U1", "U1"};
    req.text = std::string(5000, '\x01');
    REQUIRE(store.append(req).ok());
  }
}

constexpr std::size_t one_mib = 1024 * 1024;
constexpr std::size_t envelope_allowance = 4096;  // type, room, session, members, epoch ...

}  // namespace

TEST_CASE("every page of messages stops before 1 MiB of encoded messages", "[hub][history][page-cap]") {
  harness h(unlimited());
  store_control_heavy(h.store, room_a, 500);
  h.login(2, "bob");

  SECTION("since_seq 0: capped, has_more, not recovered; paging on gets every message once") {
    std::vector<std::int64_t> seen;
    std::uint64_t since = 0;
    int pages = 0;
    for (; pages < 100; ++pages) {
      h.join(2, room_a, R"(,"since_seq":)" + std::to_string(since) + R"(,"epoch":"epoch-1")");
      frame u = h.next(2);
      REQUIRE(u.type() == "conversation_update");
      INFO("page " << pages << " of " << u.raw.size() << " bytes");
      CHECK(u.raw.size() <= one_mib + envelope_allowance);
      const auto& msgs = u.payload()["messages"];
      REQUIRE(msgs.Size() >= 1);
      for (const auto& m : msgs.GetArray()) seen.push_back(m["seq"].GetInt64());
      since = msgs[msgs.Size() - 1]["seq"].GetUint64();
      const bool more = u.payload()["has_more"].GetBool();
      CHECK(u.payload()["recovered"].GetBool() == !more);
      if (!more) break;
      // Not cut far too early either: one more message would not have fit.
      CHECK(u.raw.size() + 30100 > one_mib);
    }
    CHECK(pages > 10);  // 15 MB of encoded messages, in pages of 1 MiB
    std::vector<std::int64_t> expected;
    for (int i = 1; i <= 500; ++i) expected.push_back(i);
    CHECK(seen == expected);
  }

  SECTION("without since_seq: the newest that fit, has_more") {
    h.join(2, room_a);
    frame u = h.next(2);
    CHECK(u.raw.size() <= one_mib + envelope_allowance);
    const auto& msgs = u.payload()["messages"];
    REQUIRE(msgs.Size() >= 1);
    CHECK(msgs.Size() < 50);
    CHECK(msgs[msgs.Size() - 1]["seq"].GetInt() == 500);
    CHECK(u.payload()["has_more"].GetBool());
    CHECK_FALSE(u.payload()["recovered"].GetBool());
  }

  SECTION("a since_seq beyond the store is answered as latest, capped the same way") {
    h.join(2, room_a, R"(,"since_seq":9999)");
    frame u = h.next(2);
    CHECK(u.raw.size() <= one_mib + envelope_allowance);
    CHECK(u.payload()["messages"][0]["seq"].GetInt() > 450);
    CHECK(u.payload()["has_more"].GetBool());
    CHECK_FALSE(u.payload()["recovered"].GetBool());
  }
}

TEST_CASE("page cap: at least one message, and exact at a small cap", "[hub][history][page-cap]") {
  auto cfg = unlimited();
  cfg.max_page_bytes = 1000;
  harness h(cfg);
  for (int i = 0; i < 10; ++i) {
    livechat::append_request req;
    req.room = room_a;
    req.sender = {livechat::sender_type::user, "U1", "U1"};
    req.text = i == 3 ? std::string(2000, 'x') : "t" + std::to_string(i);
    REQUIRE(h.store.append(req).ok());
  }
  h.login(2, "bob");
  std::vector<std::size_t> sizes;
  std::uint64_t since = 0;
  for (int pages = 0; pages < 20; ++pages) {
    h.join(2, room_a, R"(,"since_seq":)" + std::to_string(since));
    frame u = h.next(2);
    const auto& msgs = u.payload()["messages"];
    REQUIRE(msgs.Size() >= 1);
    sizes.push_back(msgs.Size());
    since = msgs[msgs.Size() - 1]["seq"].GetUint64();
    if (!u.payload()["has_more"].GetBool()) break;
  }
  // seq 4 alone is over the cap: it is sent alone, never skipped.
  REQUIRE(sizes.size() >= 3);
  CHECK(sizes[1] == 1);
  CHECK(since == 10);
}

TEST_CASE("inbox_update stops before 1 MiB of encoded conversations", "[hub][inbox][page-cap]") {
  harness h(unlimited());
  for (int i = 0; i < 100; ++i) store_control_heavy(h.store, "conversation:U" + std::to_string(i), 1);
  h.login(2, "bob");
  h.send(2, R"({"type":"watch_inbox"})");
  frame f = h.next(2);
  REQUIRE(f.type() == "inbox_update");
  CHECK(f.raw.size() <= one_mib + envelope_allowance);
  const auto& list = f.payload()["conversations"];
  CHECK(list.Size() >= 30);
  CHECK(list.Size() < 100);
  CHECK(std::string(list[0]["room"].GetString()) == "conversation:U99");  // newest first
}

}  // namespace livechat_unit_hub
