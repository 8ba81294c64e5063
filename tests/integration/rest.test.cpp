// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the REST fallback (PROTOCOL.md "HTTP"): the conversation
// list, a room's history and posting a message, with Bearer tokens checked
// like the WebSocket `auth`. Encodings are compared byte for byte with what
// the WebSocket events carry.
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
namespace livechat_itest_rest {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kOperator = "op";  // dev auth: the token is the user id
const std::string kAuth = "Authorization: Bearer " + kOperator + "\r\n";

Event json_body(const HttpResponse& r) { return Event::from_text(r.body); }

/// A JSON error with `status`, `code` and (when given) `field`.
void check_error(const HttpResponse& r, int status, const std::string& code, const std::string& field = "") {
    INFO(r);
    CHECK(r.status == status);
    CHECK(r.header("Content-Type").find("application/json") != std::string::npos);
    const Event body = json_body(r);
    CHECK(body.str("/error/code") == code);
    CHECK(body.is_string("/error/message"));
    if (!field.empty()) CHECK(body.str("/error/field") == field);
}

std::string messages_path(const std::string& id, const std::string& query = "") {
    return "/api/v1/conversations/" + id + "/messages" + query;
}

HttpResponse get(std::uint16_t port, const std::string& path, const std::string& auth = kAuth) {
    return http_get(port, path, auth);
}

HttpResponse post(std::uint16_t port, const std::string& id, const std::string& body,
                  const std::string& auth = kAuth) {
    return http_post(port, messages_path(id), body, auth);
}

/// Posts `text` and requires 201; returns the body.
Event post_ok(std::uint16_t port, const std::string& id, const std::string& text, const std::string& cmid = "") {
    std::string body = "{\"text\":" + json_quote(text);
    if (!cmid.empty()) body += ",\"client_msg_id\":" + json_quote(cmid);
    body += "}";
    HttpResponse r = post(port, id, body);
    INFO(r);
    REQUIRE(r.status == 201);
    return json_body(r);
}

Event get_ok(std::uint16_t port, const std::string& path) {
    HttpResponse r = get(port, path);
    INFO(r);
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type").find("application/json") != std::string::npos);
    Event e = json_body(r);
    REQUIRE(e.valid());
    return e;
}

/// The `seq`s of the messages array at `pointer`.
std::vector<long> seqs(const Event& e, const std::string& pointer = "/messages") {
    std::vector<long> out;
    const rapidjson::Value* arr = e.get(pointer);
    if (arr == nullptr || !arr->IsArray()) return out;
    for (const auto& m : arr->GetArray())
        if (m.IsObject() && m.HasMember("seq") && m["seq"].IsInt64()) out.push_back(static_cast<long>(m["seq"].GetInt64()));
    return out;
}

std::vector<long> range(long first, long last) {
    std::vector<long> v;
    for (long i = first; i <= last; ++i) v.push_back(i);
    return v;
}

Event join(WsClient& c, const std::string& room) {
    REQUIRE(c.send("join_room", "{\"room\":" + json_quote(room) + "}"));
    return c.expect("conversation_update");
}

}  // namespace

TEST_CASE("REST: a Bearer token is required", "[integration][rest]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    const std::string bad_token = "Authorization: Bearer " + std::string(200, 'x') + "\r\n";  // > 128: refused in dev

    for (const std::string& path : {std::string("/api/v1/conversations"), messages_path("U1")}) {
        INFO(path);
        HttpResponse r = get(port, path, "");
        check_error(r, 401, "not_authenticated");
        CHECK(r.header("WWW-Authenticate").find("Bearer") == 0);
        check_error(get(port, path, "Authorization: Basic b3A6b3A=\r\n"), 401, "not_authenticated");
        check_error(get(port, path, "Authorization: Bearer \r\n"), 401, "not_authenticated");
        check_error(get(port, path, bad_token), 401, "auth_failed");
        CHECK(get(port, path, "authorization: bearer " + kOperator + "\r\n").status == 200);
    }
    check_error(post(port, "U1", R"({"text":"hi"})", ""), 401, "not_authenticated");
    check_error(post(port, "U1", R"({"text":"hi"})", bad_token), 401, "auth_failed");
    // Authentication comes before validation: a bad id without a token is 401.
    check_error(post(port, "bad%20id", R"({"text":"hi"})", ""), 401, "not_authenticated");
    CHECK(get_ok(port, "/api/v1/conversations").size("/conversations") == 0);
}

