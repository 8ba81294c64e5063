// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the plain HTTP side of livechat-server (health, errors, the
// demo page, the WebSocket path check), spoken over a raw TCP socket.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <cctype>
#include <cstdio>
#include <string>

using namespace livechat_itest;

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

/// The body parsed as JSON (an Event is just a parsed JSON object).
Event json_body(const HttpResponse& r) { return Event::from_text(r.body); }

/// `{"error": {"code", "message"}}`.
void check_json_error(const HttpResponse& r) {
    INFO(r);
    const Event body = json_body(r);
    CHECK(body.valid());
    CHECK(body.is_string("/error/code"));
    CHECK(body.is_string("/error/message"));
    CHECK(lower(r.header("Content-Type")).find("application/json") != std::string::npos);
}

}  // namespace

TEST_CASE("HTTP endpoints", "[integration][http]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    SECTION("GET /healthz") {
        HttpResponse r = http_get(port, "/healthz");
        INFO(r);
        CHECK(r.error.empty());
        CHECK(r.status == 200);
        const Event body = json_body(r);
        CHECK(body.valid());
        CHECK(body.str("/status") == "ok");
        CHECK(lower(r.header("Content-Type")).find("application/json") != std::string::npos);
    }

    SECTION("GET an unknown path is a JSON 404") {
        HttpResponse r = http_get(port, "/nope");
        INFO(r);
        CHECK(r.status == 404);
        check_json_error(r);
    }

    SECTION("GET / serves the demo console") {
        HttpResponse r = http_get(port, "/");
        INFO(r);
        CHECK(r.status == 200);
        CHECK(lower(r.header("Content-Type")).find("text/html") != std::string::npos);
        CHECK(lower(r.body).find("<html") != std::string::npos);
    }

    SECTION("a WebSocket upgrade on another path is refused with 404") {
        WsClient c("wrong path");
        ConnectResult res = c.connect(port, "/other");
        INFO(res);
        CHECK_FALSE(res.ok);
        CHECK(res.http_status == 404);
    }

    SECTION("the WebSocket path accepts the upgrade") {
        WsClient c("right path");
        ConnectResult res = c.connect(port);
        INFO(res);
        CHECK(res.ok);
        CHECK(res.http_status == 101);
    }

    SECTION("a chunked request body is refused with 411") {
        const std::string body = R"({"destination":"x","events":[]})";
        char size_hex[16];
        std::snprintf(size_hex, sizeof size_hex, "%zx", body.size());
        HttpResponse r = http_raw(port, "POST /api/v1/webhook HTTP/1.1\r\n"
                                        "Host: 127.0.0.1\r\n"
                                        "Content-Type: application/json\r\n"
                                        "Transfer-Encoding: chunked\r\n"
                                        "Connection: close\r\n\r\n" +
                                            std::string(size_hex) + "\r\n" + body + "\r\n0\r\n\r\n");
        INFO(r);
        CHECK(r.status == 411);
        check_json_error(r);
    }

    SECTION("a body over 1 MiB is refused with 413") {
        const std::string body(1024 * 1024 + 1, ' ');
        HttpResponse r = http_raw(port, "POST /api/v1/webhook HTTP/1.1\r\n"
                                        "Host: 127.0.0.1\r\n"
                                        "Content-Type: application/json\r\n"
                                        "Content-Length: " +
                                            std::to_string(body.size()) +
                                            "\r\n"
                                            "Connection: close\r\n\r\n" +
                                            body);
        INFO(r);
        CHECK(r.status == 413);
        check_json_error(r);
    }

    // Whatever happened above, the server is still healthy.
    CHECK(http_get(port, "/healthz").status == 200);
}
