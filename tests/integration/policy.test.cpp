// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the server's connection policy at the WebSocket handshake
// (Origin allow-list, per-address and per-user caps), the per-user cap at
// `auth`, and the flags that set every hub limit.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_policy {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

/// A WebSocket upgrade request for the live-chat path with `extra_headers`
/// (each line ending in "\r\n"), sent raw so the test controls Origin and
/// Authorization. A refusal has a Content-Length body and returns at once;
/// an accepted upgrade (101) has none, so it returns after `timeout` and
/// the connection is dropped.
HttpResponse handshake(std::uint16_t port, const std::string& extra_headers = "", Millis timeout = 700ms) {
    return http_raw(port,
                    "GET " + std::string(kWsPath) + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                        extra_headers + "\r\n",
                    timeout);
}

/// Checks PROTOCOL.md's HTTP error shape: JSON {"error": {"code", "message"}}.
void check_error_body(const HttpResponse& r, const std::string& code) {
    INFO(r);
    CHECK(r.header("Content-Type").find("application/json") != std::string::npos);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    REQUIRE_FALSE(d.HasParseError());
    REQUIRE(d.IsObject());
    REQUIRE(d.HasMember("error"));
    REQUIRE(d["error"].IsObject());
    REQUIRE(d["error"].HasMember("code"));
    CHECK(std::string(d["error"]["code"].GetString()) == code);
    REQUIRE(d["error"].HasMember("message"));
    CHECK(d["error"]["message"].GetStringLength() > 0);
}

/// The value of one sample of GET /metrics (`name{labels}` as written), -1 if absent.
double metric(std::uint16_t port, const std::string& key) {
    HttpResponse r = http_get(port, "/metrics");
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + " ", 0) == 0) return std::stod(line.substr(key.size() + 1));
    return -1;
}

std::string refused(const std::string& reason) {
    return "livechat_handshakes_refused_total{reason=\"" + reason + "\"}";
}

}  // namespace

TEST_CASE("Allowed origins (--allowed-origin): exact matches only, no Origin is accepted by default", "[integration][policy]") {
    ServerProcess server({"--allowed-origin", "https://console.example.com", "--allowed-origin=http://localhost:8080"});
    const std::uint16_t port = server.port();

    CHECK(handshake(port, "Origin: https://console.example.com\r\n").status == 101);
    CHECK(handshake(port, "Origin: http://localhost:8080\r\n").status == 101);
    CHECK(handshake(port).status == 101);  // no Origin: a non-browser client

    for (const char* origin : {"https://evil.example.com", "https://console.example.com/", "HTTPS://console.example.com",
                               "https://console.example.com:443", "http://console.example.com", "null"}) {
        INFO("Origin: " << origin);
        HttpResponse r = handshake(port, std::string("Origin: ") + origin + "\r\n");
        CHECK(r.status == 403);
        check_error_body(r, "forbidden");
    }
    CHECK(metric(port, refused("origin")) == 6);
    for (const char* other : {"ip_cap", "user_cap", "shutting_down"}) CHECK(metric(port, refused(other)) == 0);
    CHECK(metric(port, "livechat_events_skipped_backpressure_total") == 0);

    // A refused handshake leaves the server as it was.
    WsClient c("no origin");
    c.login(port, "alice");
}

TEST_CASE("Missing Origin (--reject-missing-origin): refuses a handshake without Origin", "[integration][policy]") {
    SECTION("any Origin otherwise") {
        ServerProcess server({"--reject-missing-origin"});
        HttpResponse r = handshake(server.port());
        CHECK(r.status == 403);
        check_error_body(r, "forbidden");
        CHECK(handshake(server.port(), "Origin: https://anything.example\r\n").status == 101);
        WsClient c;  // the test client sends no Origin
        ConnectResult cr = c.connect(server.port());
        CHECK_FALSE(cr.ok);
        CHECK(cr.http_status == 403);
        CHECK(metric(server.port(), refused("origin")) == 2);
    }
    SECTION("with an allow-list") {
        ServerProcess server({"--reject-missing-origin", "--allowed-origin", "https://console.example.com"});
        CHECK(handshake(server.port()).status == 403);
        CHECK(handshake(server.port(), "Origin: https://other.example\r\n").status == 403);
        CHECK(handshake(server.port(), "Origin: https://console.example.com\r\n").status == 101);
    }
}