TEST_CASE("REST: the conversation list, newest first, only conversations with messages", "[integration][rest]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    CHECK(get_ok(port, "/api/v1/conversations").size("/conversations") == 0);

    WsClient op("op");
    op.login(port, kOperator);
    join(op, "conversation:Uempty");  // joined, never written to: not listed
    post_ok(port, "Ua", "a1");
    post_ok(port, "Ub", "b1");
    post_ok(port, "Ua", "a2");
    post_ok(port, "Uc", "c1");

    Event list = get_ok(port, "/api/v1/conversations");
    INFO(list);
    REQUIRE(list.size("/conversations") == 3);
    CHECK(list.str("/conversations/0/room") == "conversation:Uc");
    CHECK(list.str("/conversations/0/conversation_id") == "Uc");
    CHECK(list.str("/conversations/1/conversation_id") == "Ua");
    CHECK(list.str("/conversations/1/last_message/text") == "a2");
    CHECK(list.json("/conversations/1/last_seq") == "2");
    CHECK(list.str("/conversations/1/last_message/sender/type") == "operator");
    CHECK(list.str("/conversations/1/session/status") == "open");
    CHECK(list.str("/conversations/2/conversation_id") == "Ub");

    // Exactly the encoding of inbox_update.conversations.
    REQUIRE(op.send("watch_inbox"));
    Event inbox = op.expect("inbox_update");
    CHECK(to_json(*inbox.get("/payload/conversations")) == to_json(*list.get("/conversations")));

    // HEAD answers like GET without a body; other methods are 405.
    HttpResponse head = http_raw(port, "HEAD /api/v1/conversations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + kAuth +
                                           "\r\n");
    CHECK(head.status == 200);
    HttpResponse wrong = http_post(port, "/api/v1/conversations", "{}", kAuth);
    check_error(wrong, 405, "method_not_allowed");
}

TEST_CASE("REST: a room's history", "[integration][rest]") {
    // 60 posts back to back: above the default REST write bucket (40).
    ServerProcess server({"--rate-burst", "1000"});
    const std::uint16_t port = server.port();
    const std::string id = "U4af4980629history";
    for (int i = 1; i <= 60; ++i) post_ok(port, id, "m" + std::to_string(i));

    SECTION("default: the latest 50, oldest first, like conversation_update") {
        Event h = get_ok(port, messages_path(id));
        INFO(h);
        CHECK(h.str("/room") == "conversation:" + id);
        CHECK(h.str("/conversation_id") == id);
        CHECK(seqs(h) == range(11, 60));
        CHECK(h.json("/last_seq") == "60");
        CHECK(h.json("/has_more") == "true");
        CHECK(h.is_string("/epoch"));
        CHECK(h.str("/messages/0/text") == "m11");
        CHECK(h.str("/messages/0/sender/id") == kOperator);

        WsClient op("op");
        op.login(port, kOperator);
        Event u = join(op, "conversation:" + id);
        CHECK(to_json(*u.get("/payload/messages")) == to_json(*h.get("/messages")));
        CHECK(u.str("/payload/epoch") == h.str("/epoch"));
    }
    SECTION("limit takes the latest N") {
        Event h = get_ok(port, messages_path(id, "?limit=5"));
        CHECK(seqs(h) == range(56, 60));
        CHECK(h.json("/has_more") == "true");
        h = get_ok(port, messages_path(id, "?limit=500"));
        CHECK(seqs(h) == range(1, 60));
        CHECK(h.json("/has_more") == "false");
    }
    SECTION("since_seq: everything after it, up to limit (500 by default)") {
        Event h = get_ok(port, messages_path(id, "?since_seq=55"));
        CHECK(seqs(h) == range(56, 60));
        CHECK(h.json("/has_more") == "false");
        h = get_ok(port, messages_path(id, "?since_seq=0"));
        CHECK(seqs(h) == range(1, 60));
        CHECK(h.json("/has_more") == "false");
        h = get_ok(port, messages_path(id, "?since_seq=10&limit=20"));
        CHECK(seqs(h) == range(11, 30));
        CHECK(h.json("/has_more") == "true");
        h = get_ok(port, messages_path(id, "?limit=20&since_seq=50&unknown=1"));
        CHECK(seqs(h) == range(51, 60));
        CHECK(h.json("/has_more") == "false");
        h = get_ok(port, messages_path(id, "?since_seq=60"));
        CHECK(h.size("/messages") == 0);
        CHECK(h.json("/last_seq") == "60");
        CHECK(h.json("/has_more") == "false");
    }
    SECTION("since_seq beyond the history is answered as without it") {
        Event h = get_ok(port, messages_path(id, "?since_seq=1000"));
        CHECK(seqs(h) == range(11, 60));
        CHECK(h.json("/has_more") == "true");
    }
    SECTION("bad parameters are 400") {
        for (const char* q : {"?limit=0", "?limit=501", "?limit=abc", "?limit=-1", "?limit=", "?limit=1.5",
                              "?limit=5&limit=6", "?limit=99999999999999999999999"}) {
            INFO(q);
            check_error(get(port, messages_path(id, q)), 400, "validation_error", "limit");
        }
        for (const char* q : {"?since_seq=-1", "?since_seq=x", "?since_seq=", "?since_seq=%2B1"}) {
            INFO(q);
            check_error(get(port, messages_path(id, q)), 400, "validation_error", "since_seq");
        }
    }
    SECTION("a bad conversation id is 400, an unknown one is empty") {
        check_error(get(port, messages_path("bad%20id")), 400, "validation_error", "conversation_id");
        check_error(get(port, messages_path("a%2Fb")), 400, "validation_error", "conversation_id");
        check_error(get(port, messages_path(std::string(129, 'a'))), 400, "validation_error", "conversation_id");
        check_error(get(port, messages_path("")), 400, "validation_error", "conversation_id");
        Event h = get_ok(port, messages_path("Unobody"));
        CHECK(h.size("/messages") == 0);
        CHECK(h.json("/last_seq") == "0");
        CHECK(h.json("/has_more") == "false");
        CHECK(h.str("/room") == "conversation:Unobody");
        // Percent-encoded ids are decoded (':' and '@' are allowed in ids).
        post_ok(port, "a:b@c", "encoded");
        Event e = get_ok(port, messages_path("a%3Ab%40c"));
        CHECK(e.str("/conversation_id") == "a:b@c");
        CHECK(e.str("/messages/0/text") == "encoded");
    }
    SECTION("other paths under /api/v1/conversations/ are 404") {
        check_error(get(port, "/api/v1/conversations/" + id), 404, "not_found");
        check_error(get(port, "/api/v1/conversations/" + id + "/messages/1"), 404, "not_found");
        check_error(get(port, "/api/v1/conversations/" + id + "/other"), 404, "not_found");
    }
}

