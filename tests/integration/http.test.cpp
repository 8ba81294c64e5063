// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: the plain HTTP side of livechat-server (health, errors, the
// demo page, the WebSocket path check), spoken over a raw TCP socket.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_http {

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

// ---------------------------------------------------------------------------
// Content-Length, dotfiles and security headers (PROTOCOL.md "HTTP")
// ---------------------------------------------------------------------------

namespace {

/// GET /healthz with a body and the given Content-Length header lines: a
/// route that would answer 200 if the length were accepted.
HttpResponse healthz_with_length(std::uint16_t port, const std::string& length_lines, const std::string& body) {
    return http_raw(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + length_lines +
                              "\r\n" + body);
}

/// A web root with dotfiles, a subdirectory and symlinks, removed at the end.
struct temp_web_root {
    std::filesystem::path dir;
    std::filesystem::path outside;

    explicit temp_web_root(const std::string& name = "webroot") {
        const auto base = std::filesystem::temp_directory_path();
        const std::string tag = std::to_string(::getpid());
        dir = base / ("livechat-" + name + "-itest-" + tag);
        outside = base / ("livechat-" + name + "-outside-" + tag + ".txt");
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir / ".git");
        std::filesystem::create_directories(dir / "sub");
        write(dir / "index.html", "<html><body>console</body></html>");
        write(dir / "ok.txt", "visible");
        write(dir / "sub" / "ok.txt", "visible too");
        write(dir / ".env", "SECRET=dotenv");
        write(dir / ".git" / "config", "[core] secret");
        write(dir / "sub" / ".hidden", "hidden");
        write(outside, "outside the root");
        std::filesystem::create_symlink(dir / ".env", dir / "env-link.txt");  // inside, to a dotfile
        std::filesystem::create_symlink(outside, dir / "escape.txt");       // out of the root
    }
    ~temp_web_root() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        std::filesystem::remove(outside, ec);
        std::filesystem::remove(outside.string() + ".js", ec);
    }
    static void write(const std::filesystem::path& p, const std::string& text) {
        std::ofstream(p, std::ios::binary) << text;
    }
};

}  // namespace

