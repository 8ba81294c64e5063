// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Transport limits against the built server: only WebSocket version 13,
// a server out of file descriptors pauses accepting (no spin, no log
// flood), and the per-address cap counts plain TCP and HTTP connections.

#include <catch2/catch.hpp>

#include "proc_stats.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <fstream>
#include <sstream>
#include <thread>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_transport_limits {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

/// A blocking loopback TCP connection (bounded by SO_RCVTIMEO/SO_SNDTIMEO).
int tcp_connect(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Sends `request` and reads until the server closes or 3 s pass.
std::string raw_exchange(std::uint16_t port, const std::string& request) {
    const int fd = tcp_connect(port);
    if (fd < 0) return "";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string got;
    char buf[4096];
    for (int i = 0; i < 1000; ++i) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return got;
}

std::string upgrade_request(std::uint16_t port, const std::string& version_headers) {
    return "GET /api/v1/ws/live-chat HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + version_headers + "\r\n";
}

void check_426(const std::string& raw) {
    INFO(raw.substr(0, 600));
    HttpResponse r;
    detail::parse_http_response(raw, r);
    CHECK(r.status == 426);
    CHECK(r.header("Sec-WebSocket-Version") == "13");
    CHECK(r.header("Content-Type").find("application/json") != std::string::npos);
    CHECK(Event::from_text(r.body).str("/error/code") == "upgrade_required");
    CHECK(raw.find("HTTP/1.1 101") == std::string::npos);
}

/// utime + stime of `pid` in clock ticks.
long cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close_paren = s.rfind(')');
    if (close_paren == std::string::npos) return -1;
    std::istringstream fields(s.substr(close_paren + 2));
    std::string f;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) utime = std::stol(f);
        if (i == 15) stime = std::stol(f);
    }
    return utime + stime;
}

