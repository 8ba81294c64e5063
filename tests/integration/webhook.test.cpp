// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: POST /api/v1/webhook, the LINE Messaging API webhook
// (PROTOCOL.md "HTTP"). Signatures are computed here independently of the
// library: HMAC-SHA256 from OpenSSL and a local base64 encoder. What was
// stored is read back through the REST fallback and the WebSocket.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_webhook {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "line-channel-secret-for-tests";
const std::string kUser = "U4af4980629abcdef0123456789abcdef";
const std::string kRoom = "conversation:" + kUser;
const std::string kOperator = "op";  // dev auth: the token is the user id

std::string base64(const std::string& in) {
    static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const std::uint32_t n = (std::uint32_t(static_cast<unsigned char>(in[i])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(in[i + 1])) << 8) |
                                std::uint32_t(static_cast<unsigned char>(in[i + 2]));
        for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
    }
    if (in.size() - i == 1) {
        const std::uint32_t n = std::uint32_t(static_cast<unsigned char>(in[i])) << 16;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += "==";
    } else if (in.size() - i == 2) {
        const std::uint32_t n = (std::uint32_t(static_cast<unsigned char>(in[i])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(in[i + 1])) << 8);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string line_signature(const std::string& body, const std::string& secret = kSecret) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
    return base64(std::string(reinterpret_cast<const char*>(mac), len));
}

/// One LINE text message event, shaped like the real thing.
std::string text_event(const std::string& user, const std::string& text, const std::string& event_id,
                       bool redelivery = false) {
    return R"({"type":"message","mode":"active","timestamp":1732566265123,"source":{"type":"user","userId":)" +
           json_quote(user) + R"(},"webhookEventId":)" + json_quote(event_id) +
           R"(,"deliveryContext":{"isRedelivery":)" + (redelivery ? "true" : "false") +
           R"(},"replyToken":"b60d432864f44d079f6d8efe86cf404b","message":{"id":"444573844083572737","type":"text","quoteToken":"q3Plxr4AgKd","text":)" +
           json_quote(text) + "}}";
}

std::string webhook_body(const std::vector<std::string>& events) {
    std::string s = R"({"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[)";
    for (std::size_t i = 0; i < events.size(); ++i) s += (i ? "," : "") + events[i];
    return s + "]}";
}

/// POSTs a webhook body; `signature` empty: no X-Line-Signature header.
HttpResponse post_webhook(std::uint16_t port, const std::string& body, const std::string& signature) {
    const std::string headers = signature.empty() ? "" : "X-Line-Signature: " + signature + "\r\n";
    return http_post(port, "/api/v1/webhook", body, headers, "application/json; charset=utf-8");
}

HttpResponse post_signed(std::uint16_t port, const std::string& body) {
    return post_webhook(port, body, line_signature(body));
}

Event json_body(const HttpResponse& r) { return Event::from_text(r.body); }

void check_json_error(const HttpResponse& r, int status) {
    INFO(r);
    CHECK(r.status == status);
    const Event body = json_body(r);
    CHECK(body.valid());
    CHECK(body.is_string("/error/code"));
    CHECK(body.is_string("/error/message"));
    CHECK(r.header("Content-Type").find("application/json") != std::string::npos);
}

/// The room's history through REST, as a parsed body.
Event history(std::uint16_t port, const std::string& user = kUser, const std::string& query = "") {
    HttpResponse r = http_get(port, "/api/v1/conversations/" + user + "/messages" + query,
                              "Authorization: Bearer " + kOperator + "\r\n");
    INFO(r);
    REQUIRE(r.status == 200);
    return json_body(r);
}

Event conversations(std::uint16_t port) {
    HttpResponse r = http_get(port, "/api/v1/conversations", "Authorization: Bearer " + kOperator + "\r\n");
    INFO(r);
    REQUIRE(r.status == 200);
    return json_body(r);
}

Event join(WsClient& c, const std::string& room = kRoom) {
    REQUIRE(c.send("join_room", "{\"room\":" + json_quote(room) + "}"));
    return c.expect("conversation_update");
}