TEST_CASE("HTTP: a Content-Length that is not one plain decimal number is 400", "[integration][http]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    // What websocketpp lets through: strtoul reads "5, 5" (the header sent
    // twice), "5 garbage" and "+5" as 5, an empty value as no body, and
    // "-1" as a size beyond the body limit.
    struct bad_case {
        const char* name;
        std::string lines;
        std::string body;
    };
    const std::vector<bad_case> cases = {
        {"twice", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"},
        {"two values", "Content-Length: 5, 5\r\n", "hello"},
        {"trailing text", "Content-Length: 5 garbage\r\n", "hello"},
        {"plus sign", "Content-Length: +5\r\n", "hello"},
        {"minus sign", "Content-Length: -1\r\n", ""},
        {"minus zero", "Content-Length: -0\r\n", ""},
        {"empty", "Content-Length:\r\n", ""},
        {"blank", "Content-Length:   \r\n", ""},
        {"hex", "Content-Length: 0x5\r\n", "hello"},
        {"decimal point", "Content-Length: 5.0\r\n", "hello"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        const HttpResponse r = healthz_with_length(port, c.lines, c.body);
        INFO(r);
        CHECK(r.status == 400);
        check_json_error(r);
        CHECK(r.header("X-Content-Type-Options") == "nosniff");
    }
    // Plain numbers still work, surrounding blanks included (HTTP allows them).
    CHECK(healthz_with_length(port, "Content-Length: 5\r\n", "hello").status == 200);
    CHECK(healthz_with_length(port, "Content-Length: 0\r\n", "").status == 200);
    CHECK(healthz_with_length(port, "Content-Length:  5 \r\n", "hello").status == 200);
    CHECK(http_get(port, "/healthz").status == 200);
}

TEST_CASE("HTTP: names starting with a dot are never served", "[integration][http]") {
    temp_web_root root;
    ServerProcess server({"--web-root", root.dir.string()});
    const std::uint16_t port = server.port();

    for (const char* path : {"/ok.txt", "/sub/ok.txt", "/", "/sub/%6fk.txt"}) {
        INFO(path);
        const HttpResponse r = http_get(port, path);
        INFO(r);
        CHECK(r.status == 200);
    }
    for (const char* path :
         {"/.env", "/%2eenv", "/%2Eenv", "/.git/config", "/%2egit/config", "/.git/", "/sub/.hidden",
          "/sub/%2ehidden", "/a/.git/config", "/sub/../.env", "/./ok.txt", "/env-link.txt",
          // The path-traversal and symlink protections that were there before.
          "/../ok.txt", "/%2e%2e/ok.txt", "/%2E%2E%2Fok.txt", "/sub/../../ok.txt", "/..%2fok.txt",
          "/escape.txt", "/..%5cok.txt", "/ok.txt%00.html"}) {
        INFO(path);
        const HttpResponse r = http_get(port, path);
        INFO(r);
        CHECK(r.status == 404);
        CHECK(r.body.find("SECRET") == std::string::npos);
        CHECK(r.body.find("secret") == std::string::npos);
        CHECK(r.body.find("outside the root") == std::string::npos);
    }
}

TEST_CASE("HTTP: /livechat/ serves the client folder's top-level .js files only", "[integration][http]") {
    temp_web_root web;  // its livechat/ folder must never be served: the client root wins
    std::filesystem::create_directories(web.dir / "livechat");
    temp_web_root::write(web.dir / "livechat" / "shadow.js", "from the web root");
    temp_web_root client("clientroot");  // a client folder with dotfiles, a subfolder and symlinks out
    temp_web_root::write(client.dir / "client.js", "export const x = 1;");
    temp_web_root::write(client.dir / "sub" / "inner.js", "inner");
    temp_web_root::write(client.dir / ".hidden.js", "SECRET hidden");
    temp_web_root::write(client.outside.string() + ".js", "outside the root");
    std::filesystem::create_symlink(client.dir / "sub" / "inner.js", client.dir / "down.js");
    std::filesystem::create_symlink(client.outside.string() + ".js", client.dir / "out.js");
    std::filesystem::create_symlink(client.dir / ".hidden.js", client.dir / "hidden-link.js");
    ServerProcess server({"--web-root", web.dir.string(), "--client-root", client.dir.string()});
    const std::uint16_t port = server.port();

    const HttpResponse page = http_get(port, "/ok.txt");
    REQUIRE(page.status == 200);
    for (const char* path : {"/livechat/client.js", "/livechat/%63lient.js", "/livechat//client.js"}) {
        INFO(path);
        const HttpResponse r = http_get(port, path);
        INFO(r);
        CHECK(r.status == 200);
        CHECK(r.body == "export const x = 1;");
        CHECK(r.header("Content-Type") == "text/javascript; charset=utf-8");
        for (const char* h : {"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
                              "Referrer-Policy", "Cache-Control"})
            CHECK(r.header(h) == page.header(h));
    }
    for (const char* path :
         {"/livechat/", "/livechat/index.html", "/livechat/ok.txt", "/livechat/sub/inner.js", "/livechat/sub%2finner.js",
          "/livechat/down.js", "/livechat/out.js", "/livechat/hidden-link.js", "/livechat/.hidden.js",
          "/livechat/%2ehidden.js", "/livechat/../ok.txt", "/livechat/%2e%2e/ok.txt", "/livechat/..%2fok.txt",
          "/livechat/shadow.js", "/livechat/client.js%00.js", "/livechat/.git/config"}) {
        INFO(path);
        const HttpResponse r = http_get(port, path);
        INFO(r);
        CHECK(r.status == 404);
        CHECK(r.body.find("SECRET") == std::string::npos);
        CHECK(r.body.find("outside the root") == std::string::npos);
        CHECK(r.body.find("inner") == std::string::npos);
        CHECK(r.body.find("from the web root") == std::string::npos);
    }
    // A POST is refused as for the console's files.
    CHECK(http_post(port, "/livechat/client.js", "{}").status == 405);
}

TEST_CASE("HTTP: security headers on every response", "[integration][http]") {
    ServerProcess server;
    const std::uint16_t port = server.port();
    const std::string auth = "Authorization: Bearer op\r\n";

    auto check_api = [](const HttpResponse& r) {
        INFO(r);
        CHECK(r.status != 0);
        // Exactly once: a value repeated ("nosniff, nosniff") is not "nosniff".
        CHECK(r.header("X-Content-Type-Options") == "nosniff");
        CHECK(r.header("Cache-Control") == "no-store");
    };
    SECTION("API answers, routed errors and websocketpp's own errors") {
        for (const char* path : {"/healthz", "/metrics", "/nope", "/api/v1/conversations"}) {
            INFO(path);
            check_api(http_get(port, path));
        }
        check_api(http_get(port, "/api/v1/conversations", auth));
        check_api(http_get(port, "/api/v1/conversations/U1/messages", auth));
        check_api(http_post(port, "/api/v1/conversations/U1/messages", R"({"text":"hi"})", auth));
        check_api(http_post(port, "/api/v1/webhook", R"({"events":[]})"));
        check_api(http_post(port, "/api/v1/webhook", "not json"));
        check_api(http_post(port, "/healthz", "{}"));  // 405
        check_api(http_get(port, "/ws"));              // 426
        // Written by websocketpp before any handler: 413, 431, 400.
        const HttpResponse too_large = http_raw(
            port, "POST /api/v1/webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2000000\r\n\r\n");
        CHECK(too_large.status == 413);
        check_api(too_large);
        const HttpResponse big_headers = http_raw(
            port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
        CHECK(big_headers.status == 431);
        check_api(big_headers);
        const HttpResponse no_host = http_raw(port, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
        CHECK(no_host.status == 400);
        check_api(no_host);
        // A WebSocket handshake refused on a wrong path.
        const HttpResponse wrong_path =
            http_raw(port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        CHECK(wrong_path.status == 404);
        check_api(wrong_path);
    }
    SECTION("the console: CSP with frame-ancestors 'none', no referrer, revalidated") {
        const HttpResponse r = http_get(port, "/");
        INFO(r);
        REQUIRE(r.status == 200);
        CHECK(r.header("X-Content-Type-Options") == "nosniff");
        const std::string csp = r.header("Content-Security-Policy");
        CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
        CHECK(csp.find("default-src 'self'") != std::string::npos);
        CHECK(csp.find("unsafe-inline") == std::string::npos);
        // Images: this server and exactly LINE's profile and sticker CDN hosts.
        CHECK(csp.find("img-src 'self' data: https://profile.line-scdn.net "
                       "https://stickershop.line-scdn.net;") != std::string::npos);
        CHECK(csp.find('*') == std::string::npos);
        CHECK(r.header("Referrer-Policy") == "no-referrer");
        CHECK(r.header("X-Frame-Options") == "DENY");
        CHECK(r.header("Cache-Control") == "no-cache");
        // The console runs under that policy: no inline script or style.
        const std::string page = lower(r.body);
        CHECK(page.find("<script>") == std::string::npos);
        CHECK(page.find("<style") == std::string::npos);
        CHECK(page.find(" style=") == std::string::npos);
        CHECK(page.find(" onclick=") == std::string::npos);
        CHECK(page.find("<script src=") != std::string::npos);
        for (const char* asset : {"/app.js", "/style.css"}) {
            INFO(asset);
            const HttpResponse a = http_get(port, asset);
            CHECK(a.status == 200);
            CHECK(a.header("X-Content-Type-Options") == "nosniff");
        }
    }
}

}  // namespace livechat_itest_http