std::size_t line_count(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("Only Sec-WebSocket-Version 13: hixie-76, 7, 8 and none get 426", "[integration][transport][version]") {
    ServerProcess server;
    const auto port = server.port();
    SECTION("hixie-76 (Key1/Key2, 8 key bytes, then an endless 0x00 frame) never gets 101") {
        std::string req = upgrade_request(port, "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
                                                "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
                                                "Origin: http://example.com\r\n");
        req += "^n:ds[4U";                      // key3
        req += std::string(1, '\0') + std::string(64 * 1024, 'a');  // a hixie frame with no 0xFF end
        check_426(raw_exchange(port, req));
    }
    SECTION("hixie-76 without the 8 key bytes (used to answer 500)") {
        check_426(raw_exchange(port, upgrade_request(port, "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
                                                       "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n")));
    }
    SECTION("no version at all") { check_426(raw_exchange(port, upgrade_request(port, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"))); }
    for (const char* v : {"7", "8", "12", "14"}) {
        DYNAMIC_SECTION("version " << v) {
            check_426(raw_exchange(port, upgrade_request(port, std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                                       "Sec-WebSocket-Version: ") +
                                                               v + "\r\n")));
        }
    }
    SECTION("version 13 still upgrades") {
        raw_ws ws;
        CHECK(ws.connect(port));
    }
}

TEST_CASE("Out of file descriptors, the server pauses accepting instead of spinning", "[integration][transport][fds]") {
    // The sanitizer runtimes need descriptors of their own: UBSan's vptr
    // check opens a pipe to probe memory, fails with EMFILE, and reports
    // every polymorphic call as an invalid object. Out of descriptors, a
    // sanitized server tests its runtime, not itself; the optimized tree
    // runs this case.
    if (kAddressSanitizer) {
        WARN("skipped in the sanitizer tree: its runtime cannot work without file descriptors");
        return;
    }
    raise_fd_limit();
    std::unique_ptr<ServerProcess> server;
    {
        // The child inherits the lower limit; this process gets its own back.
        rlimit old{};
        ::getrlimit(RLIMIT_NOFILE, &old);
        rlimit low = old;
        low.rlim_cur = 128;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        try {
            server = std::make_unique<ServerProcess>(std::vector<std::string>{"--max-connections-per-ip", "0"},
                                                     Millis(10000), /*capture_stderr=*/true);
        } catch (...) {
            ::setrlimit(RLIMIT_NOFILE, &old);
            throw;
        }
        ::setrlimit(RLIMIT_NOFILE, &old);
    }
    const auto port = server->port();
    std::vector<int> idle;
    for (int i = 0; i < 200; ++i) {
        const int fd = tcp_connect(port);  // completes in the kernel's backlog even when not accepted
        if (fd >= 0) idle.push_back(fd);
    }
    std::this_thread::sleep_for(300ms);  // let the server hit the limit
    const std::size_t lines_before = line_count(server->output());
    const long ticks_before = cpu_ticks(server->pid());
    std::this_thread::sleep_for(2s);
    const long ticks = cpu_ticks(server->pid()) - ticks_before;
    const std::size_t lines = line_count(server->output()) - lines_before;
    const long hz = ::sysconf(_SC_CLK_TCK);
    INFO("server CPU over 2 s: " << ticks << " ticks (" << hz << "/s), log lines: " << lines << "\n"
                                 << tail(server->output(), 1500));
    CHECK(idle.size() >= 150);
    CHECK(ticks < hz / 2);  // a spinning server burns ~2 s of CPU in 2 s
    CHECK(lines < 20);
    for (int fd : idle) ::close(fd);
    // Descriptors come back (each idle connection ends at the handshake
    // timeout, or at once for those never accepted); then it serves again.
    bool served = false;
    for (int i = 0; i < 100 && !served; ++i) {
        raw_ws ws;
        served = ws.connect(port, 1s);
        if (!served) std::this_thread::sleep_for(100ms);
    }
    CHECK(served);
    CHECK(server->stop() == 0);
}

TEST_CASE("The per-address cap counts plain TCP and HTTP connections", "[integration][transport][ipcap]") {
    ServerProcess server({"--max-connections-per-ip", "3"});
    const auto port = server.port();
    const int fds_at_start = open_fd_count(server.pid());
    std::vector<int> idle;
    for (int i = 0; i < 3; ++i) idle.push_back(tcp_connect(port));
    std::this_thread::sleep_for(100ms);
    // A fourth connection, plain HTTP, is over the cap.
    HttpResponse r = http_get(port, "/healthz");
    INFO(r);
    CHECK(r.status == 429);
    CHECK(Event::from_text(r.body).str("/error/code") == "limit_exceeded");
    {
        raw_ws ws;
        CHECK_FALSE(ws.connect(port));
        CHECK(ws.http_status() == 429);
    }
    // Many more idle sockets: far past the cap they are closed at once, so
    // the server holds at most cap + a small overflow of descriptors.
    std::vector<int> more;
    for (int i = 0; i < 60; ++i) more.push_back(tcp_connect(port));
    std::this_thread::sleep_for(300ms);
    const int fds_now = open_fd_count(server.pid());
    INFO("server fds: " << fds_at_start << " at start, " << fds_now << " with 63 idle connections");
    CHECK(fds_now - fds_at_start <= 3 + 3 + 2);
    for (int fd : more) ::close(fd);
    for (int fd : idle) ::close(fd);
    bool ok = false;
    for (int i = 0; i < 50 && !ok; ++i) {
        ok = http_get(port, "/healthz").status == 200;
        if (!ok) std::this_thread::sleep_for(100ms);
    }
    CHECK(ok);
}

namespace {

std::string big_room_id(int r) {
    return "Ubigreplies" + std::string(21 - std::to_string(r).size(), '0') + std::to_string(r);
}

/// `rooms` conversations of 50 messages of 5,000 × U+0001, each escaped to
/// six bytes when encoded: a full page of any of them is about 1 MiB (the
/// page cap), from a request of a few dozen bytes.
void fill_big_rooms(std::uint16_t port, int rooms) {
    std::string text;
    for (int i = 0; i < 5000; ++i) text += "\\u0001";
    for (int r = 0; r < rooms; ++r) {
        // Two posts of 25: a request body stops at 1 MiB.
        for (int half = 0; half < 2; ++half) {
            std::string body = R"({"destination":"U","events":[)";
            for (int i = half * 25; i < half * 25 + 25; ++i) {
                if (i != half * 25) body += ',';
                body += R"({"type":"message","mode":"active","timestamp":1,"source":{"type":"user","userId":")" +
                        big_room_id(r) + R"("},"webhookEventId":"big-)" + std::to_string(r) + "-" + std::to_string(i) +
                        R"(","message":{"id":")" + std::to_string(r * 100 + i) + R"(","type":"text","text":")" +
                        text + "\"}}";
            }
            body += "]}";
            const HttpResponse res = http_post(port, "/api/v1/webhook", body, "", "application/json", 20s);
            INFO(res);
            REQUIRE(res.status == 200);
        }
    }
}

}  // namespace

// Small requests that build big replies, from clients that never read them.
TEST_CASE("Replies nobody reads stay bounded in memory", "[integration][transport][unread]") {
    constexpr int rooms = 8;
    SECTION("HTTP: beyond --max-http-response-bytes, 503 with Retry-After") {
        ServerProcess server({"--store", "memory", "--max-connections-per-ip", "0", "--max-http-response-bytes",
                              "4194304"});
        const auto port = server.port();
        fill_big_rooms(port, rooms);
        const long rss_before = rss_kib(server.pid());
        // 48 requests for a ~1 MiB page each, none read (a 4 KiB receive
        // buffer, so the kernel takes little of the replies).
        std::vector<int> fds;
        for (int i = 0; i < 48; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            REQUIRE(fd >= 0);
            const int rcvbuf = 4096;
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
            timeval tv{5, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(port);
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
            const std::string req = "GET /api/v1/conversations/" + big_room_id(i % rooms) +
                                    "/messages?limit=500 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer op1\r\n"
                                    "Connection: close\r\n\r\n";
            REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
            fds.push_back(fd);
        }
        // Every request answered (or refused) while none is read: a control
        // request still gets through. It waits its turn behind the 48 pages
        // the single event-loop thread builds first (seconds under ASan on a
        // loaded CI machine), so it is given 20 s, not the default 5.
        std::this_thread::sleep_for(500ms);
        const auto health_start = std::chrono::steady_clock::now();
        const HttpResponse health = http_get(port, "/healthz", "", 20s);
        INFO(health << " after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now() - health_start)
                                        .count()
                    << " ms");
        CHECK(health.status == 200);
        const long rss_held = rss_kib(server.pid());
        int ok = 0, busy = 0, other = 0;
        for (int fd : fds) {
            std::string raw;
            char buf[65536];
            for (int k = 0; k < 10000; ++k) {
                const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                raw.append(buf, static_cast<std::size_t>(n));
            }
            ::close(fd);
            HttpResponse r;
            detail::parse_http_response(raw, r);
            if (r.status == 200) {
                ++ok;
            } else if (r.status == 503 && r.header("Retry-After") == "1" &&
                       Event::from_text(r.body).str("/error/code") == "unavailable") {
                ++busy;
            } else {
                ++other;
            }
        }
        INFO("200: " << ok << ", 503: " << busy << ", other: " << other << "; RSS " << rss_before << " KiB before, "
                     << rss_held << " KiB with the replies pending");
        CHECK(other == 0);
        CHECK(ok >= 1);
        // The budget counts what websocketpp holds in the server's memory.
        // A reply the kernel took whole into its socket buffer (loopback
        // autotunes it up to several MiB) no longer counts, so more than
        // 4 MiB / 1 MiB replies may go out; still, most are refused.
        CHECK(busy >= 1);
        CHECK(ok < 48 / 2);
        CHECK(busy == 48 - ok);
        // 48 replies of ~1 MiB held at once would be 48 MiB and more.
        if (!kAddressSanitizer) CHECK(rss_held - rss_before < 32 * 1024);
    }
    SECTION("WebSocket: 20 clients that never read get 1013; the server stays bounded") {
        ServerProcess server({"--store", "memory", "--max-connections-per-ip", "0", "--max-rooms-per-connection",
                              "100"});
        const auto port = server.port();
        fill_big_rooms(port, rooms);
        const long rss_before = rss_kib(server.pid());
        std::vector<raw_ws> clients(20);
        for (std::size_t c = 0; c < clients.size(); ++c) {
            REQUIRE(clients[c].connect(port, 5s, 4096));
            clients[c].send_text(R"({"type":"auth","payload":{"token":"reader)" + std::to_string(c) + "\"}}");
            // Each join answers with a ~1 MiB page: far past the 1 MiB mark.
            for (int r = 0; r < rooms; ++r)
                clients[c].send_text(R"({"type":"join_room","payload":{"room":"conversation:)" + big_room_id(r) +
                                     R"(","since_seq":0}})");
            clients[c].flush(5s);
        }
        std::this_thread::sleep_for(1000ms);
        const long rss_held = rss_kib(server.pid());
        int closed_1013 = 0;
        for (auto& ws : clients) {
            for (int k = 0; k < 1000; ++k) {
                auto f = ws.next(5s);
                if (!f) break;
                if (f->is_close()) {
                    if (f->close_code() == 1013) ++closed_1013;
                    break;
                }
            }
        }
        INFO("RSS " << rss_before << " KiB before, " << rss_held << " KiB with 20 readers stalled");
        // The readers are read one after the other: a sanitized server is
        // slow enough that a later reader's close window (2 s + 2 s) may be
        // over before it is read, so there only the first must see 1013.
        if (kAddressSanitizer)
            CHECK(closed_1013 >= 1);
        else
            CHECK(closed_1013 == 20);
        // Unbounded, 20 × 8 pages of ~1 MiB would be 160 MiB.
        if (!kAddressSanitizer) CHECK(rss_held - rss_before < 80 * 1024);
    }
}

