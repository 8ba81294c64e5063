// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: room features beyond the main flow, against the real
// livechat-server binary: history recovery with since_seq/epoch, session
// release, read receipts, inbox unwatching, typing_stop, leaving by
// disconnecting, and the per-connection limits (rooms, rate).
//
// Connections that send many frames pace themselves so that only the test
// that is about the rate limit ever meets it (bucket 40, refill 20/s).
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_rooms {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kRoom = "conversation:U777";
const std::string kRoomPayload = R"({"room":"conversation:U777"})";

std::string message_payload(const std::string& text) {
    return "{\"room\":\"conversation:U777\",\"text\":" + json_quote(text) + "}";
}

/// `seq` of every message in `conversation_update.messages`.
std::vector<long long> seqs(const Event& e) {
    std::vector<long long> out;
    const rapidjson::Value* arr = e.get("/payload/messages");
    if (arr == nullptr || !arr->IsArray()) return out;
    for (const auto& m : arr->GetArray()) {
        auto s = m.FindMember("seq");
        out.push_back(s != m.MemberEnd() && s->value.IsInt64() ? s->value.GetInt64() : -1);
    }
    return out;
}

std::vector<long long> range(long long first, long long last) {
    std::vector<long long> v;
    for (long long i = first; i <= last; ++i) v.push_back(i);
    return v;
}

/// Sends `n` messages "m1".."mn" from `c` (already in kRoom), one every
/// `gap`, each acknowledged before the next.
void send_messages(WsClient& c, int first, int last, std::chrono::milliseconds gap = 60ms) {
    for (int i = first; i <= last; ++i) {
        REQUIRE(c.send("send_message", message_payload("m" + std::to_string(i))));
        Event s = c.expect("message_sent");
        INFO(s);
        CHECK(s.json("/payload/message/seq") == std::to_string(i));
        std::this_thread::sleep_for(gap);
    }
}

Event join(WsClient& c, const std::string& payload, const std::string& ref = "j") {
    REQUIRE(c.send("join_room", payload, ref));
    Event u = c.wait_for("conversation_update");
    INFO(u);
    CHECK(u.str("/ref") == ref);
    return u;
}

}  // namespace

TEST_CASE("a reconnecting client recovers missed messages with since_seq", "[integration][recovery]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    WsClient alice("alice");
    alice.login(port, "alice");
    join(alice, kRoomPayload);
    send_messages(alice, 1, 3);

    std::string epoch;
    {
        WsClient bob("bob first connection");
        bob.login(port, "bob");
        Event u = join(bob, kRoomPayload);
        CHECK(seqs(u) == range(1, 3));
        CHECK(u.json("/payload/last_seq") == "3");
        CHECK(u.json("/payload/recovered") == "false");
        CHECK(u.str("/payload/messages/0/text") == "m1");
        epoch = u.str("/payload/epoch");
        REQUIRE(bob.close());
    }
    alice.wait_for("operator_left");
    send_messages(alice, 4, 5);

    SECTION("same epoch: exactly the missed messages, recovered") {
        WsClient bob("bob back");
        bob.login(port, "bob");
        Event u = join(bob, R"({"room":"conversation:U777","since_seq":3,"epoch":)" + json_quote(epoch) + "}");
        CHECK(seqs(u) == range(4, 5));
        CHECK(u.json("/payload/last_seq") == "5");
        CHECK(u.json("/payload/has_more") == "false");
        CHECK(u.json("/payload/recovered") == "true");
        CHECK(u.str("/payload/epoch") == epoch);
    }
    SECTION("since_seq without epoch is trusted") {
        WsClient bob("bob back");
        bob.login(port, "bob");
        Event u = join(bob, R"({"room":"conversation:U777","since_seq":4})");
        CHECK(seqs(u) == range(5, 5));
        CHECK(u.json("/payload/recovered") == "true");
    }
    SECTION("nothing missed: an empty list, recovered") {
        WsClient bob("bob back");
        bob.login(port, "bob");
        Event u = join(bob, R"({"room":"conversation:U777","since_seq":5,"epoch":)" + json_quote(epoch) + "}");
        CHECK(u.size("/payload/messages") == 0);
        CHECK(u.json("/payload/recovered") == "true");
    }
    SECTION("another epoch: since_seq is ignored, not recovered") {
        WsClient bob("bob back");
        bob.login(port, "bob");
        Event u = join(bob, R"({"room":"conversation:U777","since_seq":3,"epoch":"some-other-history"})");
        CHECK(seqs(u) == range(1, 5));
        CHECK(u.json("/payload/recovered") == "false");
        CHECK(u.str("/payload/epoch") == epoch);
    }
}

