// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The server's transport under clients that misbehave at the TCP level:
//
//  - every close the server starts reaches a client that never stops
//    sending (PROTOCOL.md Transport, last bullet): 1001 (idle and SIGTERM),
//    1007, 1008, 1009, 1013, 4001, 4003, many tries each, run side by side;
//  - only Sec-WebSocket-Version 13 is spoken (hixie-76, 7, 8, none → 426);
//  - out of file descriptors the server pauses accepting instead of
//    spinning, and serves again once descriptors are back;
//  - the per-address cap counts plain TCP and HTTP connections;
//  - replies nobody reads (WebSocket and HTTP) stay bounded in memory.
//
// Tries per case: LIVECHAT_ITEST_CLOSE_TRIES (default 50; 10 under ASan).

#include <catch2/catch.hpp>

#include "proc_stats.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <atomic>
#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_transport_close {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

int close_tries() { return static_cast<int>(env_long("LIVECHAT_ITEST_CLOSE_TRIES", kAddressSanitizer ? 10 : 50)); }

/// How often a pinging client sends its next 8 pings: as fast as its output
/// drains in the optimized tree; paced in the sanitizer tree, whose server
/// and client run about ten times slower, so that the two slowed processes
/// still exchange frames faster than the server's close window (2 s) but
/// the flood does not starve the client's own reading of the CPU.
Millis ping_interval() { return kAddressSanitizer ? Millis(20) : Millis(0); }

/// What one flooding client saw.
struct flood_result {
    int code = 0;  ///< 0: no close frame arrived
    std::string reason;
    std::string error;
};

/// How a flooding client behaves: `setup` once the handshake is done,
/// `keep` whenever little of its output is pending (it never stops until it
/// reads the server's close frame), and no reading for `pause_reading`
/// after setup.
struct flood_script {
    std::function<void(raw_ws&, int)> setup;
    std::function<void(raw_ws&, int, bool reading)> keep;
    Millis pause_reading{0};
    int rcvbuf = 0;
    /// At least this long between two `keep` calls of a client (0: whenever
    /// its output is drained), so a client that is not reading writes at a
    /// steady pace rather than as fast as the loopback takes it.
    Millis keep_interval{0};
    /// When set, a client still in its `pause_reading` starts reading as
    /// soon as this returns true (e.g. once the server has closed them all).
    std::function<bool()> resume_reading;
};

/// How the issue's reports were reproduced: the client is still writing,
/// and has not read yet, when the server closes it. Against a server that
/// closes the socket with unread data the client's next send fails with
/// EPIPE/ECONNRESET (a browser then reports 1006).
flood_script sending_not_reading(flood_script s) {
    s.pause_reading = 150ms;
    s.keep_interval = 5ms;
    return s;
}

void send_pings(raw_ws& ws) {
    for (int i = 0; i < 8; ++i) ws.send_frame(ws_opcode::ping, "keep-sending");
}

/// Runs `n` clients of `script` side by side against `port` until each has
/// read a close frame or `timeout` passed; `after_setup` runs once every
/// client is set up (e.g. to signal the server).
std::vector<flood_result> run_flooders(std::uint16_t port, int n, const flood_script& script, Millis timeout,
                                       const std::function<void()>& after_setup = nullptr) {
    std::vector<raw_ws> conns(static_cast<std::size_t>(n));
    std::vector<flood_result> results(static_cast<std::size_t>(n));
    std::vector<raw_ws::Clock::time_point> setup_at(static_cast<std::size_t>(n));
    std::vector<char> set_up(static_cast<std::size_t>(n), 0), done(static_cast<std::size_t>(n), 0);
    std::vector<raw_ws::Clock::time_point> last_keep(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        if (!conns[static_cast<std::size_t>(i)].start(port, script.rcvbuf))
            results[static_cast<std::size_t>(i)].error = conns[static_cast<std::size_t>(i)].error();
    const auto deadline = raw_ws::Clock::now() + timeout;
    bool all_set_up = false;
    for (int round = 0; round < 1000000 && raw_ws::Clock::now() < deadline; ++round) {
        std::vector<pollfd> fds;
        std::vector<std::size_t> who;
        const auto now = raw_ws::Clock::now();
        int remaining = 0;
        for (std::size_t i = 0; i < conns.size(); ++i) {
            raw_ws& ws = conns[i];
            if (done[i] || !ws.is_open()) continue;
            ++remaining;
            short ev = ws.poll_events();
            const bool reading = !set_up[i] || now - setup_at[i] >= script.pause_reading ||
                                 (script.resume_reading && script.resume_reading());
            if (!reading) ev = static_cast<short>(ev & ~POLLIN);
            fds.push_back(pollfd{ws.fd(), ev, 0});
            who.push_back(i);
        }
        if (remaining == 0) break;
        ::poll(fds.data(), fds.size(), 10);
        int ready_count = 0;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            const std::size_t i = who[k];
            raw_ws& ws = conns[i];
            if (fds[k].revents != 0) ws.on_ready(fds[k].revents);
            if (!set_up[i] && ws.upgraded()) {
                set_up[i] = 1;
                setup_at[i] = raw_ws::Clock::now();
                if (script.setup) script.setup(ws, static_cast<int>(i));
            }
            if (set_up[i]) ++ready_count;
            while (auto f = ws.pop()) {
                if (!f->is_close()) continue;
                results[i].code = f->close_code();
                results[i].reason = f->payload.size() > 2 ? f->payload.substr(2) : "";
                // The frame arrived, but after a reset a browser never
                // delivers it (a failed send fails the connection with 1006).
                if (ws.was_reset()) results[i].error = "reset before the close frame was read (" + ws.error() + ")";
                ws.send_close(static_cast<std::uint16_t>(f->close_code()));
                done[i] = 1;
                break;
            }
            if (done[i]) continue;
            if (ws.eof()) {
                results[i].error = "connection ended without a close frame (" + ws.error() + ")";
                done[i] = 1;
                continue;
            }
            const auto t = raw_ws::Clock::now();
            if (set_up[i] && ws.pending_output() < 16 * 1024 && script.keep && t - last_keep[i] >= script.keep_interval) {
                last_keep[i] = t;
                const bool reading = t - setup_at[i] >= script.pause_reading ||
                                     (script.resume_reading && script.resume_reading());
                script.keep(ws, static_cast<int>(i), reading);
            }
        }
        if (!all_set_up && after_setup && ready_count == n) {
            all_set_up = true;
            after_setup();
        }
    }
    for (std::size_t i = 0; i < conns.size(); ++i)
        if (!done[i] && results[i].error.empty())
            results[i].error = conns[i].upgraded() ? "no close frame in time" : "no handshake (" + conns[i].error() + ")";
    return results;
}

