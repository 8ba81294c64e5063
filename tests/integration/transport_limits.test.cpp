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
