// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: malformed and out-of-order client input against the real
// livechat-server binary. Every error keeps the connection unless the
// protocol says otherwise (1009 for an oversized frame).
//
// Each connection sends well under 40 frames, so the per-connection rate
// limit (bucket of 40, 20/s) never interferes.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_bad_input {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

/// Expects the next event to be `error` with `code`; `field` and `ref` are
/// checked when non-empty, and a missing `ref` is required when `ref` is empty.
Event expect_error(WsClient& c, const std::string& code, const std::string& field = "",
                   const std::string& ref = "") {
    Event e = c.expect("error");
    INFO(c.name() << ": " << e);
    CHECK(e.str("/payload/code") == code);
    CHECK(e.is_string("/payload/message"));
    CHECK(is_iso_timestamp(e.str("/timestamp")));
    if (!field.empty()) CHECK(e.str("/payload/field") == field);
    if (ref.empty()) {
        CHECK_FALSE(e.has("/ref"));
    } else {
        CHECK(e.str("/ref") == ref);
    }
    return e;
}

/// The connection is still usable: a ping is answered and nothing else
/// arrived before the pong.
void check_alive(WsClient& c) {
    INFO(c.name() << " should still be connected");
    CHECK(types_of(c.sync()).empty());
}

}  // namespace

TEST_CASE("envelope errors are reported and keep the connection", "[integration]") {
    ServerProcess server;
    WsClient c("client");
    c.login(server.port(), "alice");

    REQUIRE(c.send_text("this is not json"));
    expect_error(c, "invalid_json");
    check_alive(c);

    REQUIRE(c.send_text("[1,2,3]"));
    expect_error(c, "invalid_json");
    REQUIRE(c.send_text("\"a string\""));
    expect_error(c, "invalid_json");
    REQUIRE(c.send_text("{\"type\":\"ping\""));  // truncated object
    expect_error(c, "invalid_json");

    REQUIRE(c.send_text(R"({"payload":{}})"));
    expect_error(c, "validation_error", "type");
    REQUIRE(c.send_text(R"({"type":5,"payload":{}})"));
    expect_error(c, "validation_error", "type");

    REQUIRE(c.send("no_such_event", "", "u1"));
    {
        Event e = expect_error(c, "unknown_type", "", "u1");
        if (e.has("/payload/request_type")) CHECK(e.str("/payload/request_type") == "no_such_event");
    }

    const std::string ref64(64, 'r');
    const std::string ref65(65, 'r');
    REQUIRE(c.send("ping", "", ref65));
    expect_error(c, "validation_error", "ref");  // and the bad ref is not echoed
    REQUIRE(c.send_text(R"({"type":"ping","ref":5})"));
    expect_error(c, "validation_error", "ref");
    REQUIRE(c.send("ping", "", ref64));
    {
        Event p = c.expect("pong");
        INFO(p);
        CHECK(p.str("/ref") == ref64);
        CHECK(is_iso_timestamp(p.str("/payload/server_time")));
    }

    REQUIRE(c.send_text(R"({"type":"join_room","payload":"conversation:U1","ref":"p1"})"));
    expect_error(c, "validation_error", "payload", "p1");

    // Unknown top-level fields are ignored; a client timestamp is ignored too.
    REQUIRE(c.send_text(R"({"type":"ping","ref":"x1","extra":{"a":[1,2]},"timestamp":"yesterday"})"));
    {
        Event p = c.expect("pong");
        INFO(p);
        CHECK(p.str("/ref") == "x1");
        CHECK(is_iso_timestamp(p.str("/timestamp")));
    }
    check_alive(c);
}

TEST_CASE("payload fields are validated before room membership", "[integration]") {
    ServerProcess server;
    WsClient c("client");
    c.login(server.port(), "alice");
    REQUIRE(c.send("join_room", R"({"room":"conversation:U1"})", "j1"));
    c.expect("conversation_update");

    REQUIRE(c.send("send_message", R"({"room":"conversation:U1","text":5})", "t1"));
    expect_error(c, "validation_error", "text", "t1");
    REQUIRE(c.send("send_message", R"({"room":"conversation:U1"})", "t2"));
    expect_error(c, "validation_error", "text", "t2");
    REQUIRE(c.send("send_message", R"({"room":"conversation:U1","text":" \t\r\n "})", "t3"));
    expect_error(c, "validation_error", "text", "t3");  // empty after trimming
    REQUIRE(c.send("send_message", "{\"room\":\"conversation:U1\",\"text\":\"" + std::string(5001, 'a') + "\"}", "t4"));
    expect_error(c, "validation_error", "text", "t4");
    REQUIRE(c.send("send_message",
                   R"({"room":"conversation:U1","text":"hi","client_msg_id":")" + std::string(65, 'c') + "\"}",
                   "t5"));
    expect_error(c, "validation_error", "client_msg_id", "t5");

    // 5000 code points of 2 bytes each: the limit counts characters, not bytes.
    std::string wide;
    for (int i = 0; i < 5000; ++i) wide += "\xc3\xa9";  // U+00E9
    REQUIRE(c.send("send_message", "{\"room\":\"conversation:U1\",\"text\":\"" + wide + "\"}", "t6"));
    {
        Event s = c.expect("message_sent");
        INFO(s);
        CHECK(s.str("/ref") == "t6");
        CHECK(s.str("/payload/message/text") == wide);
        CHECK_FALSE(s.has("/payload/client_msg_id"));
    }

    REQUIRE(c.send("join_room", R"({"room":7})", "r1"));
    expect_error(c, "validation_error", "room", "r1");
    REQUIRE(c.send("join_room", "{}", "r2"));
    expect_error(c, "validation_error", "room", "r2");
    REQUIRE(c.send("join_room", R"({"room":"conversation:U1","since_seq":-1})", "r3"));
    expect_error(c, "validation_error", "since_seq", "r3");
    REQUIRE(c.send("join_room", R"({"room":"conversation:U1","since_seq":"3"})", "r4"));
    expect_error(c, "validation_error", "since_seq", "r4");
    REQUIRE(c.send("join_room", R"({"room":"lobby"})", "r5"));
    expect_error(c, "validation_error", "room", "r5");
    REQUIRE(c.send("join_room", R"({"room":"conversation:"})", "r6"));
    expect_error(c, "validation_error", "room", "r6");
    REQUIRE(c.send("join_room", "{\"room\":\"conversation:" + std::string(129, 'U') + "\"}", "r7"));
    expect_error(c, "validation_error", "room", "r7");
    REQUIRE(c.send("join_room", R"({"room":"conversation:U 1"})", "r8"));
    expect_error(c, "validation_error", "room", "r8");

    // A bad room name is a validation error, never not_in_room.
    REQUIRE(c.send("send_message", R"({"room":"lobby","text":"hi"})", "m1"));
    expect_error(c, "validation_error", "room", "m1");
    // A valid room this connection has not joined.
    REQUIRE(c.send("send_message", R"({"room":"conversation:U999","text":"hi"})", "m2"));
    expect_error(c, "not_in_room", "", "m2");
    REQUIRE(c.send("typing_start", R"({"room":"conversation:U999"})", "m3"));
    expect_error(c, "not_in_room", "", "m3");
    REQUIRE(c.send("leave_room", R"({"room":"conversation:U999"})", "m4"));
    expect_error(c, "not_in_room", "", "m4");
    check_alive(c);
}

