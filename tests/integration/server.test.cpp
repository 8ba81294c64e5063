// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the full operator flow against the real livechat-server
// binary (dev auth), driven over WebSocket. Ordering between different
// connections is never assumed: cross-connection effects are awaited with
// wait_for, and "nothing else arrived" is checked with a ping/pong barrier
// (WsClient::sync), which relies only on the per-connection order.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_server {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kRoom = "conversation:U123";
const std::string kRoomPayload = R"({"room":"conversation:U123"})";

/// `connections` of `user` in the array at `pointer` ({user_id, name,
/// connections} entries), or -1 when the user is not listed.
long connections_of(const Event& e, const std::string& user, const std::string& pointer = "/payload/online") {
    const rapidjson::Value* arr = e.get(pointer);
    if (arr == nullptr || !arr->IsArray()) return -1;
    for (const auto& u : arr->GetArray()) {
        if (!u.IsObject()) continue;
        auto id = u.FindMember("user_id");
        if (id == u.MemberEnd() || !id->value.IsString() || user != id->value.GetString()) continue;
        auto c = u.FindMember("connections");
        return (c != u.MemberEnd() && c->value.IsInt64()) ? static_cast<long>(c->value.GetInt64()) : -2;
    }
    return -1;
}

/// Whether the array at `pointer` holds the string `user_id`, or an object
/// whose `user_id` is `user_id`.
bool lists_user(const Event& e, const std::string& pointer, const std::string& user_id) {
    const rapidjson::Value* arr = e.get(pointer);
    if (arr == nullptr || !arr->IsArray()) return false;
    for (const auto& v : arr->GetArray()) {
        if (v.IsString() && user_id == v.GetString()) return true;
        if (v.IsObject()) {
            auto id = v.FindMember("user_id");
            if (id != v.MemberEnd() && id->value.IsString() && user_id == id->value.GetString()) return true;
        }
    }
    return false;
}

/// The user ids of the array at `pointer`, in order (strings or {user_id}).
std::vector<std::string> user_ids(const Event& e, const std::string& pointer) {
    std::vector<std::string> out;
    const rapidjson::Value* arr = e.get(pointer);
    if (arr == nullptr || !arr->IsArray()) return out;
    for (const auto& v : arr->GetArray()) {
        if (v.IsString()) out.emplace_back(v.GetString());
        if (v.IsObject()) {
            auto id = v.FindMember("user_id");
            if (id != v.MemberEnd() && id->value.IsString()) out.emplace_back(id->value.GetString());
        }
    }
    return out;
}

bool is_sorted_ids(const std::vector<std::string>& ids) { return std::is_sorted(ids.begin(), ids.end()); }

long count_type(const std::vector<Event>& events, const std::string& type) {
    long n = 0;
    for (const auto& e : events)
        if (e.type() == type) ++n;
    return n;
}

void check_envelope(const Event& e) {
    INFO(e);
    CHECK(is_iso_timestamp(e.str("/timestamp")));
}

/// Checks the `session` object at `base` ("/payload/session").
void check_session(const Event& e, const std::string& base, const std::string& status,
                   const std::string& claimed_by, long version) {
    INFO(e);
    CHECK(e.str(base + "/status") == status);
    if (claimed_by.empty()) {
        CHECK(e.json(base + "/claimed_by") == "null");
    } else {
        CHECK(e.str(base + "/claimed_by/user_id") == claimed_by);
        CHECK(e.str(base + "/claimed_by/name") == claimed_by);
    }
    CHECK(e.json(base + "/version") == std::to_string(version));
    CHECK(is_iso_timestamp(e.str(base + "/updated_at")));
}

void check_auth_success(const Event& e, const std::string& user, const std::string& ref) {
    INFO(e);
    check_envelope(e);
    CHECK(e.str("/ref") == ref);
    CHECK(e.str("/payload/user_id") == user);
    CHECK(e.str("/payload/name") == user);
    CHECK(e.str("/payload/role") == "operator");
    CHECK(e.is_string("/payload/connection_id"));
    CHECK_FALSE(e.str("/payload/connection_id").empty());
    CHECK(e.json("/payload/protocol") == "1");
    CHECK(e.json("/payload/heartbeat_interval_ms") == "25000");
    CHECK(is_iso_timestamp(e.str("/payload/server_time")));
}

Event auth(WsClient& c, std::uint16_t port, const std::string& user, const std::string& ref) {
    REQUIRE(c.connect(port));
    REQUIRE(c.send("auth", "{\"token\":" + json_quote(user) + "}", ref));
    Event ok = c.expect("auth_success");
    check_auth_success(ok, user, ref);
    return ok;
}

}  // namespace