// websocketpp answers pings by itself, outside the hub's rate limit and
// unsent-bytes mark: without a bound, a client that floods pings and never
// reads makes the server queue one pong per ping for as long as it goes on.
TEST_CASE("A ping flood from a client that never reads does not grow the server", "[integration][transport][pingflood]") {
    ServerProcess server({"--store", "memory"});
    const auto port = server.port();
    raw_ws ws;
    REQUIRE(ws.connect(port, 5s, 4096));
    REQUIRE(ws.flush(5s));
    std::this_thread::sleep_for(200ms);
    const long rss_before = rss_kib(server.pid());
    const std::string payload(125, 'p');  // the largest ping: each pong is 127 bytes
    const auto deadline = std::chrono::steady_clock::now() + (kAddressSanitizer ? 6s : 3s);
    long sent = 0;
    for (int round = 0; round < 400 && std::chrono::steady_clock::now() < deadline; ++round) {
        for (int k = 0; k < 1000; ++k) ws.send_frame(ws_opcode::ping, payload);
        if (!ws.flush(5s)) break;
        sent += 1000;
    }
    std::this_thread::sleep_for(300ms);  // let the server read what is in flight
    const long rss_after = rss_kib(server.pid());
    INFO(sent << " pings unread; server RSS " << rss_before << " KiB before, " << rss_after << " KiB after");
    CHECK(sent >= 20000);
    CHECK(http_get(port, "/healthz").status == 200);
    // One pong per ping would be 127 bytes of frame plus a queued message
    // object each: tens of MiB for this many pings.
    if (!kAddressSanitizer) CHECK(rss_after - rss_before < 8 * 1024);
    CHECK(server.stop() == 0);
}

}  // namespace livechat_itest_transport_limits
