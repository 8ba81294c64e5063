// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: GET /metrics in Prometheus text format, after known traffic
// over WebSocket, the webhook and REST.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_metrics {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

/// The samples of an exposition, by `name{labels}` exactly as written.
struct exposition {
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types;  ///< family → TYPE
    std::set<std::string> helps;               ///< families with HELP
    std::vector<std::string> bad_lines;

    bool has(const std::string& key) const { return samples.count(key) != 0; }
    double at(const std::string& key) const {
        auto it = samples.find(key);
        return it == samples.end() ? -1 : it->second;
    }
};

exposition parse(const std::string& text) {
    static const std::regex sample_re(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? ([-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN))$)");
    static const std::regex help_re(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
    static const std::regex type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    exposition out;
    std::istringstream in(text);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        if (std::regex_match(line, m, help_re)) {
            out.helps.insert(m[1]);
        } else if (std::regex_match(line, m, type_re)) {
            out.types[m[1]] = m[2];
        } else if (line[0] == '#') {
            continue;  // a plain comment
        } else if (std::regex_match(line, m, sample_re)) {
            const std::string key = line.substr(0, line.rfind(' '));
            out.samples[key] = std::strtod(m[m.size() - 1].str().c_str(), nullptr);
        } else {
            out.bad_lines.push_back(line);
        }
    }
    return out;
}

exposition scrape(std::uint16_t port) {
    HttpResponse r = http_get(port, "/metrics");
    INFO(r);
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type").find("text/plain") == 0);
    CHECK(r.header("Content-Type").find("version=0.0.4") != std::string::npos);
    exposition e = parse(r.body);
    INFO(r.body);
    CHECK(e.bad_lines.empty());
    return e;
}

const char* const kEventTypes[] = {"auth",         "join_room",     "leave_room",     "watch_inbox", "unwatch_inbox",
                                   "send_message", "typing_start",  "typing_stop",    "claim_session",
                                   "release_session", "close_session", "mark_read",   "ping"};
const char* const kErrorCodes[] = {"invalid_json",   "unknown_type",         "validation_error",
                                   "not_authenticated", "already_authenticated", "auth_failed",
                                   "not_in_room",    "forbidden",            "session_already_claimed",
                                   "limit_exceeded", "rate_limited",         "unsupported_frame",
                                   "internal"};

}  // namespace