TEST_CASE("full operator flow with dev auth", "[integration]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    // --- bob comes online first and watches the inbox -----------------------
    WsClient bob("bob");
    auth(bob, port, "bob", "auth-bob");
    {
        Event p = bob.expect("presence_update");
        INFO(p);
        check_envelope(p);
        CHECK(connections_of(p, "bob") == 1);
        CHECK(p.size("/payload/online") == 1);
    }
    REQUIRE(bob.send("watch_inbox", "", "w1"));
    {
        Event inbox = bob.expect("inbox_update");
        INFO(inbox);
        CHECK(inbox.str("/ref") == "w1");
        CHECK(inbox.size("/payload/conversations") == 0);
        CHECK(connections_of(inbox, "bob") == 1);
    }

    // --- alice, tab A ---------------------------------------------------------
    WsClient alice_a("alice A");
    const Event auth_a = auth(alice_a, port, "alice", "auth-a");
    {
        Event p = alice_a.expect("presence_update");
        INFO(p);
        check_envelope(p);
        CHECK(connections_of(p, "alice") == 1);
        CHECK(connections_of(p, "bob") == 1);
        CHECK(user_ids(p, "/payload/online") == std::vector<std::string>{"alice", "bob"});
    }
    {
        // Diffs may be coalesced (<= 100 ms), so wait for the one about alice
        // before the second tab authenticates.
        Event d = bob.wait_for("presence_diff", [](const Event& e) { return lists_user(e, "/payload/online", "alice"); });
        INFO(d);
        check_envelope(d);
        CHECK(connections_of(d, "alice") == 1);
        CHECK(d.str("/payload/online/0/name") == "alice");
        CHECK(d.size("/payload/offline") == 0);
    }

    // --- alice, tab B ---------------------------------------------------------
    WsClient alice_b("alice B");
    const Event auth_b = auth(alice_b, port, "alice", "auth-b");
    CHECK(auth_b.str("/payload/connection_id") != auth_a.str("/payload/connection_id"));
    {
        Event p = alice_b.expect("presence_update");
        INFO(p);
        CHECK(connections_of(p, "alice") == 2);
        CHECK(connections_of(p, "bob") == 1);
    }
    {
        Event d = bob.wait_for("presence_diff", [](const Event& e) { return connections_of(e, "alice") == 2; });
        INFO(d);
        CHECK(d.size("/payload/offline") == 0);
        CHECK(is_sorted_ids(user_ids(d, "/payload/online")));
    }

    // --- joining the room -------------------------------------------------------
    REQUIRE(alice_a.send("join_room", kRoomPayload, "j1"));
    std::string epoch;
    {
        Event u = alice_a.expect("conversation_update");
        INFO(u);
        check_envelope(u);
        CHECK(u.str("/ref") == "j1");
        CHECK(u.str("/payload/room") == kRoom);
        CHECK(u.str("/payload/conversation_id") == "U123");
        check_session(u, "/payload/session", "open", "", 0);
        CHECK(lists_user(u, "/payload/members", "alice"));
        CHECK(u.str("/payload/members/0/name") == "alice");
        CHECK(u.size("/payload/messages") == 0);
        CHECK(u.json("/payload/last_seq") == "0");
        CHECK(u.json("/payload/has_more") == "false");
        CHECK(u.is_string("/payload/epoch"));
        CHECK(u.json("/payload/recovered") == "false");
        epoch = u.str("/payload/epoch");
        CHECK_FALSE(epoch.empty());
    }
    REQUIRE(alice_b.send("join_room", kRoomPayload, "j2"));
    {
        Event u = alice_b.expect("conversation_update");
        INFO(u);
        CHECK(u.str("/ref") == "j2");
        CHECK(u.str("/payload/epoch") == epoch);
    }
    // alice already had a connection in the room: no operator_joined for her.
    CHECK(types_of(alice_a.sync()).empty());

    REQUIRE(bob.send("join_room", kRoomPayload, "j3"));
    {
        Event u = bob.expect("conversation_update");
        INFO(u);
        CHECK(u.str("/ref") == "j3");
        CHECK(lists_user(u, "/payload/members", "alice"));
        CHECK(lists_user(u, "/payload/members", "bob"));
        CHECK(u.size("/payload/members") == 2);
    }
    for (WsClient* c : {&alice_a, &alice_b}) {
        Event j = c->wait_for("operator_joined");
        INFO(c->name() << ": " << j);
        check_envelope(j);
        CHECK(j.str("/payload/room") == kRoom);
        CHECK(j.str("/payload/user_id") == "bob");
        CHECK(j.str("/payload/name") == "bob");
    }
    CHECK(types_of(bob.sync()).empty());  // nothing about bob's own join

    // --- sending a message -------------------------------------------------------
    REQUIRE(alice_a.send("send_message",
                         R"({"room":"conversation:U123","text":"  hello  ","client_msg_id":"m1"})", "r1"));
    std::string message_id;
    {
        Event s = alice_a.expect("message_sent");
        INFO(s);
        check_envelope(s);
        CHECK(s.str("/ref") == "r1");
        CHECK(s.str("/payload/client_msg_id") == "m1");
        CHECK(s.json("/payload/duplicate") == "false");
        CHECK(s.is_string("/payload/message/id"));
        CHECK(s.str("/payload/message/room") == kRoom);
        CHECK(s.json("/payload/message/seq") == "1");
        CHECK(s.str("/payload/message/sender/type") == "operator");
        CHECK(s.str("/payload/message/sender/id") == "alice");
        CHECK(s.str("/payload/message/sender/name") == "alice");
        CHECK(s.str("/payload/message/text") == "hello");
        CHECK(is_iso_timestamp(s.str("/payload/message/created_at")));
        CHECK(s.str("/payload/message/client_msg_id") == "m1");
        message_id = s.str("/payload/message/id");
    }
    {
        auto got = bob.wait_for_all({"new_message", "conversation_activity"});
        const Event& m = got.at("new_message");
        INFO(m);
        CHECK(m.str("/payload/message/id") == message_id);
        CHECK(m.json("/payload/message/seq") == "1");
        CHECK(m.str("/payload/message/text") == "hello");
        CHECK(m.str("/payload/message/sender/id") == "alice");
        CHECK_FALSE(m.has("/ref"));
        const Event& a = got.at("conversation_activity");
        INFO(a);
        CHECK(a.str("/payload/room") == kRoom);
        CHECK(a.str("/payload/conversation_id") == "U123");
        CHECK(a.str("/payload/last_message/id") == message_id);
        CHECK(a.json("/payload/last_message/seq") == "1");
        CHECK(a.str("/payload/last_message/text") == "hello");
        CHECK(a.str("/payload/session/status") == "open");
    }
    {
        // Every other connection in the room, alice's other tab included.
        Event m = alice_b.wait_for("new_message");
        INFO(m);
        CHECK(m.str("/payload/message/id") == message_id);
        CHECK(m.json("/payload/message/seq") == "1");
    }
    // The sender gets no new_message, and alice A is no inbox watcher.
    CHECK(types_of(alice_a.sync()).empty());

    // --- the same client_msg_id again: a duplicate -----------------------------
    REQUIRE(alice_a.send("send_message",
                         R"({"room":"conversation:U123","text":"  hello  ","client_msg_id":"m1"})", "r2"));
    {
        Event s = alice_a.expect("message_sent");
        INFO(s);
        CHECK(s.str("/ref") == "r2");
        CHECK(s.json("/payload/duplicate") == "true");
        CHECK(s.str("/payload/client_msg_id") == "m1");
        CHECK(s.str("/payload/message/id") == message_id);
        CHECK(s.json("/payload/message/seq") == "1");
    }
    std::this_thread::sleep_for(300ms);
    CHECK(types_of(bob.sync()).empty());
    CHECK(types_of(alice_b.sync()).empty());

    // --- typing ------------------------------------------------------------------
    const auto typing_sent = std::chrono::steady_clock::now();
    REQUIRE(bob.send("typing_start", kRoomPayload));
    {
        Event t = alice_a.expect("typing");
        INFO(t);
        check_envelope(t);
        CHECK(t.str("/payload/room") == kRoom);
        CHECK(t.str("/payload/user_id") == "bob");
        CHECK(t.str("/payload/name") == "bob");
        CHECK(t.json("/payload/is_typing") == "true");
    }
    alice_b.wait_for("typing", [](const Event& e) { return e.json("/payload/is_typing") == "true"; });
    {
        // Nobody sends typing_stop: the server stops it by itself after 3 s.
        Event t = alice_a.expect("typing", 5000ms);
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - typing_sent);
        INFO(t << " after " << elapsed.count() << " ms");
        CHECK(t.str("/payload/user_id") == "bob");
        CHECK(t.json("/payload/is_typing") == "false");
        CHECK(elapsed >= 2500ms);
        CHECK(elapsed <= 5000ms);
    }
    alice_b.wait_for("typing", [](const Event& e) { return e.json("/payload/is_typing") == "false"; });
    CHECK(types_of(bob.sync()).empty());  // the typist gets no typing events

    // --- alice B also watches the inbox ------------------------------------------
    REQUIRE(alice_b.send("watch_inbox", "", "w2"));
    {
        Event inbox = alice_b.wait_for("inbox_update");
        INFO(inbox);
        CHECK(inbox.str("/ref") == "w2");
        CHECK(inbox.size("/payload/conversations") == 1);
        CHECK(inbox.str("/payload/conversations/0/room") == kRoom);
        CHECK(inbox.str("/payload/conversations/0/conversation_id") == "U123");
        CHECK(inbox.json("/payload/conversations/0/last_seq") == "1");
        CHECK(inbox.str("/payload/conversations/0/last_message/text") == "hello");
        CHECK(inbox.str("/payload/conversations/0/session/status") == "open");
        CHECK(connections_of(inbox, "alice") == 2);
        CHECK(connections_of(inbox, "bob") == 1);
        CHECK(user_ids(inbox, "/payload/online") == std::vector<std::string>{"alice", "bob"});
    }

    // --- claiming the session ------------------------------------------------------
    REQUIRE(alice_a.send("claim_session", kRoomPayload, "c1"));
    for (WsClient* c : {&alice_a, &alice_b, &bob}) {
        Event s = c->wait_for("session_claimed");
        INFO(c->name() << ": " << s);
        check_envelope(s);
        CHECK(s.str("/payload/room") == kRoom);
        check_session(s, "/payload/session", "claimed", "alice", 1);
        // In the room and watching the inbox: still only once.
        CHECK(count_type(c->sync(), "session_claimed") == 0);
    }
    REQUIRE(bob.send("claim_session", kRoomPayload, "c2"));
    {
        Event err = bob.expect("error");
        INFO(err);
        CHECK(err.str("/payload/code") == "session_already_claimed");
        CHECK(err.str("/ref") == "c2");
        CHECK(err.is_string("/payload/message"));
        if (err.has("/payload/request_type")) CHECK(err.str("/payload/request_type") == "claim_session");
    }
    CHECK(count_type(alice_a.sync(), "session_claimed") == 0);

    // --- closing the session ---------------------------------------------------------
    // A claimed session is closed by its holder (or an admin) only: bob's
    // close would let him undo alice's claim by closing and claiming again.
    REQUIRE(bob.send("close_session", kRoomPayload, "s0"));
    {
        Event err = bob.expect("error");
        INFO(err);
        CHECK(err.str("/payload/code") == "forbidden");
        CHECK(err.str("/ref") == "s0");
    }
    CHECK(count_type(alice_a.sync(), "session_closed") == 0);
    REQUIRE(alice_b.send("close_session", kRoomPayload, "s1"));  // the holder's other tab
    for (WsClient* c : {&alice_b, &alice_a, &bob}) {
        Event s = c->wait_for("session_closed");
        INFO(c->name() << ": " << s);
        CHECK(s.str("/payload/room") == kRoom);
        check_session(s, "/payload/session", "closed", "alice", 2);  // claimed_by is kept
        CHECK(count_type(c->sync(), "session_closed") == 0);
    }
    // Closing a closed session: a no-op, no broadcast.
    REQUIRE(bob.send("close_session", kRoomPayload, "s2"));
    CHECK(count_type(bob.sync(), "session_closed") == 0);
    CHECK(count_type(alice_a.sync(), "session_closed") == 0);

    // --- bob leaves the room -------------------------------------------------------------
    REQUIRE(bob.send("leave_room", kRoomPayload, "l1"));
    {
        Event left = bob.expect("room_left");
        INFO(left);
        CHECK(left.str("/ref") == "l1");
        CHECK(left.str("/payload/room") == kRoom);
    }
    for (WsClient* c : {&alice_a, &alice_b}) {
        Event l = c->wait_for("operator_left");
        INFO(c->name() << ": " << l);
        CHECK(l.str("/payload/room") == kRoom);
        CHECK(l.str("/payload/user_id") == "bob");
        CHECK(l.str("/payload/name") == "bob");
    }
    REQUIRE(bob.send("send_message", R"({"room":"conversation:U123","text":"still here?"})", "r3"));
    {
        Event err = bob.expect("error");
        INFO(err);
        CHECK(err.str("/payload/code") == "not_in_room");
        CHECK(err.str("/ref") == "r3");
    }

    // --- bob disconnects: the inbox watchers see him go offline ---------------------------
    CHECK(bob.close());
    {
        Event d = alice_b.wait_for("presence_diff", [](const Event& e) { return lists_user(e, "/payload/offline", "bob"); });
        INFO(d);
        check_envelope(d);
        CHECK(user_ids(d, "/payload/offline") == std::vector<std::string>{"bob"});
        CHECK_FALSE(lists_user(d, "/payload/online", "bob"));
    }
    // alice A watches no inbox: presence is not pushed to everyone.
    CHECK(count_type(alice_a.sync(), "presence_diff") == 0);
}

}  // namespace livechat_itest_server