struct temp_db {
    std::string path;
    temp_db() {
        static int counter = 0;
        path = (std::filesystem::temp_directory_path() /
                ("livechat-webhook-itest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".db"))
                   .string();
        remove_all();
    }
    ~temp_db() { remove_all(); }
    void remove_all() const {
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    }
};

}  // namespace

TEST_CASE("webhook: a signed text message is stored and broadcast as a user message", "[integration][webhook]") {
    ServerProcess server({"--line-channel-secret", kSecret});
    const std::uint16_t port = server.port();
    WsClient op("op");
    op.login(port, kOperator);
    join(op);
    WsClient inbox("inbox");
    inbox.login(port, "watcher");
    REQUIRE(inbox.send("watch_inbox"));
    inbox.expect("inbox_update");

    const std::string body = webhook_body({text_event(kUser, "  Hello from LINE  ", "01HEVENT0000000000000001")});
    HttpResponse r = post_signed(port, body);
    INFO(r);
    CHECK(r.status == 200);
    CHECK(r.body == "{}");
    CHECK(r.header("Content-Type").find("application/json") != std::string::npos);

    Event m = op.wait_for("new_message");
    INFO(m);
    CHECK(m.str("/payload/message/room") == kRoom);
    CHECK(m.json("/payload/message/seq") == "1");
    CHECK(m.str("/payload/message/sender/type") == "user");
    CHECK(m.str("/payload/message/sender/id") == kUser);
    CHECK(m.str("/payload/message/sender/name") == kUser);
    CHECK(m.str("/payload/message/text") == "Hello from LINE");  // trimmed like send_message
    CHECK(is_iso_timestamp(m.str("/payload/message/created_at")));
    CHECK_FALSE(m.has("/payload/message/client_msg_id"));

    Event a = inbox.wait_for("conversation_activity");
    INFO(a);
    CHECK(a.str("/payload/room") == kRoom);
    CHECK(a.str("/payload/conversation_id") == kUser);
    CHECK(to_json(*a.get("/payload/last_message")) == to_json(*m.get("/payload/message")));
    CHECK(a.str("/payload/session/status") == "open");

    // It is in the store: the REST history shows the same message.
    Event h = history(port);
    INFO(h);
    CHECK(h.json("/last_seq") == "1");
    REQUIRE(h.size("/messages") == 1);
    CHECK(to_json(*h.get("/messages/0")) == to_json(*m.get("/payload/message")));

    // Several events in one delivery, several users: each in its own room, in order.
    const std::string other = "Uother0000000000000000000000000001";
    const std::string body2 = webhook_body({text_event(kUser, "second", "01HEVENT0000000000000002"),
                                            text_event(other, "hi", "01HEVENT0000000000000003"),
                                            text_event(kUser, "third", "01HEVENT0000000000000004")});
    r = post_signed(port, body2);
    CHECK(r.status == 200);
    CHECK(op.wait_for("new_message").str("/payload/message/text") == "second");
    CHECK(op.wait_for("new_message").str("/payload/message/text") == "third");
    CHECK(history(port).json("/last_seq") == "3");
    CHECK(history(port, other).json("/last_seq") == "1");
    // The other user's message did not reach this room.
    for (const Event& e : op.sync()) CHECK(e.type() != "new_message");
}

TEST_CASE("webhook: a bad or missing signature is 401 and stores nothing", "[integration][webhook]") {
    ServerProcess server({"--line-channel-secret", kSecret});
    const std::uint16_t port = server.port();
    WsClient op("op");
    op.login(port, kOperator);
    join(op);

    const std::string body = webhook_body({text_event(kUser, "forged", "01HFORGED00000000000000001")});
    SECTION("missing header") { check_json_error(post_webhook(port, body, ""), 401); }
    SECTION("signed with another secret") { check_json_error(post_webhook(port, body, line_signature(body, "nope")), 401); }
    SECTION("signature of another body") {
        check_json_error(post_webhook(port, body, line_signature(body + " ")), 401);
    }
    SECTION("not base64 at all") { check_json_error(post_webhook(port, body, "garbage"), 401); }
    SECTION("a valid signature of a non-JSON body is 400, not 401") {
        check_json_error(post_signed(port, "not json"), 400);
    }

    Event h = history(port);
    INFO(h);
    CHECK(h.json("/last_seq") == "0");
    CHECK(h.size("/messages") == 0);
    CHECK(conversations(port).size("/conversations") == 0);
    for (const Event& e : op.sync()) CHECK(e.type() != "new_message");
}

TEST_CASE("webhook: a redelivered webhookEventId is acknowledged and stored once", "[integration][webhook]") {
    ServerProcess server({"--line-channel-secret", kSecret});
    const std::uint16_t port = server.port();
    WsClient op("op");
    op.login(port, kOperator);
    join(op);

    const std::string first = webhook_body({text_event(kUser, "only once", "01HREDELIVER00000000000001")});
    REQUIRE(post_signed(port, first).status == 200);
    op.wait_for("new_message");

    // LINE redelivers with isRedelivery: true (another body, same event id).
    const std::string again =
        webhook_body({text_event(kUser, "only once", "01HREDELIVER00000000000001", /*redelivery=*/true)});
    HttpResponse r = post_signed(port, again);
    INFO(r);
    CHECK(r.status == 200);
    CHECK(r.body == "{}");
    r = post_signed(port, first);
    CHECK(r.status == 200);

    for (const Event& e : op.sync()) CHECK(e.type() != "new_message");
    Event h = history(port);
    INFO(h);
    CHECK(h.json("/last_seq") == "1");
    CHECK(h.size("/messages") == 1);

    // A new event id with the same text is a new message.
    REQUIRE(post_signed(port, webhook_body({text_event(kUser, "only once", "01HREDELIVER00000000000002")})).status ==
            200);
    CHECK(history(port).json("/last_seq") == "2");
}

TEST_CASE("webhook: the dedupe record survives a restart with SQLite", "[integration][webhook]") {
    temp_db db;
    const std::string body = webhook_body({text_event(kUser, "durable", "01HDURABLE0000000000000001")});
    {
        ServerProcess server({"--store", "sqlite:" + db.path, "--line-channel-secret", kSecret});
        REQUIRE(post_signed(server.port(), body).status == 200);
        CHECK(server.stop() == 0);
    }
    ServerProcess server({"--store", "sqlite:" + db.path, "--line-channel-secret", kSecret});
    REQUIRE(post_signed(server.port(), body).status == 200);
    Event h = history(server.port());
    INFO(h);
    CHECK(h.json("/last_seq") == "1");
    CHECK(h.size("/messages") == 1);
}

TEST_CASE("webhook: non-text events, empty deliveries and bad bodies", "[integration][webhook]") {
    // No --line-channel-secret: the signature is not checked (dev).
    ServerProcess server;
    const std::uint16_t port = server.port();

    SECTION("an empty events list (LINE's verify request) is 200") {
        HttpResponse r = post_webhook(port, R"({"destination":"Uxxx","events":[]})", "");
        INFO(r);
        CHECK(r.status == 200);
        CHECK(r.body == "{}");
    }
    SECTION("without a secret any signature header is ignored") {
        HttpResponse r = post_webhook(port, webhook_body({text_event(kUser, "dev", "01HDEV")}), "whatever");
        CHECK(r.status == 200);
        CHECK(history(port).json("/last_seq") == "1");
    }
    SECTION("events that are not a user's message are acknowledged and ignored") {
        const std::string follow = R"({"type":"follow","source":{"type":"user","userId":")" + kUser +
                                   R"("},"webhookEventId":"01HFOLLOW","timestamp":1,"replyToken":"x"})";
        const std::string unfollow = R"({"type":"unfollow","source":{"type":"user","userId":")" + kUser +
                                     R"("},"webhookEventId":"01HUNFOLLOW","timestamp":1})";
        const std::string group = R"({"type":"message","source":{"type":"group","groupId":"Cgroup","userId":")" +
                                  kUser + R"("},"webhookEventId":"01HGROUP","timestamp":1,"message":{"id":"2","type":"text","text":"in a group"}})";
        HttpResponse r = post_webhook(port, webhook_body({follow, unfollow, group}), "");
        INFO(r);
        CHECK(r.status == 200);
        CHECK(r.body == "{}");
        CHECK(conversations(port).size("/conversations") == 0);
    }
    SECTION("invalid text events are skipped, the valid ones still stored") {
        HttpResponse r = post_webhook(port,
                                      webhook_body({text_event("bad user id!", "x", "01HBAD1"),
                                                    text_event(kUser, " \t\r\n ", "01HBAD2"),
                                                    text_event(kUser, std::string(5001, 'a'), "01HBAD3"),
                                                    R"("not an event")",
                                                    text_event(kUser, "good one", "01HGOOD")}),
                                      "");
        INFO(r);
        CHECK(r.status == 200);
        Event h = history(port);
        INFO(h);
        CHECK(h.json("/last_seq") == "1");
        CHECK(h.str("/messages/0/text") == "good one");
        CHECK(conversations(port).size("/conversations") == 1);
    }
    SECTION("a body that is not JSON is 400") {
        check_json_error(post_webhook(port, "{\"events\": [", ""), 400);
        check_json_error(post_webhook(port, "", ""), 400);
        check_json_error(post_webhook(port, "\xff\xfe", ""), 400);
    }
    SECTION("JSON that is not an object, or events not an array, is 400") {
        check_json_error(post_webhook(port, "[1,2]", ""), 400);
        check_json_error(post_webhook(port, R"({"destination":"x"})", ""), 400);
        check_json_error(post_webhook(port, R"({"events":{}})", ""), 400);
        CHECK(conversations(port).size("/conversations") == 0);
    }
    SECTION("only POST") {
        HttpResponse r = http_get(port, "/api/v1/webhook");
        check_json_error(r, 405);
        CHECK(r.header("Allow").find("POST") != std::string::npos);
    }
    CHECK(http_get(port, "/healthz").status == 200);
}