TEST_CASE("the 21st connection of one user is refused", "[integration][policy]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    WsClient watcher("watcher");
    watcher.login(port, "watcher");
    REQUIRE(watcher.send("watch_inbox"));
    watcher.expect("inbox_update");

    std::vector<std::unique_ptr<WsClient>> tabs;
    for (int i = 0; i < 20; ++i) {
        tabs.push_back(std::make_unique<WsClient>("alice tab " + std::to_string(i)));
        tabs.back()->login(port, "alice");
    }
    watcher.wait_for("presence_diff", [](const Event& e) {
        return e.str("/payload/online/0/user_id") == "alice" && e.json("/payload/online/0/connections") == "20";
    });

    SECTION("at auth (browsers): error limit_exceeded, then close 1008") {
        WsClient extra("alice 21");
        REQUIRE(extra.connect(port));
        REQUIRE(extra.send("auth", R"({"token":"alice"})", "a21"));
        Event e = extra.expect("error");
        CHECK(e.str("/payload/code") == "limit_exceeded");
        CHECK(e.str("/payload/request_type") == "auth");
        CHECK(e.str("/ref") == "a21");
        CHECK(e.str("/payload/message").find("20") != std::string::npos);
        CHECK(extra.closed_with() == 1008);
        // Nothing changed for the others.
        CHECK(types_of(watcher.sync()).empty());
        WsClient bob("bob");
        bob.login(port, "bob");
    }
    SECTION("at the handshake when it carries Authorization: Bearer: 429") {
        HttpResponse r = handshake(port, "Authorization: Bearer alice\r\n");
        CHECK(r.status == 429);
        check_error_body(r, "limit_exceeded");
        CHECK(handshake(port, "Authorization: Bearer bob\r\n").status == 101);
        CHECK(handshake(port, "Authorization: Basic YWxpY2U6eA==\r\n").status == 101);  // not a bearer token
        CHECK(metric(port, refused("user_cap")) == 1);
    }

    // When one tab closes, the next one gets in.
    REQUIRE(tabs.front()->close());
    watcher.wait_for("presence_diff", [](const Event& e) {
        return e.str("/payload/online/0/user_id") == "alice" && e.json("/payload/online/0/connections") == "19";
    });
    CHECK(handshake(port, "Authorization: Bearer alice\r\n").status == 101);
    WsClient again("alice again");
    again.login(port, "alice");
}

TEST_CASE("Per-IP cap (--max-connections-per-ip): the 6th of 5 is refused with 429 until one closes", "[integration][policy]") {
    ServerProcess server({"--max-connections-per-ip", "5"});
    const std::uint16_t port = server.port();
    std::vector<std::unique_ptr<WsClient>> held;
    for (int i = 0; i < 5; ++i) {
        held.push_back(std::make_unique<WsClient>("held " + std::to_string(i)));
        REQUIRE(held.back()->connect(port));
    }
    HttpResponse r = handshake(port);
    CHECK(r.status == 429);
    check_error_body(r, "limit_exceeded");
    WsClient sixth("sixth");
    ConnectResult cr = sixth.connect(port);
    CHECK_FALSE(cr.ok);
    CHECK(cr.http_status == 429);
    // PROTOCOL.md Limits: every TCP connection counts, plain HTTP too.
    CHECK(http_get(port, "/healthz").status == 429);

    REQUIRE(held.front()->close());
    held.erase(held.begin());
    // The server frees the slot when it sees the close; allow it a moment.
    bool accepted = false;
    for (int attempt = 0; attempt < 40 && !accepted; ++attempt) {
        auto c = std::make_unique<WsClient>("replacement");
        if (c->connect(port)) {
            held.push_back(std::move(c));
            accepted = true;
        } else {
            std::this_thread::sleep_for(50ms);
        }
    }
    REQUIRE(accepted);
    REQUIRE(held.back()->send("auth", R"({"token":"carol"})"));
    held.back()->expect("auth_success");
    held.front()->close();
    held.erase(held.begin());
    double refusals = -1;
    for (int attempt = 0; attempt < 40 && refusals < 0; ++attempt) {
        refusals = metric(port, refused("ip_cap"));
        if (refusals < 0) std::this_thread::sleep_for(50ms);
    }
    CHECK(refusals == 2);
}