TEST_CASE("metrics: counters and gauges after known traffic", "[integration][metrics]") {
    // Grouped commits, as on the persistent stores, so the commit histogram
    // sees them (the memory store's default is one untimed no-op per event).
    ServerProcess server({"--group-commit", "on"});
    const std::uint16_t port = server.port();
    const std::string room = "conversation:Umetrics";
    const std::string room_payload = "{\"room\":" + json_quote(room) + "}";

    {
        exposition e = scrape(port);
        CHECK(e.at("livechat_connections") == 0);
        CHECK(e.at("livechat_messages_stored_total") == 0);
        CHECK(e.at("livechat_store_commit_seconds_count") == 0);
    }

    WsClient alice("alice");
    alice.login(port, "alice");
    WsClient bob("bob");
    bob.login(port, "bob");
    REQUIRE(alice.send("join_room", room_payload));
    alice.expect("conversation_update");
    for (int i = 0; i < 2; ++i) {
        REQUIRE(alice.send("send_message", "{\"room\":" + json_quote(room) + ",\"text\":\"m" + std::to_string(i) + "\"}"));
        alice.expect("message_sent");
    }
    REQUIRE(alice.send("no_such_type"));
    CHECK(alice.expect("error").str("/payload/code") == "unknown_type");
    REQUIRE(bob.send("leave_room", room_payload));
    CHECK(bob.expect("error").str("/payload/code") == "not_in_room");
    REQUIRE(bob.send("ping"));
    bob.expect("pong");

    // One message through the webhook (no secret: unchecked), one through REST.
    const std::string event =
        R"({"type":"message","source":{"type":"user","userId":"Umetrics"},"webhookEventId":"01HMETRICS","timestamp":1,"message":{"id":"1","type":"text","text":"from LINE"}})";
    REQUIRE(http_post(port, "/api/v1/webhook", "{\"events\":[" + event + "]}").status == 200);
    REQUIRE(http_post(port, "/api/v1/webhook", "{\"events\":[" + event + "]}").status == 200);  // duplicate
    REQUIRE(http_post(port, "/api/v1/webhook", "nope").status == 400);
    REQUIRE(http_post(port, "/api/v1/conversations/Umetrics/messages", R"({"text":"from REST"})",
                      "Authorization: Bearer carol\r\n")
                .status == 201);
    alice.wait_for("new_message");
    alice.wait_for("new_message");
    REQUIRE(http_get(port, "/healthz").status == 200);

    exposition e = scrape(port);
    INFO(http_get(port, "/metrics").body);

    // Every family has HELP and TYPE.
    for (const char* family :
         {"livechat_connections", "livechat_users_online", "livechat_rooms", "livechat_messages_stored_total",
          "livechat_events_in_total", "livechat_frames_in_total", "livechat_frames_out_total", "livechat_errors_total",
          "livechat_http_requests_total", "livechat_store_commit_seconds"}) {
        INFO(family);
        CHECK(e.helps.count(family) == 1);
        CHECK(e.types.count(family) == 1);
    }
    CHECK(e.types["livechat_connections"] == "gauge");
    CHECK(e.types["livechat_users_online"] == "gauge");
    CHECK(e.types["livechat_rooms"] == "gauge");
    CHECK(e.types["livechat_messages_stored_total"] == "counter");
    CHECK(e.types["livechat_events_in_total"] == "counter");
    CHECK(e.types["livechat_errors_total"] == "counter");
    CHECK(e.types["livechat_store_commit_seconds"] == "histogram");

    CHECK(e.at("livechat_connections") == 2);
    CHECK(e.at("livechat_users_online") == 2);
    CHECK(e.at("livechat_rooms") == 1);
    CHECK(e.at("livechat_messages_stored_total") == 4);

    for (const char* type : kEventTypes) {
        INFO(type);
        CHECK(e.has(std::string("livechat_events_in_total{type=\"") + type + "\"}"));
    }
    CHECK(e.at(R"(livechat_events_in_total{type="auth"})") == 2);
    CHECK(e.at(R"(livechat_events_in_total{type="join_room"})") == 1);
    CHECK(e.at(R"(livechat_events_in_total{type="send_message"})") == 2);
    CHECK(e.at(R"(livechat_events_in_total{type="leave_room"})") == 1);
    CHECK(e.at(R"(livechat_events_in_total{type="ping"})") == 1);
    CHECK(e.at(R"(livechat_events_in_total{type="typing_start"})") == 0);

    for (const char* code : kErrorCodes) {
        INFO(code);
        CHECK(e.has(std::string("livechat_errors_total{code=\"") + code + "\"}"));
    }
    CHECK(e.at(R"(livechat_errors_total{code="unknown_type"})") == 1);
    CHECK(e.at(R"(livechat_errors_total{code="not_in_room"})") == 1);
    CHECK(e.at(R"(livechat_errors_total{code="forbidden"})") == 0);

    // Frames in: 2 auth, join, 2 send_message, the unknown type, leave, ping.
    CHECK(e.at("livechat_frames_in_total") == 8);
    // Out, at least: 2 × (auth_success + presence_update), conversation_update,
    // 2 message_sent, 2 errors, pong, 2 new_message.
    CHECK(e.at("livechat_frames_out_total") >= 12);

    CHECK(e.at(R"(livechat_http_requests_total{route="/api/v1/webhook",status="200"})") == 2);
    CHECK(e.at(R"(livechat_http_requests_total{route="/api/v1/webhook",status="400"})") == 1);
    CHECK(e.at(R"(livechat_http_requests_total{route="/api/v1/conversations/{id}/messages",status="201"})") == 1);
    CHECK(e.at(R"(livechat_http_requests_total{route="/healthz",status="200"})") == 1);
    CHECK(e.at(R"(livechat_http_requests_total{route="/metrics",status="200"})") >= 1);

    // The histogram: cumulative buckets ending in +Inf == count; one commit
    // at least per stored message (grouped ones may share one).
    const double count = e.at("livechat_store_commit_seconds_count");
    CHECK(count >= 3);
    CHECK(count <= 4);
    CHECK(e.at(R"(livechat_store_commit_seconds_bucket{le="+Inf"})") == count);
    CHECK(e.has("livechat_store_commit_seconds_sum"));
    int buckets = 0;
    for (const auto& sample : e.samples)
        if (sample.first.rfind("livechat_store_commit_seconds_bucket{", 0) == 0) ++buckets;
    CHECK(buckets >= 9);
    double previous = 0;
    for (const char* le : {"0.0005", "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"}) {
        INFO(le);
        const std::string key = std::string("livechat_store_commit_seconds_bucket{le=\"") + le + "\"}";
        REQUIRE(e.has(key));
        CHECK(e.at(key) >= previous);
        previous = e.at(key);
    }

    // Gauges follow closes.
    REQUIRE(bob.close());
    bool dropped = false;
    for (int i = 0; i < 50 && !dropped; ++i) {
        exposition now = scrape(port);
        dropped = now.at("livechat_connections") == 1 && now.at("livechat_users_online") == 1;
        if (!dropped) std::this_thread::sleep_for(50ms);
    }
    CHECK(dropped);
}

