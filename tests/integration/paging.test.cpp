// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: paging (PROTOCOL.md "HTTP" conversation list row and the
// paragraph after `conversation_update.messages`). The conversation list
// walks with an opaque cursor and filters; every page of messages, over
// REST and in `conversation_update`, stops before 1 MiB of encoded
// messages, so a small request can never build a reply of many megabytes.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_paging {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

const std::string kAuth = "Authorization: Bearer op\r\n";  // dev auth: the token is the user id
constexpr std::size_t kOneMiB = 1024 * 1024;
constexpr std::size_t kEnvelope = 4096;  // room, epoch, session, members ... around the messages

Event json_body(const HttpResponse& r) { return Event::from_text(r.body); }

Event get_ok(std::uint16_t port, const std::string& path) {
    HttpResponse r = http_get(port, path, kAuth);
    INFO(path << " -> " << r);
    REQUIRE(r.status == 200);
    Event e = json_body(r);
    REQUIRE(e.valid());
    return e;
}

void check_400(std::uint16_t port, const std::string& path, const std::string& field) {
    HttpResponse r = http_get(port, path, kAuth);
    INFO(path << " -> " << r);
    CHECK(r.status == 400);
    const Event body = json_body(r);
    CHECK(body.str("/error/code") == "validation_error");
    CHECK(body.str("/error/field") == field);
}

/// Stores text messages through the (unsigned, dev) webhook, `per_request`
/// events per POST. `ids` gives each event's user (its conversation).
void store_via_webhook(std::uint16_t port, const std::vector<std::string>& users, const std::string& text,
                       std::size_t per_request, const std::string& id_prefix) {
    static int counter = 0;
    for (std::size_t i = 0; i < users.size(); i += per_request) {
        std::string body = R"({"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[)";
        for (std::size_t j = i; j < users.size() && j < i + per_request; ++j) {
            if (j > i) body += ",";
            body += R"({"type":"message","mode":"active","timestamp":1732566265123,"source":{"type":"user","userId":)" +
                    json_quote(users[j]) + R"(},"webhookEventId":)" +
                    json_quote(id_prefix + std::to_string(++counter)) +
                    R"(,"deliveryContext":{"isRedelivery":false},"message":{"id":"1","type":"text","text":)" +
                    json_quote(text) + "}}";
        }
        body += "]}";
        HttpResponse r = http_post(port, "/api/v1/webhook", body);
        INFO(r);
        REQUIRE(r.status == 200);
    }
}

/// Every conversation_id of the list walked page by page with `query`.
std::vector<std::string> walk(std::uint16_t port, const std::string& query, std::size_t* pages = nullptr) {
    std::vector<std::string> out;
    std::string cursor;
    std::size_t n = 0;
    for (; n < 1000; ++n) {
        std::string path = "/api/v1/conversations?" + query;
        if (!cursor.empty()) path += "&cursor=" + cursor;  // digits, '.' and '-': no escaping needed
        const Event page = get_ok(port, path);
        const rapidjson::Value* list = page.get("/conversations");
        REQUIRE(list != nullptr);
        for (const auto& c : list->GetArray()) out.emplace_back(c["conversation_id"].GetString());
        const rapidjson::Value* next = page.get("/next_cursor");
        REQUIRE(next != nullptr);
        if (next->IsNull()) break;
        REQUIRE(next->IsString());
        cursor = next->GetString();
    }
    if (pages != nullptr) *pages = n + 1;
    return out;
}

std::vector<long> seqs(const Event& e, const std::string& pointer) {
    std::vector<long> out;
    const rapidjson::Value* arr = e.get(pointer);
    if (arr == nullptr || !arr->IsArray()) return out;
    for (const auto& m : arr->GetArray()) out.push_back(static_cast<long>(m["seq"].GetInt64()));
    return out;
}

std::vector<long> range(long first, long last) {
    std::vector<long> v;
    for (long i = first; i <= last; ++i) v.push_back(i);
    return v;
}

}  // namespace