TEST_CASE("every hub limit has a flag that reaches the hub", "[integration][policy]") {
    SECTION("--max-rooms-per-connection") {
        ServerProcess server({"--max-rooms-per-connection", "2"});
        WsClient c;
        c.login(server.port(), "alice");
        for (const char* room : {"conversation:r1", "conversation:r2"}) {
            REQUIRE(c.send("join_room", std::string(R"({"room":")") + room + "\"}"));
            c.expect("conversation_update");
        }
        REQUIRE(c.send("join_room", R"({"room":"conversation:r3"})"));
        Event e = c.expect("error");
        CHECK(e.str("/payload/code") == "limit_exceeded");
    }
    SECTION("--rate-burst and --rate-per-second") {
        ServerProcess server({"--rate-burst", "5", "--rate-per-second", "1"});
        WsClient c;
        REQUIRE(c.connect(server.port()));
        for (int i = 0; i < 6; ++i) REQUIRE(c.send("ping", "", "p" + std::to_string(i)));
        for (int i = 0; i < 5; ++i) c.expect("pong");
        Event e = c.expect("error");
        CHECK(e.str("/payload/code") == "rate_limited");
    }
    SECTION("--auth-timeout-ms") {
        ServerProcess server({"--auth-timeout-ms", "300"});
        WsClient c;
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(c.connect(server.port()));
        CHECK(c.closed_with(3000ms) == 4001);
        CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
    }
    SECTION("--idle-timeout-ms, and the announced heartbeat follows it") {
        ServerProcess server({"--idle-timeout-ms", "1000"});
        WsClient c;
        Event ok = c.login(server.port(), "alice");
        CHECK(ok.json("/payload/heartbeat_interval_ms") == "500");
        CHECK(c.closed_with(3000ms) == 1001);
    }
    SECTION("defaults are announced unchanged") {
        ServerProcess server;
        WsClient c;
        CHECK(c.login(server.port(), "alice").json("/payload/heartbeat_interval_ms") == "25000");
    }
}

TEST_CASE("policy and limit flags are listed and validated", "[integration][policy][flags]") {
    SECTION("--help lists them") {
        RunResult r = run_server_binary({"--help"});
        INFO(r.output);
        CHECK(r.exit_code == 0);
        for (const char* flag : {"--allowed-origin", "--reject-missing-origin", "--max-connections-per-user",
                                 "--max-connections-per-ip", "--rate-burst", "--rate-per-second",
                                 "--max-unsent-bytes", "--soft-unsent-bytes", "--auth-timeout-ms",
                                 "--idle-timeout-ms", "--max-rooms-per-connection"}) {
            INFO(flag);
            CHECK(r.output.find(flag) != std::string::npos);
        }
    }
    SECTION("a bad value exits 2 and names the flag") {
        const std::vector<std::vector<std::string>> bad = {
            {"--max-connections-per-user", "-1"},
            {"--max-connections-per-user", "twenty"},
            {"--max-connections-per-ip", "1e3"},
            {"--max-connections-per-ip"},
            {"--rate-burst", "0"},
            {"--rate-per-second", "0"},
            {"--rate-per-second", "2.5"},
            {"--max-unsent-bytes", "100"},
            {"--max-unsent-bytes", "99999999999999999999999"},
            {"--soft-unsent-bytes", "2000000"},  // above the default max
            {"--max-unsent-bytes", "65536", "--soft-unsent-bytes", "65536"},
            {"--auth-timeout-ms", "0"},
            {"--idle-timeout-ms", "10"},
            {"--max-rooms-per-connection", "0"},
            {"--allowed-origin", "console.example.com"},
            {"--allowed-origin", "https://console.example.com/"},
            {"--allowed-origin", "https://Console.example.com"},
            {"--allowed-origin", ""},
            {"--reject-missing-origin=yes"},
        };
        for (const auto& args : bad) {
            std::string flag = args.front().substr(0, args.front().find('='));
            if (args.size() > 2) flag = args[2];
            RunResult r = run_server_binary(args);
            INFO(args.front() << " " << (args.size() > 1 ? args[1] : "") << " -> " << r.output);
            CHECK_FALSE(r.timed_out);
            CHECK(r.exit_code == 2);
            CHECK(r.output.find(flag) != std::string::npos);
        }
    }
    SECTION("0 turns a cap off, and soft 0 is allowed") {
        RunResult r = run_server_binary({"--max-connections-per-user", "0", "--max-connections-per-ip", "0",
                                         "--soft-unsent-bytes", "0", "--port", "70000"});
        // Every flag above was accepted: the only complaint is the port.
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK(r.output.find("--port") != std::string::npos);
        CHECK(r.output.find("--max-connections") == std::string::npos);
        CHECK(r.output.find("--soft-unsent-bytes") == std::string::npos);
    }
}

}  // namespace livechat_itest_policy
