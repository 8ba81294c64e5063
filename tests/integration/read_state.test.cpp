// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: what a console needs for unread counts and scroll-back
// (PROTOCOL.md `mark_read`, `read_receipt`, `inbox_update`,
// `conversation_update`, the REST list and history rows): each summary and
// `conversation_update` carry the receiving user's `read_seq`; a
// `read_receipt` reaches the same user's inbox-watching tabs, each once;
// REST history pages back with `before_seq`.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_read_state {

using namespace livechat_itest;

namespace {

/// Stores `texts` in conversation `user` through the (unsigned, dev) webhook.
void webhook(std::uint16_t port, const std::string& user, const std::vector<std::string>& texts) {
    static int counter = 0;
    std::string body = R"({"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[)";
    for (std::size_t i = 0; i < texts.size(); ++i) {
        if (i > 0) body += ",";
        body += R"({"type":"message","mode":"active","timestamp":1732566265123,"source":{"type":"user","userId":)" +
                json_quote(user) + R"(},"webhookEventId":)" + json_quote("read-" + std::to_string(++counter)) +
                R"(,"deliveryContext":{"isRedelivery":false},"message":{"id":"1","type":"text","text":)" +
                json_quote(texts[i]) + "}}";
    }
    body += "]}";
    HttpResponse r = http_post(port, "/api/v1/webhook", body);
    INFO(r);
    REQUIRE(r.status == 200);
}

Event get_ok(std::uint16_t port, const std::string& path, const std::string& user) {
    HttpResponse r = http_get(port, path, "Authorization: Bearer " + user + "\r\n");
    INFO(path << " -> " << r);
    REQUIRE(r.status == 200);
    Event e = Event::from_text(r.body);
    REQUIRE(e.valid());
    return e;
}

/// read_seq of `room` in the summaries at `pointer`; -1 when the room is not listed.
long read_seq_in(const Event& e, const std::string& pointer, const std::string& room) {
    const rapidjson::Value* list = e.get(pointer);
    REQUIRE(list != nullptr);
    REQUIRE(list->IsArray());
    for (const auto& c : list->GetArray()) {
        if (room != c["room"].GetString()) continue;
        REQUIRE(c.HasMember("read_seq"));
        return static_cast<long>(c["read_seq"].GetInt64());
    }
    return -1;
}

Event join(WsClient& c, const std::string& room) {
    REQUIRE(c.send("join_room", "{\"room\":" + json_quote(room) + "}"));
    return c.wait_for("conversation_update");
}

/// The read_receipts among what `c` got before a ping barrier.
std::vector<Event> receipts(WsClient& c) {
    std::vector<Event> out;
    for (const Event& e : c.sync())
        if (e.type() == "read_receipt") out.push_back(e);
    return out;
}

std::vector<long> seqs(const Event& e) {
    std::vector<long> out;
    const rapidjson::Value* arr = e.get("/messages");
    if (arr == nullptr || !arr->IsArray()) return out;
    for (const auto& m : arr->GetArray()) out.push_back(static_cast<long>(m["seq"].GetInt64()));
    return out;
}

}  // namespace

TEST_CASE("read positions: read_seq per user, read_receipt to the user's inbox tabs once",
          "[integration][read]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    const std::string room = "conversation:Uread";
    webhook(port, "Uread", {"one", "two", "three"});
    webhook(port, "Uother", {"elsewhere"});

    WsClient reader("alice-reading");   // in the room, marks read
    WsClient inbox_tab("alice-inbox");  // watches the inbox only
    WsClient both_tab("alice-both");    // in the room and watching: told once
    WsClient bob("bob-inbox");          // another user's inbox: not told
    reader.login(port, "alice");
    inbox_tab.login(port, "alice");
    both_tab.login(port, "alice");
    bob.login(port, "bob");
    CHECK(join(reader, room).json("/payload/read_seq") == "0");
    join(both_tab, room);
    for (WsClient* c : {&inbox_tab, &both_tab, &bob}) {
        REQUIRE(c->send("watch_inbox"));
        Event inbox = c->wait_for("inbox_update");
        CHECK(read_seq_in(inbox, "/payload/conversations", room) == 0);
    }
    receipts(inbox_tab);  // drain presence and joins
    receipts(both_tab);
    receipts(bob);

    REQUIRE(reader.send("mark_read", "{\"room\":" + json_quote(room) + ",\"seq\":2}"));
    reader.sync();  // handled: everything it caused is queued for the others
    for (WsClient* c : {&inbox_tab, &both_tab}) {
        const std::vector<Event> got = receipts(*c);
        REQUIRE(got.size() == 1);
        CHECK(got[0].str("/payload/room") == room);
        CHECK(got[0].str("/payload/user_id") == "alice");
        CHECK(got[0].json("/payload/seq") == "2");
    }
    CHECK(receipts(bob).empty());

    // A fresh inbox, the REST list and a rejoin all carry alice's position;
    // bob's stays 0.
    WsClient later("alice-later");
    later.login(port, "alice");
    REQUIRE(later.send("watch_inbox"));
    Event inbox = later.wait_for("inbox_update");
    CHECK(read_seq_in(inbox, "/payload/conversations", room) == 2);
    CHECK(read_seq_in(inbox, "/payload/conversations", "conversation:Uother") == 0);
    CHECK(join(later, room).json("/payload/read_seq") == "2");
    const Event list = get_ok(port, "/api/v1/conversations", "alice");
    CHECK(read_seq_in(list, "/conversations", room) == 2);
    CHECK(to_json(*list.get("/conversations")) == to_json(*inbox.get("/payload/conversations")));
    CHECK(read_seq_in(get_ok(port, "/api/v1/conversations?status=open", "bob"), "/conversations", room) == 0);
}

TEST_CASE("REST history pages back with before_seq, each message once", "[integration][read][paging]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    std::vector<std::string> texts;
    for (int i = 1; i <= 7; ++i) texts.push_back("m" + std::to_string(i));
    webhook(port, "Uback", texts);

    const std::string path = "/api/v1/conversations/Uback/messages?limit=3";
    Event page = get_ok(port, path, "alice");
    CHECK(seqs(page) == std::vector<long>{5, 6, 7});
    CHECK(page.json("/has_more") == "true");
    page = get_ok(port, path + "&before_seq=5", "alice");
    CHECK(seqs(page) == std::vector<long>{2, 3, 4});
    CHECK(page.json("/has_more") == "true");
    CHECK(page.json("/last_seq") == "7");
    page = get_ok(port, path + "&before_seq=2", "alice");
    CHECK(seqs(page) == std::vector<long>{1});
    CHECK(page.json("/has_more") == "false");
    page = get_ok(port, path + "&before_seq=100", "alice");  // beyond the end: the latest
    CHECK(seqs(page) == std::vector<long>{5, 6, 7});
}

}  // namespace livechat_itest_read_state