TEST_CASE("history pages: latest 50 without since_seq, has_more", "[integration][recovery]") {
    ServerProcess server;
    WsClient alice("alice");
    alice.login(server.port(), "alice");
    join(alice, kRoomPayload);
    send_messages(alice, 1, 52, 55ms);  // paced below the rate limit

    WsClient bob("bob");
    bob.login(server.port(), "bob");
    Event latest = join(bob, kRoomPayload, "j1");
    CHECK(seqs(latest) == range(3, 52));
    CHECK(latest.json("/payload/has_more") == "true");
    CHECK(latest.json("/payload/last_seq") == "52");

    WsClient carol("carol");
    carol.login(server.port(), "carol");
    Event all = join(carol, R"({"room":"conversation:U777","since_seq":0})", "j2");
    CHECK(seqs(all) == range(1, 52));
    CHECK(all.json("/payload/has_more") == "false");
    CHECK(all.json("/payload/recovered") == "true");
}

TEST_CASE("release_session, re-claiming and forbidden releases", "[integration][sessions]") {
    ServerProcess server;
    WsClient alice("alice");
    alice.login(server.port(), "alice");
    WsClient bob("bob");
    bob.login(server.port(), "bob");
    join(alice, kRoomPayload);
    join(bob, kRoomPayload);
    alice.wait_for("operator_joined");

    // Releasing an unclaimed session is forbidden.
    REQUIRE(bob.send("release_session", kRoomPayload, "x0"));
    {
        Event e = bob.expect("error");
        INFO(e);
        CHECK(e.str("/payload/code") == "forbidden");
    }

    REQUIRE(alice.send("claim_session", kRoomPayload));
    alice.wait_for("session_claimed");
    bob.wait_for("session_claimed");

    // Claiming one's own claim again: session_claimed to this connection only.
    REQUIRE(alice.send("claim_session", kRoomPayload));
    {
        Event s = alice.expect("session_claimed");
        INFO(s);
        CHECK(s.json("/payload/session/version") == "1");
    }
    CHECK(types_of(bob.sync()).empty());

    // Only the holder (or an admin) may release.
    REQUIRE(bob.send("release_session", kRoomPayload, "x1"));
    {
        Event e = bob.expect("error");
        INFO(e);
        CHECK(e.str("/payload/code") == "forbidden");
        CHECK(e.str("/ref") == "x1");
    }
    REQUIRE(alice.send("release_session", kRoomPayload));
    for (WsClient* c : {&alice, &bob}) {
        Event s = c->wait_for("session_released");
        INFO(c->name() << ": " << s);
        CHECK(s.str("/payload/room") == kRoom);
        CHECK(s.str("/payload/session/status") == "open");
        CHECK(s.json("/payload/session/claimed_by") == "null");
        CHECK(s.json("/payload/session/version") == "2");
    }

    // Now bob can claim it.
    REQUIRE(bob.send("claim_session", kRoomPayload));
    {
        Event s = bob.wait_for("session_claimed");
        CHECK(s.str("/payload/session/claimed_by/user_id") == "bob");
        CHECK(s.json("/payload/session/version") == "3");
    }
}

TEST_CASE("mark_read sends read_receipt to the others", "[integration]") {
    ServerProcess server;
    WsClient alice("alice");
    alice.login(server.port(), "alice");
    WsClient bob("bob");
    bob.login(server.port(), "bob");
    join(alice, kRoomPayload);
    join(bob, kRoomPayload);
    alice.wait_for("operator_joined");
    send_messages(alice, 1, 1, 0ms);
    bob.wait_for("new_message");

    REQUIRE(bob.send("mark_read", R"({"room":"conversation:U777","seq":1})"));
    {
        Event r = alice.wait_for("read_receipt");
        INFO(r);
        CHECK(r.str("/payload/room") == kRoom);
        CHECK(r.str("/payload/user_id") == "bob");
        CHECK(r.json("/payload/seq") == "1");
    }
    CHECK(types_of(bob.sync()).empty());

    REQUIRE(bob.send("mark_read", R"({"room":"conversation:U777","seq":"1"})", "mr"));
    {
        Event e = bob.expect("error");
        INFO(e);
        CHECK(e.str("/payload/code") == "validation_error");
        CHECK(e.str("/payload/field") == "seq");
    }
}

TEST_CASE("unwatch_inbox stops the inbox events", "[integration]") {
    ServerProcess server;
    WsClient watcher("watcher");
    watcher.login(server.port(), "carol");
    WsClient alice("alice");
    alice.login(server.port(), "alice");

    // Not watching yet: the same reply, nothing else.
    REQUIRE(watcher.send("unwatch_inbox", "", "u0"));
    CHECK(watcher.expect("inbox_unwatched").str("/ref") == "u0");

    REQUIRE(watcher.send("watch_inbox", "", "w1"));
    watcher.expect("inbox_update");
    join(alice, kRoomPayload);
    send_messages(alice, 1, 1, 0ms);
    watcher.wait_for("conversation_activity");

    // Watching again: a fresh inbox_update.
    REQUIRE(watcher.send("watch_inbox", "", "w2"));
    {
        Event inbox = watcher.wait_for("inbox_update");
        INFO(inbox);
        CHECK(inbox.str("/ref") == "w2");
        CHECK(inbox.size("/payload/conversations") == 1);
    }

    REQUIRE(watcher.send("unwatch_inbox", "", "u1"));
    CHECK(watcher.wait_for("inbox_unwatched").str("/ref") == "u1");
    send_messages(alice, 2, 2, 0ms);
    WsClient bob("bob");
    bob.login(server.port(), "bob");  // a presence change
    std::this_thread::sleep_for(200ms);
    CHECK(types_of(watcher.sync()).empty());
}