TEST_CASE("REST: posting a message", "[integration][rest]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    const std::string id = "Upost";
    const std::string room = "conversation:" + id;
    WsClient watcher("watcher");
    watcher.login(port, "watcher");
    join(watcher, room);

    // 201 with the stored message, broadcast to the room.
    HttpResponse r = post(port, id, R"({"text":"  hello over REST \n","client_msg_id":"rest-1"})");
    INFO(r);
    REQUIRE(r.status == 201);
    Event body = json_body(r);
    CHECK(body.json("/duplicate") == "false");
    CHECK(body.str("/message/room") == room);
    CHECK(body.json("/message/seq") == "1");
    CHECK(body.str("/message/text") == "hello over REST");
    CHECK(body.str("/message/sender/type") == "operator");
    CHECK(body.str("/message/sender/id") == kOperator);
    CHECK(body.str("/message/sender/name") == kOperator);
    CHECK(body.str("/message/client_msg_id") == "rest-1");
    CHECK(is_iso_timestamp(body.str("/message/created_at")));
    Event m = watcher.wait_for("new_message");
    CHECK(to_json(*m.get("/payload/message")) == to_json(*body.get("/message")));

    // The same client_msg_id again: 200, duplicate, the original, no broadcast.
    r = post(port, id, R"({"text":"something else","client_msg_id":"rest-1"})");
    REQUIRE(r.status == 200);
    Event dup = json_body(r);
    CHECK(dup.json("/duplicate") == "true");
    CHECK(to_json(*dup.get("/message")) == to_json(*body.get("/message")));
    for (const Event& e : watcher.sync()) CHECK(e.type() != "new_message");

    // Without client_msg_id (or null): always a new message.
    Event second = post_ok(port, id, "no id");
    CHECK(second.json("/message/seq") == "2");
    CHECK_FALSE(second.has("/message/client_msg_id"));
    r = post(port, id, R"({"text":"null id","client_msg_id":null})");
    CHECK(r.status == 201);
    CHECK(watcher.wait_for("new_message").str("/payload/message/text") == "no id");
    CHECK(watcher.wait_for("new_message").str("/payload/message/text") == "null id");

    // The same rules as send_message.
    check_error(post(port, id, R"({"text":" \t\r\n "})"), 400, "validation_error", "text");
    check_error(post(port, id, R"({"client_msg_id":"x"})"), 400, "validation_error", "text");
    check_error(post(port, id, R"({"text":5})"), 400, "validation_error", "text");
    check_error(post(port, id, "{\"text\":\"" + std::string(5001, 'a') + "\"}"), 400, "validation_error", "text");
    check_error(post(port, id, R"({"text":"x","client_msg_id":""})"), 400, "validation_error", "client_msg_id");
    check_error(post(port, id, "{\"text\":\"x\",\"client_msg_id\":\"" + std::string(65, 'c') + "\"}"), 400,
                "validation_error", "client_msg_id");
    check_error(post(port, id, R"({"text":"x","client_msg_id":7})"), 400, "validation_error", "client_msg_id");
    check_error(post(port, id, "not json"), 400, "invalid_json");
    check_error(post(port, id, "[]"), 400, "invalid_json");
    check_error(post(port, id, ""), 400, "invalid_json");
    check_error(post(port, "bad%20id", R"({"text":"x"})"), 400, "validation_error", "conversation_id");
    // 5000 characters (code points, not bytes) are fine.
    std::string long_text;
    for (int i = 0; i < 5000; ++i) long_text += "\xE3\x81\x82";  // U+3042, 3 bytes
    post_ok(port, id, long_text);

    Event h = get_ok(port, messages_path(id));
    CHECK(h.json("/last_seq") == "4");
    for (const Event& e : watcher.sync())
        if (e.type() == "new_message") CHECK(e.json("/payload/message/seq") == "4");
}

