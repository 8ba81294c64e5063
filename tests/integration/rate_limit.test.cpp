// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the per-connection rate limit against the built server.
// A refused frame's `rate_limited` echoes its `ref` and `type` (so a client
// knows what to send again), and a `livechat-client` whose pace is set far
// above the server's limit still gets every message stored exactly once,
// without being closed for too many refusals.
#include "client_process.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_rate_limit {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

// Messages sent through the client. LIVECHAT_RATE_LIMIT_MESSAGES overrides
// it; the run time is set by the server's rate, not by CPU, so the
// sanitizer tree needs no smaller figure.
std::size_t message_count() {
    if (const char* v = std::getenv("LIVECHAT_RATE_LIMIT_MESSAGES")) {
        const long n = std::strtol(v, nullptr, 10);
        if (n > 0 && n <= 100000) return static_cast<std::size_t>(n);
    }
    return 300;
}

/// Every stored message text of `conversation_id`, oldest first, paging
/// the REST history with since_seq.
std::vector<std::string> stored_texts(std::uint16_t port, const std::string& conversation_id) {
    std::vector<std::string> out;
    std::string since = "0";
    for (int page = 0; page < 1000; ++page) {
        HttpResponse r = http_get(port, "/api/v1/conversations/" + conversation_id + "/messages?since_seq=" + since,
                                  "Authorization: Bearer reader\r\n");
        INFO(r);
        REQUIRE(r.status == 200);
        Event body = Event::from_text(r.body);
        std::size_t n = 0;
        for (; body.has("/messages/" + std::to_string(n)); ++n) {
            const std::string at = "/messages/" + std::to_string(n);
            out.push_back(body.str(at + "/text"));
            since = body.json(at + "/seq");
        }
        if (body.json("/has_more") != "true") break;
        REQUIRE(n > 0);
    }
    return out;
}

}  // namespace

TEST_CASE("rate_limited echoes the refused frame's ref and request_type", "[integration][rate]") {
    ServerProcess server({"--store", "memory", "--rate-burst", "2", "--rate-per-second", "1"});
    WsClient c("alice");
    c.login(server.port(), "alice");  // auth took one token
    REQUIRE(c.send("ping", "", "p1"));
    c.expect("pong");
    REQUIRE(c.send("send_message", R"({"room":"conversation:Urate","text":"hi"})", "m1"));
    Event e = c.expect("error");
    INFO(e);
    CHECK(e.str("/payload/code") == "rate_limited");
    CHECK(e.str("/ref") == "m1");
    CHECK(e.str("/payload/request_type") == "send_message");
    // Only the envelope is read: a 60 KB type comes back cut to 64 characters.
    REQUIRE(c.send_text(R"({"ref":"t","type":")" + std::string(60000, 'x') + R"("})"));
    e = c.expect("error");
    CHECK(e.str("/payload/code") == "rate_limited");
    CHECK(e.str("/ref") == "t");
    CHECK(e.str("/payload/request_type") == std::string(64, 'x'));
    // Without a valid ref: neither.
    REQUIRE(c.send_text(R"({"type":"ping","ref":7})"));
    e = c.expect("error");
    CHECK(e.str("/payload/code") == "rate_limited");
    CHECK_FALSE(e.has("/ref"));
    CHECK_FALSE(e.has("/payload/request_type"));
}

TEST_CASE("livechat-client paced above the server's limit stores every message exactly once",
          "[integration][rate][client]") {
    // The server refills 100 tokens/s into a bucket of 20; the client is told
    // it may send 400/s after a burst of 60, so its first burst alone is
    // refused 40 times. It must slow down and resend each refused message,
    // staying under the 100 refusals per 10 s that close a connection.
    ServerProcess server({"--store", "memory", "--rate-burst", "20", "--rate-per-second", "100"});
    const std::string conversation = "Urate-client";
    const std::size_t n = message_count();
    ClientProcess chat({"--url", ws_url(server.port()), "--token", "alice", "--rate", "400", "--burst", "60",
                        "--timeout", "60", "chat", "conversation:" + conversation});
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < n; ++i) {
        texts.push_back("message " + std::to_string(i));
        REQUIRE(chat.write_line(texts.back()));
    }
    chat.close_stdin();
    const auto started = std::chrono::steady_clock::now();
    const auto code = chat.wait_exit(90000ms);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    chat.wait_eof(2000ms);
    const std::string err = chat.stderr_text();
    INFO("chat stderr (first 3000 bytes):\n" << err.substr(0, 3000));
    REQUIRE(code == std::optional<int>(0));

    std::size_t acks = 0, dropped = 0;
    for (const auto& l : chat.lines()) {
        acks += l.rfind("ack ", 0) == 0;
        dropped += l.rfind("dropped ", 0) == 0;
    }
    CHECK(acks == n);
    CHECK(dropped == 0);
    // The path under test was taken: the server refused frames...
    CHECK(err.find("(rate_limited)") != std::string::npos);
    // ...and the client slowed down instead of being closed for them (1008).
    CHECK(err.find("1008") == std::string::npos);

    std::map<std::string, int> count;
    for (const auto& t : stored_texts(server.port(), conversation)) ++count[t];
    CHECK(count.size() == n);
    for (const auto& t : texts) {
        INFO(t);
        CHECK(count[t] == 1);
    }
    std::size_t refusals = 0;
    for (std::size_t at = err.find("(rate_limited)"); at != std::string::npos; at = err.find("(rate_limited)", at + 1))
        ++refusals;
    WARN(n << " messages stored once in " << took.count() << " ms; " << refusals << " frames refused");
}

}  // namespace livechat_itest_rate_limit