TEST_CASE("webhook: a message to a closed session re-opens it", "[integration][webhook]") {
    ServerProcess server({"--line-channel-secret", kSecret});
    const std::uint16_t port = server.port();
    WsClient op("op");
    op.login(port, kOperator);
    join(op);
    const std::string room_payload = "{\"room\":" + json_quote(kRoom) + "}";
    REQUIRE(op.send("claim_session", room_payload));
    op.wait_for("session_claimed");
    REQUIRE(op.send("close_session", room_payload));
    {
        Event c = op.wait_for("session_closed");
        INFO(c);
        CHECK(c.str("/payload/session/status") == "closed");
        CHECK(c.str("/payload/session/claimed_by/user_id") == kOperator);
    }

    REQUIRE(post_signed(port, webhook_body({text_event(kUser, "are you there?", "01HREOPEN")})).status == 200);
    // The session goes back to open before the message is delivered.
    Event s = op.expect("session_released");
    INFO(s);
    CHECK(s.str("/payload/room") == kRoom);
    CHECK(s.str("/payload/session/status") == "open");
    CHECK(s.json("/payload/session/claimed_by") == "null");
    CHECK(s.json("/payload/session/version") == "3");
    Event m = op.expect("new_message");
    CHECK(m.str("/payload/message/text") == "are you there?");

    Event list = conversations(port);
    INFO(list);
    REQUIRE(list.size("/conversations") == 1);
    CHECK(list.str("/conversations/0/session/status") == "open");
    CHECK(list.json("/conversations/0/session/claimed_by") == "null");
}