// ---------------------------------------------------------------------------
// REST write rate limit (PROTOCOL.md "HTTP": a token bucket per user, the
// same size and rate as a connection's, 429 `rate_limited` beyond)
// ---------------------------------------------------------------------------

TEST_CASE("REST: posting is rate limited per user with 429 and Retry-After", "[integration][rest]") {
    // A small bucket so that the posts below outrun it whatever the speed
    // of this machine: 3 tokens, 1 more per second.
    ServerProcess server({"--rate-burst", "3", "--rate-per-second", "1"});
    const std::uint16_t port = server.port();
    const std::string id = "Urate";

    const auto start = std::chrono::steady_clock::now();
    int accepted = 0;
    std::optional<HttpResponse> refused;
    for (int i = 0; i < 20 && !refused; ++i) {
        HttpResponse r = post(port, id, "{\"text\":\"m" + std::to_string(i) + "\"}");
        if (r.status == 201) ++accepted;
        else refused = r;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO("accepted " << accepted << " in " << elapsed << " s");
    REQUIRE(refused);
    check_error(*refused, 429, "rate_limited");
    const std::string retry_after = refused->header("Retry-After");
    INFO("Retry-After: " << retry_after);
    REQUIRE_FALSE(retry_after.empty());
    CHECK(retry_after.find_first_not_of("0123456789") == std::string::npos);
    CHECK(std::stoi(retry_after) >= 1);
    CHECK(refused->header("X-Content-Type-Options") == "nosniff");
    CHECK(accepted >= 3);
    CHECK(accepted <= 3 + static_cast<int>(elapsed) + 1);

    // Nothing refused was stored.
    CHECK(get_ok(port, messages_path(id)).json("/last_seq") == std::to_string(accepted));

    // The bucket is the user's: another operator still posts, and reading
    // is not limited.
    HttpResponse other = post(port, id, R"({"text":"from another operator"})", "Authorization: Bearer op2\r\n");
    CHECK(other.status == 201);
    for (int i = 0; i < 5; ++i) CHECK(get(port, messages_path(id)).status == 200);

    // Invalid posts count too (they cost a parse), and after Retry-After
    // the user posts again.
    CHECK(post(port, id, "not json").status == 429);
    bool again = false;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!again && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        again = post(port, id, R"({"text":"after the wait"})").status == 201;
    }
    CHECK(again);
}

TEST_CASE("REST: with the default limits a burst of posts is cut at the connection's bucket", "[integration][rest]") {
    ServerProcess server;  // 40 tokens, 20/s, as a connection
    const std::uint16_t port = server.port();
    WsClient watcher("watcher");
    watcher.login(port, "watcher");
    REQUIRE(watcher.send("watch_inbox"));
    watcher.expect("inbox_update");

    const auto start = std::chrono::steady_clock::now();
    int accepted = 0, limited = 0;
    for (int i = 0; i < 150; ++i) {
        const HttpResponse r = post(port, "Uflood", "{\"text\":\"flood " + std::to_string(i) + "\"}");
        if (r.status == 201) ++accepted;
        else if (r.status == 429) ++limited;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO("accepted " << accepted << ", limited " << limited << " in " << elapsed << " s");
    CHECK(accepted + limited == 150);
    CHECK(accepted <= 40 + static_cast<int>(elapsed * 20) + 1);
    // Only a machine slower than one post per 37 ms (5.5 s in all) could
    // stay under the refill; anywhere else some posts are refused.
    if (elapsed < 5.0) CHECK(limited > 0);
    // The watcher got one conversation_activity per stored message, no more.
    int activity = 0;
    for (const Event& e : watcher.sync())
        if (e.type() == "conversation_activity") ++activity;
    CHECK(activity == accepted);
}

}  // namespace livechat_itest_rest