TEST_CASE("binary frames are refused and keep the connection", "[integration]") {
    ServerProcess server;
    WsClient c("client");
    c.login(server.port(), "alice");
    REQUIRE(c.send_binary(std::string("\x00\x01\x02{}", 5)));
    expect_error(c, "unsupported_frame");
    check_alive(c);
}

TEST_CASE("a frame over 64 KiB closes the connection with 1009", "[integration]") {
    ServerProcess server;

    // Just under the limit is fine (unknown top-level fields are ignored).
    WsClient ok("under limit");
    ok.login(server.port(), "alice");
    const std::string head = R"({"type":"ping","ref":"big","padding":")";
    const std::string tail = "\"}";
    const std::string under = head + std::string(65000 - head.size() - tail.size(), 'x') + tail;
    REQUIRE(under.size() == 65000);
    REQUIRE(ok.send_text(under));
    {
        Event p = ok.expect("pong");
        CHECK(p.str("/ref") == "big");
    }

    WsClient big("over limit");
    big.login(server.port(), "bob");
    REQUIRE(big.send("join_room", R"({"room":"conversation:U1"})"));
    big.expect("conversation_update");
    const std::string msg_head = R"({"type":"send_message","payload":{"room":"conversation:U1","text":")";
    const std::string msg_tail = "\"}}";
    const std::string over = msg_head + std::string(70000 - msg_head.size() - msg_tail.size(), 'y') + msg_tail;
    REQUIRE(over.size() == 70000);
    REQUIRE(big.send_text(over));
    CHECK(big.closed_with() == 1009);
    {
        // Nothing was acknowledged for the oversized message.
        std::optional<Event> leftover = big.next(200ms);
        INFO((leftover ? leftover->raw() : std::string("(nothing)")));
        CHECK_FALSE(leftover.has_value());
    }

    // Other connections are unaffected.
    check_alive(ok);
}

TEST_CASE("authentication order and auth payload errors", "[integration]") {
    ServerProcess server;
    WsClient c("client");
    REQUIRE(c.connect(server.port()));

    // Envelope errors come before authentication.
    REQUIRE(c.send_text("not json"));
    expect_error(c, "invalid_json");

    // Everything but auth and ping needs authentication first.
    REQUIRE(c.send("join_room", R"({"room":"conversation:U1"})", "b1"));
    expect_error(c, "not_authenticated", "", "b1");
    REQUIRE(c.send("watch_inbox", "", "b2"));
    expect_error(c, "not_authenticated", "", "b2");
    REQUIRE(c.send("send_message", R"({"room":"conversation:U1","text":"hi"})", "b3"));
    expect_error(c, "not_authenticated", "", "b3");
    REQUIRE(c.send("ping", "", "b4"));
    {
        Event p = c.expect("pong");
        INFO(p);
        CHECK(p.str("/ref") == "b4");
        CHECK(is_iso_timestamp(p.str("/payload/server_time")));
    }

    // A bad token field is a validation error and keeps the connection.
    REQUIRE(c.send("auth", R"({"token":5})", "a1"));
    expect_error(c, "validation_error", "token", "a1");
    REQUIRE(c.send("auth", "{}", "a2"));
    expect_error(c, "validation_error", "token", "a2");
    REQUIRE(c.send("auth", "", "a3"));
    expect_error(c, "validation_error", "token", "a3");

    REQUIRE(c.send("auth", R"({"token":"alice"})", "a4"));
    {
        Event ok = c.expect("auth_success");
        INFO(ok);
        CHECK(ok.str("/ref") == "a4");
        CHECK(ok.str("/payload/user_id") == "alice");
    }
    c.expect("presence_update");

    REQUIRE(c.send("auth", R"({"token":"bob"})", "a5"));
    expect_error(c, "already_authenticated", "", "a5");
    REQUIRE(c.send("watch_inbox", "", "w1"));
    {
        Event inbox = c.expect("inbox_update");
        CHECK(inbox.str("/ref") == "w1");
    }
    check_alive(c);
}

}  // namespace livechat_itest_bad_input