TEST_CASE("REST: the conversation list pages with a cursor and filters", "[integration][rest][paging]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    // 57 conversations, one event each; many share a webhook request (and
    // so, often, a created_at millisecond): the cursor breaks those ties.
    std::vector<std::string> users;
    for (int i = 0; i < 57; ++i) users.push_back("U" + std::to_string(1000 + i));
    store_via_webhook(port, users, "hello", 20, "list-");

    const std::vector<std::string> everything = walk(port, "limit=500");
    REQUIRE(everything.size() == 57);
    CHECK(everything.front() == "U1056");  // newest first
    CHECK(std::set<std::string>(everything.begin(), everything.end()).size() == 57);

    std::size_t pages = 0;
    CHECK(walk(port, "limit=5", &pages) == everything);
    CHECK(pages == 12);
    CHECK(walk(port, "limit=57", &pages) == everything);
    CHECK(pages == 1);
    // The default limit is 100: one page, next_cursor null.
    const Event all = get_ok(port, "/api/v1/conversations");
    CHECK(all.size("/conversations") == 57);
    CHECK(all.get("/next_cursor")->IsNull());

    // Claim three, close one of them: the filters follow.
    WsClient op("op");
    op.login(port, "op");
    for (const char* id : {"U1003", "U1010", "U1020"}) {
        const std::string room = std::string("conversation:") + id;
        REQUIRE(op.send("join_room", "{\"room\":" + json_quote(room) + "}"));
        op.expect("conversation_update");
        REQUIRE(op.send("claim_session", "{\"room\":" + json_quote(room) + "}"));
        op.expect("session_claimed");
    }
    REQUIRE(op.send("close_session", R"({"room":"conversation:U1010"})"));
    op.expect("session_closed");

    CHECK(walk(port, "limit=1&status=claimed") == std::vector<std::string>{"U1020", "U1003"});
    CHECK(walk(port, "status=closed") == std::vector<std::string>{"U1010"});
    CHECK(walk(port, "limit=7&status=open").size() == 54);
    CHECK(walk(port, "limit=2&claimed_by=op") == std::vector<std::string>{"U1020", "U1010", "U1003"});
    CHECK(walk(port, "claimed_by=op&status=closed") == std::vector<std::string>{"U1010"});
    CHECK(walk(port, "claimed_by=someone%20else").empty());

    // Bad values are 400 with the parameter named.
    const std::string list = "/api/v1/conversations?";
    for (const char* q : {"limit=0", "limit=501", "limit=abc", "limit=", "limit=-1", "limit=1&limit=2"})
        check_400(port, list + q, "limit");
    for (const char* q : {"cursor=", "cursor=abc", "cursor=1.2.3", "cursor=1", "cursor=1.2&cursor=1.2"})
        check_400(port, list + q, "cursor");
    for (const char* q : {"status=", "status=Open", "status=pending", "status=open&status=closed"})
        check_400(port, list + q, "status");
    check_400(port, list + "claimed_by=", "claimed_by");
    check_400(port, list + "claimed_by=" + std::string(129, 'x'), "claimed_by");
    check_400(port, list + "claimed_by=a%01b", "claimed_by");
}

TEST_CASE("a page of messages stops before 1 MiB (the issue's 500 x 5,000 U+0001)", "[integration][rest][paging]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    const std::string id = "Uheavy";
    // Each text escapes to 30,000 bytes: 500 of them made one 15 MB reply.
    // 25 events per POST keeps each webhook body under the 1 MiB body limit.
    store_via_webhook(port, std::vector<std::string>(500, id), std::string(5000, '\x01'), 25, "heavy-");
    const std::string path = "/api/v1/conversations/" + id + "/messages";

    SECTION("REST since_seq: capped pages, has_more, every message once") {
        std::vector<long> seen;
        long since = 0;
        int pages = 0;
        for (; pages < 100; ++pages) {
            HttpResponse r = http_get(port, path + "?since_seq=" + std::to_string(since) + "&limit=500", kAuth);
            REQUIRE(r.status == 200);
            INFO("page " << pages << ": " << r.body.size() << " bytes");
            CHECK(r.body.size() <= kOneMiB + kEnvelope);
            const Event e = json_body(r);
            const auto page = seqs(e, "/messages");
            REQUIRE_FALSE(page.empty());
            seen.insert(seen.end(), page.begin(), page.end());
            since = page.back();
            if (!e.get("/has_more")->GetBool()) break;
        }
        CHECK(pages >= 10);
        CHECK(seen == range(1, 500));
    }

    SECTION("REST latest and before_seq: the newest that fit, paging back gets every message once") {
        std::vector<long> seen;
        std::string query = "?limit=500";
        for (int pages = 0; pages < 100; ++pages) {
            HttpResponse r = http_get(port, path + query, kAuth);
            REQUIRE(r.status == 200);
            CHECK(r.body.size() <= kOneMiB + kEnvelope);
            const Event e = json_body(r);
            const auto page = seqs(e, "/messages");
            REQUIRE_FALSE(page.empty());
            if (pages == 0) CHECK(page.back() == 500);
            seen.insert(seen.begin(), page.begin(), page.end());
            if (!e.get("/has_more")->GetBool()) break;
            query = "?limit=500&before_seq=" + std::to_string(page.front());
        }
        CHECK(seen == range(1, 500));
        check_400(port, path + "?before_seq=0", "before_seq");
        check_400(port, path + "?before_seq=x", "before_seq");
        check_400(port, path + "?before_seq=5&since_seq=1", "before_seq");
    }

    SECTION("conversation_update with since_seq 0: capped, has_more, not recovered; rejoining pages on") {
        WsClient c("reader");
        c.login(port, "reader");
        std::vector<long> seen;
        long since = 0;
        for (int pages = 0; pages < 100; ++pages) {
            REQUIRE(c.send("join_room", R"({"room":"conversation:)" + id + R"(","since_seq":)" +
                                            std::to_string(since) + "}"));
            const Event u = c.expect("conversation_update");
            CHECK(u.raw().size() <= kOneMiB + kEnvelope);
            const auto page = seqs(u, "/payload/messages");
            REQUIRE_FALSE(page.empty());
            seen.insert(seen.end(), page.begin(), page.end());
            since = page.back();
            const bool more = u.get("/payload/has_more")->GetBool();
            CHECK(u.get("/payload/recovered")->GetBool() == !more);
            if (!more) break;
        }
        CHECK(seen == range(1, 500));
    }
}

}  // namespace livechat_itest_paging