TEST_CASE("metrics: answers HEAD and refuses other methods", "[integration][metrics]") {
    ServerProcess server;
    HttpResponse head = http_raw(server.port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    HttpResponse post = http_post(server.port(), "/metrics", "{}");
    INFO(post);
    CHECK(post.status == 405);
    CHECK(Event::from_text(post.body).str("/error/code") == "method_not_allowed");
}


TEST_CASE("metrics: --group-commit auto leaves the memory store's sends ungrouped; bad values exit 2",
          "[integration][metrics]") {
    // The same traffic under a mode: two members of a room, three messages,
    // each acknowledged and delivered in order. The exposition after it.
    auto traffic = [](const std::string& mode) {
        ServerProcess server({"--group-commit", mode});
        const std::uint16_t port = server.port();
        const std::string room = "conversation:U" + mode;
        WsClient alice("alice");
        alice.login(port, "alice");
        WsClient bob("bob");
        bob.login(port, "bob");
        for (WsClient* c : {&alice, &bob}) {
            REQUIRE(c->send("join_room", "{\"room\":" + json_quote(room) + "}"));
            c->expect("conversation_update");
        }
        for (int i = 0; i < 3; ++i) {
            REQUIRE(alice.send("send_message", "{\"room\":" + json_quote(room) + ",\"text\":\"m" +
                                                   std::to_string(i) + "\"}"));
            CHECK(alice.wait_for("message_sent").json("/payload/message/seq") == std::to_string(i + 1));
            CHECK(bob.wait_for("new_message").json("/payload/message/seq") == std::to_string(i + 1));
        }
        return scrape(port);
    };
    SECTION("auto on the memory store: every message answered and stored, no commit to time") {
        exposition e = traffic("auto");
        CHECK(e.at("livechat_messages_stored_total") == 3);
        CHECK(e.at("livechat_store_commit_seconds_count") == 0);
    }
    SECTION("on groups them: the same traffic is committed and timed") {
        exposition e = traffic("on");
        CHECK(e.at("livechat_messages_stored_total") == 3);
        CHECK(e.at("livechat_store_commit_seconds_count") >= 1);
    }
    SECTION("anything else is refused at startup") {
        RunResult bad = run_server_binary({"--port", "0", "--store", "memory", "--group-commit", "sometimes"});
        INFO(bad.output);
        CHECK(bad.exit_code == 2);
        CHECK(bad.output.find("--group-commit must be 'auto', 'on' or 'off'") != std::string::npos);
    }
}

}  // namespace livechat_itest_metrics