/// Every try saw `code` with `reason`; reports the first failures.
void check_all(const std::vector<flood_result>& results, int code, const std::string& reason) {
    int wrong = 0;
    std::string first;
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        if (r.code == code && r.reason == reason && r.error.empty()) continue;
        if (++wrong <= 3)
            first += "\n  try " + std::to_string(i) + ": code " + std::to_string(r.code) + " reason '" + r.reason +
                     "' " + r.error;
    }
    INFO(wrong << " of " << results.size() << " tries did not see " << code << " '" << reason << "'" << first);
    CHECK(wrong == 0);
}

std::string auth_frame(const std::string& token) { return R"({"type":"auth","payload":{"token":")" + token + "\"}}"; }

}  // namespace

TEST_CASE("Close codes reach a client that never stops sending", "[integration][transport][close]") {
    const int n = close_tries();
    const Millis timeout = kAddressSanitizer ? 30s : 15s;

    SECTION("1008: auth, then invalid JSON back to back") {
        ServerProcess server({"--max-connections-per-ip", "0"});
        flood_script s;
        s.setup = [](raw_ws& ws, int i) { ws.send_text(auth_frame("u" + std::to_string(i))); };
        s.keep = [](raw_ws& ws, int, bool) {
            for (int k = 0; k < 20; ++k) ws.send_text("{not json");
        };
        check_all(run_flooders(server.port(), n, sending_not_reading(s), timeout), 1008, "too many refused frames");
    }
    SECTION("1009: one 70 KiB frame, then small frames") {
        ServerProcess server({"--max-connections-per-ip", "0"});
        flood_script s;
        s.setup = [](raw_ws& ws, int) {
            ws.send_text(std::string(70 * 1024, 'a'));
            for (int k = 0; k < 50; ++k) ws.send_text("{\"type\":\"ping\"}");
        };
        s.keep = [](raw_ws& ws, int, bool) {
            for (int k = 0; k < 10; ++k) ws.send_text("{\"type\":\"ping\"}");
        };
        check_all(run_flooders(server.port(), n, sending_not_reading(s), timeout), 1009, "A message was too large");
    }
    SECTION("1007: invalid UTF-8, then small frames") {
        ServerProcess server({"--max-connections-per-ip", "0"});
        flood_script s;
        s.setup = [](raw_ws& ws, int) { ws.send_text("\xff\xfe not UTF-8"); };
        s.keep = [](raw_ws& ws, int, bool) {
            for (int k = 0; k < 10; ++k) ws.send_text("{\"type\":\"ping\"}");
        };
        check_all(run_flooders(server.port(), n, sending_not_reading(s), timeout), 1007, "Invalid UTF8 encoding");
    }
    SECTION("4001: no auth in time, pinging all along") {
        ServerProcess server({"--max-connections-per-ip", "0", "--auth-timeout-ms", "300"});
        flood_script s;
        s.keep = [](raw_ws& ws, int, bool) { send_pings(ws); };
        s.keep_interval = ping_interval();
        check_all(run_flooders(server.port(), n, s, timeout), 4001, "auth timeout");
    }
    SECTION("4003: a refused token, pinging all along") {
        ServerProcess server({"--max-connections-per-ip", "0"});
        flood_script s;
        s.setup = [](raw_ws& ws, int) { ws.send_text(auth_frame("\\u0001")); };
        s.keep = [](raw_ws& ws, int, bool) { send_pings(ws); };
        s.keep_interval = ping_interval();
        check_all(run_flooders(server.port(), n, s, timeout), 4003, "auth failed");
    }
    SECTION("1001: idle (no data frame), pinging all along") {
        ServerProcess server({"--max-connections-per-ip", "0", "--idle-timeout-ms", "1000"});
        flood_script s;
        s.setup = [](raw_ws& ws, int i) { ws.send_text(auth_frame("u" + std::to_string(i))); };
        s.keep = [](raw_ws& ws, int, bool) { send_pings(ws); };
        s.keep_interval = ping_interval();
        check_all(run_flooders(server.port(), n, s, timeout), 1001, "idle timeout");
    }
    SECTION("1001: SIGTERM while every client sends; the server still exits 0 in bounded time") {
        ServerProcess server({"--max-connections-per-ip", "0"});
        flood_script s;
        s.setup = [](raw_ws& ws, int i) { ws.send_text(auth_frame("u" + std::to_string(i))); };
        s.keep = [](raw_ws& ws, int, bool) { send_pings(ws); };
        s.keep_interval = ping_interval();
        const auto results = run_flooders(server.port(), n, s, timeout, [&] { server.signal(SIGTERM); });
        check_all(results, 1001, "server shutting down");
        CHECK(server.wait_exit(10s) == std::optional<int>(0));
    }
}