TEST_CASE("typing_stop, and typing ends when the typist disconnects", "[integration][typing]") {
    ServerProcess server;
    WsClient alice("alice");
    alice.login(server.port(), "alice");
    join(alice, kRoomPayload);
    {
        WsClient bob("bob");
        bob.login(server.port(), "bob");
        join(bob, kRoomPayload);
        alice.wait_for("operator_joined");

        REQUIRE(bob.send("typing_start", kRoomPayload));
        CHECK(alice.expect("typing").json("/payload/is_typing") == "true");
        // A repeat only restarts the timer.
        REQUIRE(bob.send("typing_start", kRoomPayload));
        CHECK(types_of(bob.sync()).empty());
        CHECK(types_of(alice.sync()).empty());

        REQUIRE(bob.send("typing_stop", kRoomPayload));
        CHECK(alice.expect("typing").json("/payload/is_typing") == "false");
        // Not typing: nothing to stop.
        REQUIRE(bob.send("typing_stop", kRoomPayload));
        CHECK(types_of(bob.sync()).empty());
        CHECK(types_of(alice.sync()).empty());

        REQUIRE(bob.send("typing_start", kRoomPayload));
        CHECK(alice.expect("typing").json("/payload/is_typing") == "true");
        CHECK(types_of(bob.sync()).empty());
        REQUIRE(bob.close());
    }
    // Closing leaves the room (operator_left) and ends typing at once, well
    // before the 3 s timer.
    auto got = alice.wait_for_all({"typing", "operator_left"}, 1500ms);
    CHECK(got.at("typing").json("/payload/is_typing") == "false");
    CHECK(got.at("typing").str("/payload/user_id") == "bob");
    CHECK(got.at("operator_left").str("/payload/user_id") == "bob");
}

TEST_CASE("a 101st room on one connection is limit_exceeded", "[integration][limits]") {
    ServerProcess server;
    WsClient c("many rooms");
    c.login(server.port(), "alice");
    for (int i = 1; i <= 100; ++i) {
        REQUIRE(c.send("join_room", "{\"room\":\"conversation:R" + std::to_string(i) + "\"}"));
        c.expect("conversation_update");
        std::this_thread::sleep_for(45ms);  // stay under 20 frames/s
    }
    REQUIRE(c.send("join_room", R"({"room":"conversation:R101"})", "r101"));
    {
        Event e = c.expect("error");
        INFO(e);
        CHECK(e.str("/payload/code") == "limit_exceeded");
        CHECK(e.str("/ref") == "r101");
    }
    // Leaving one makes room again.
    REQUIRE(c.send("leave_room", R"({"room":"conversation:R1"})"));
    c.expect("room_left");
    REQUIRE(c.send("join_room", R"({"room":"conversation:R101"})"));
    c.expect("conversation_update");
}

TEST_CASE("the rate limit refuses bursts and keeps the connection", "[integration][limits]") {
    ServerProcess server;
    WsClient c("burst");
    c.login(server.port(), "alice");
    std::this_thread::sleep_for(2100ms);  // a full bucket

    for (int i = 0; i < 60; ++i) REQUIRE(c.send("ping", "", "p" + std::to_string(i)));
    long pongs = 0;
    long limited = 0;
    for (int i = 0; i < 200; ++i) {
        std::optional<Event> e = c.next(1000ms);
        if (!e) break;
        if (e->type() == "pong") ++pongs;
        if (e->type() == "error" && e->str("/payload/code") == "rate_limited") ++limited;
    }
    INFO(pongs << " pongs, " << limited << " rate_limited");
    CHECK(pongs >= 40);
    CHECK(pongs <= 45);
    CHECK(limited >= 1);

    std::this_thread::sleep_for(2100ms);  // refilled
    CHECK(types_of(c.sync()).empty());
}

TEST_CASE("more than 100 refused frames within 10 s close with 1008", "[integration][limits]") {
    ServerProcess server;
    WsClient c("flood");
    c.login(server.port(), "alice");
    for (int i = 0; i < 200; ++i) {
        if (!c.send("ping")) break;
    }
    CHECK(c.closed_with() == 1008);
}

}  // namespace livechat_itest_rooms