// ---------------------------------------------------------------------------
// Webhook limits (PROTOCOL.md "HTTP": at most 1,000 events per request; an
// event without webhookEventId is skipped, never stored)
// ---------------------------------------------------------------------------

TEST_CASE("webhook: more than 1000 events in one request is 400 and stores nothing", "[integration][webhook]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    WsClient watcher("watcher");
    watcher.login(port, kOperator);
    REQUIRE(watcher.send("watch_inbox"));
    watcher.expect("inbox_update");

    std::vector<std::string> events;
    for (int i = 0; i < 1001; ++i)
        events.push_back(text_event("Ubulk" + std::to_string(i), "bulk", "01HBULK" + std::to_string(i)));
    HttpResponse r = post_webhook(port, webhook_body(events), "");
    INFO(r);
    check_json_error(r, 400);
    CHECK(json_body(r).str("/error/field") == "events");
    CHECK(conversations(port).size("/conversations") == 0);
    for (const Event& e : watcher.sync()) CHECK(e.type() != "conversation_activity");

    // 1,000 is accepted (LINE sends a handful; non-text events keep it cheap).
    std::vector<std::string> follows(1000, R"({"type":"follow","source":{"type":"user","userId":"Ufollow"}})");
    follows.back() = text_event(kUser, "the last of 1000", "01HBULKLAST");
    r = post_webhook(port, webhook_body(follows), "");
    CHECK(r.status == 200);
    CHECK(history(port).str("/messages/0/text") == "the last of 1000");
    CHECK(watcher.is_open());
}

TEST_CASE("webhook: a text event without webhookEventId is skipped, also when replayed", "[integration][webhook]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    std::string no_id = text_event(kUser, "no event id", "REMOVE");
    no_id.erase(no_id.find(R"("webhookEventId":"REMOVE",)"), std::string(R"("webhookEventId":"REMOVE",)").size());
    REQUIRE(no_id.find("webhookEventId") == std::string::npos);
    std::string null_id = text_event(kUser, "null event id", "REPLACE");
    null_id.replace(null_id.find(R"("REPLACE")"), 9, "null");

    for (int replay = 0; replay < 2; ++replay) {
        INFO("delivery " << replay);
        HttpResponse r = post_webhook(port, webhook_body({no_id, null_id, text_event(kUser, "with an id", "01HWITHID")}), "");
        INFO(r);
        CHECK(r.status == 200);
        Event h = history(port);
        INFO(h);
        CHECK(h.json("/last_seq") == "1");
        CHECK(h.str("/messages/0/text") == "with an id");
    }
    const HttpResponse m = http_get(port, "/metrics");
    CHECK(m.body.find("livechat_webhook_events_total{result=\"skipped\"} 4") != std::string::npos);
}

}  // namespace livechat_itest_webhook