namespace {

const std::string kSlowUser = "Uclosecodes000000000000000001013";

/// A webhook body with `n` text events of 4 KiB for the slow readers' room.
std::string webhook_texts(int first, int n) {
    std::string s = R"({"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[)";
    for (int i = first; i < first + n; ++i) {
        if (i != first) s += ',';
        s += R"({"type":"message","mode":"active","timestamp":1732566265123,"source":{"type":"user","userId":")" +
             kSlowUser + R"("},"webhookEventId":"close1013-)" + std::to_string(i) +
             R"(","deliveryContext":{"isRedelivery":false},"message":{"id":")" + std::to_string(500000 + i) +
             R"(","type":"text","text":")" + std::string(4096, 'x') + "\"}}";
    }
    return s + "]}";
}

}  // namespace

// Every reader authenticates, joins one room and stops reading (a 4 KiB
// receive buffer, so the kernel absorbs little) while pinging all along;
// webhook posts push 4 KiB messages into the room until each is past the
// unsent mark. The readers resume reading after a pause and must find the
// 1013 close behind the data that was queued before it.
TEST_CASE("Close 1013 reaches a slow consumer that keeps sending", "[integration][transport][close][close1013]") {
    const int n = close_tries();
    const Millis timeout = kAddressSanitizer ? 40s : 20s;
    const std::string room = "conversation:" + kSlowUser;
    ServerProcess server({"--store", "memory", "--max-connections-per-ip", "0", "--max-unsent-bytes", "65536",
                          "--soft-unsent-bytes", "0"});
    const auto port = server.port();
    flood_script s;
    s.rcvbuf = 4096;
    // The readers stop reading until the server has closed them all (its
    // connection gauge is back to 0), then read: the close frame must wait
    // for them behind the queued data. Reading later than the server's close
    // window (2 s for the close handshake, then up to 2 s of lingering)
    // would be a client that never reads, which no close frame can reach.
    std::atomic<bool> all_closed{false};
    s.pause_reading = 20s;
    s.resume_reading = [&all_closed] { return all_closed.load(); };
    s.keep_interval = 5ms;
    s.setup = [&room](raw_ws& ws, int i) {
        ws.send_text(auth_frame("reader" + std::to_string(i)));
        ws.send_text(R"({"type":"join_room","payload":{"room":")" + room + "\"}}");
    };
    s.keep = [](raw_ws& ws, int, bool) { ws.send_frame(ws_opcode::ping, "keep-sending"); };
    // Far more than 64 KiB plus what the kernel's buffers take per reader.
    const int batches = static_cast<int>(env_long("LIVECHAT_ITEST_CLOSE1013_BATCHES", 24));
    std::atomic<int> posted{0};
    std::thread poster;
    const auto results = run_flooders(port, n, s, timeout, [&] {
        poster = std::thread([&] {
            // The joins were sent with the auth frames; give them a moment
            // to be read before the room fills.
            std::this_thread::sleep_for(200ms);
            for (int b = 0; b < batches; ++b) {
                const HttpResponse r = http_post(port, "/api/v1/webhook", webhook_texts(b * 50, 50), "",
                                                 "application/json", 20s);
                if (r.status != 200) break;
                posted.fetch_add(1);
                if (metric_now(port, "livechat_connections") == 0) break;
            }
            // Bounded: 10 s at most for the last closes after the posts.
            for (int k = 0; k < 500; ++k) {
                if (metric_now(port, "livechat_connections") == 0) break;
                std::this_thread::sleep_for(20ms);
            }
            all_closed = true;
        });
    });
    if (poster.joinable()) poster.join();
    CHECK(posted.load() >= 1);
    CHECK(all_closed.load());
    check_all(results, 1013, "slow consumer");
}

}  // namespace livechat_itest_transport_close
