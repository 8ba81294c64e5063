// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration stress: connection churn. 10 rounds of 1,000 connections:
// each connects, authenticates as its own user, joins one of 50 rooms and
// sends one message; then 90 % close with a close handshake and 10 % just
// drop: half with a TCP reset, half with a FIN and no close frame, after
// which the server must close its end too (else its socket would sit in
// CLOSE_WAIT). After the rounds the
// server must hold nothing for them: its open file descriptors are back to
// the baseline, no socket of its port sits in CLOSE_WAIT (a peer's FIN the
// server never answered by closing), the /metrics gauges are back to zero,
// and its memory after round 10 is within 8 % of what it was after round 4.
//
// The per-user and per-IP connection caps are turned off: every connection
// comes from 127.0.0.1, and the test is about what the server keeps after a
// connection is gone, not about refusing it.
#include "proc_stats.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_churn {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

constexpr int kRooms = 50;
constexpr int kRounds = 10;
constexpr int kHistory = 50;  // messages a join without since_seq returns
constexpr int kBulk = 600;     // of 5,000 characters: 3 MB, more than SQLite's cache
// 1,000 in an optimized tree (the issue's figure; about 25 s). A Debug tree,
// with or without ASan, runs the unoptimized server several times slower,
// and the cost grows faster than the count (every auth is answered with
// the whole online list): 200 keep it under 20 s there.
// LIVECHAT_CHURN_CONNECTIONS overrides both. The sanitizer tree runs an
// optimized tree's harness against its own server (kAddressSanitizer).
#ifdef NDEBUG
const long kDefaultConnections = kAddressSanitizer ? 200 : 1000;
#else
const long kDefaultConnections = 200;
#endif
// Handshakes in progress at once. Few enough that the listen backlog never
// overflows (a dropped SYN is retried a second later), and that the server
// never answers many auths in one turn: each answer carries the online list
// (up to 60 KB here), and a burst of them would raise the heap's high-water
// mark, which is what the RSS check compares.
constexpr int kMaxPending = 16;

enum class step { idle, upgrading, authenticating, joining, sending, sent, closing, half_closed, finished, failed };

struct churner {
    raw_ws ws;
    step at = step::idle;
    std::string user;
    std::string room;
    int kill = 0;  ///< 0: close handshake; 1: TCP reset; 2: FIN without a close frame
    std::string problem;
};

struct round_result {
    double seconds = 0;
    int failed = 0;
    int closed_cleanly = 0;
    int killed = 0;
    int waited = 0;  ///< connections that waited for the server to close its end
    std::vector<std::string> problems;
};

/// One round: `n` connections through connect, auth, join, send, then close or kill.
round_result run_round(std::uint16_t port, int round, int n) {
    round_result out;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + 60s;  // ctest gives the whole case 120 s
    std::vector<churner> conns(static_cast<std::size_t>(n));
    std::unordered_map<const raw_ws*, churner*> owner;
    for (int i = 0; i < n; ++i) {
        churner& c = conns[static_cast<std::size_t>(i)];
        c.user = "churn-" + std::to_string(round) + "-" + std::to_string(i);
        c.room = "conversation:churn-" + std::to_string(i % kRooms);
        // A different 10 % each round; half reset, half a bare FIN.
        if (i % 10 == round % 10) c.kill = (i / 10) % 2 == 0 ? 1 : 2;
        owner[&c.ws] = &c;
    }
    ws_epoll poller;
    std::vector<raw_ws*> ready;
    int pending = 0;  // started, not yet through message_sent
    int sent = 0;
    int failed = 0;
    auto fail = [&](churner& c, std::string why) {
        c.problem = c.user + ": " + why;
        if (c.at == step::upgrading || c.at == step::authenticating || c.at == step::joining ||
            c.at == step::sending)
            --pending;
        c.at = step::failed;
        c.ws.close_fd();
        ++failed;
    };

    // Moves one connection along as far as what it has received allows.
    auto advance = [&](churner& c) {
        if (c.at == step::upgrading) {
            if (!c.ws.upgraded()) {
                if (c.ws.eof())
                    fail(c, "handshake: HTTP " + std::to_string(c.ws.http_status()) + " " + c.ws.error());
                return;
            }
            c.ws.send_text(R"({"type":"auth","payload":{"token":")" + c.user + "\"}}");
            c.at = step::authenticating;
        }
        while (auto f = c.ws.pop()) {
            // Broadcasts from the room, then the server's close frame.
            if (c.at == step::sent || c.at == step::closing || c.at == step::half_closed) continue;
            if (f->is_close()) return fail(c, "closed with " + std::to_string(f->close_code()));
            if (!f->is_text()) continue;
            const std::string type = event_type_of(f->payload);
            if (type == "error") return fail(c, "error " + f->payload.substr(0, 200));
            if (c.at == step::authenticating && type == "auth_success") {
                c.ws.send_text(R"({"type":"join_room","payload":{"room":")" + c.room + "\"}}");
                c.at = step::joining;
            } else if (c.at == step::joining && type == "conversation_update") {
                c.ws.send_text(R"({"type":"send_message","payload":{"room":")" + c.room +
                               R"(","text":"hello from )" + c.user + "\"}}");
                c.at = step::sending;
            } else if (c.at == step::sending && type == "message_sent") {
                c.at = step::sent;
                --pending;
                ++sent;
            }
        }
        if (c.ws.eof()) {
            // The server closed its end: after the close handshake, or
            // after our FIN.
            if (c.at == step::closing || c.at == step::half_closed) {
                if (c.at == step::closing) ++out.closed_cleanly;
                c.ws.close_fd();
                c.at = step::finished;
                ++out.waited;
            } else if (c.at != step::failed) {
                fail(c, "connection dropped");
            }
        }
    };

    // Phase 1: everyone connects, authenticates, joins and sends; the
    // connections stay open until all have, so the server holds n at once.
    std::size_t next = 0;
    while (sent + failed < n && std::chrono::steady_clock::now() < deadline) {
        while (pending < kMaxPending && next < conns.size()) {
            churner& c = conns[next++];
            ++pending;
            c.at = step::upgrading;
            if (!c.ws.start(port) || !poller.add(c.ws)) fail(c, "connect: " + c.ws.error());
        }
        poller.wait(100ms, &ready);
        for (raw_ws* w : ready) advance(*owner[w]);
    }

    // Phase 2: 90 % close properly, 10 % vanish.
    int waiting = 0;
    for (auto& c : conns) {
        if (c.at != step::sent) {
            if (c.at != step::failed) fail(c, "did not finish within the round's time");
            continue;
        }
        if (c.kill == 1) {
            c.ws.reset();
            c.at = step::finished;
            ++out.killed;
        } else if (c.kill == 2) {
            c.ws.shutdown_write();
            c.at = step::half_closed;
            ++out.killed;
            ++waiting;
        } else {
            c.ws.send_close(1000);
            c.at = step::closing;
            ++waiting;
        }
    }
    while (out.waited < waiting && std::chrono::steady_clock::now() < deadline) {
        poller.wait(100ms, &ready);
        for (raw_ws* w : ready) advance(*owner[w]);
    }
    for (auto& c : conns) {
        if (c.at == step::closing) fail(c, "the server did not finish the close handshake");
        if (c.at == step::half_closed) fail(c, "the server did not close its end after the client's FIN");
        if (c.at == step::failed) {
            ++out.failed;
            if (out.problems.size() < 10) out.problems.push_back(c.problem);
        }
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

/// Polls /metrics until the connection, user, room and watcher gauges are
/// all 0 and, if `close_wait` is set, no socket of the port is in
/// CLOSE_WAIT; bounded by `timeout`. Returns the last exposition.
std::string settle(std::uint16_t port, bool close_wait, Millis timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string m;
    for (;;) {
        m = scrape_metrics(port);
        bool zero = !m.empty();
        for (const char* g : {"livechat_connections", "livechat_users_online", "livechat_rooms",
                              "livechat_inbox_watchers"})
            zero = zero && metric_value(m, g) == std::optional<double>(0.0);
        // The scrape's own connection may sit in CLOSE_WAIT for an instant
        // (our FIN can beat the server's close); a leaked one stays there.
        std::this_thread::sleep_for(50ms);
        if (zero && close_wait) zero = close_wait_count(port) == 0;
        if (zero || std::chrono::steady_clock::now() >= deadline) return m;
    }
}

/// Stores `per_room` messages in each of the churn rooms, as long as the
/// ones the rounds send, and `bulk` messages of 5,000 characters (the most
/// a text may have) in another conversation, through the webhook, 50 per
/// request.
void prefill(std::uint16_t port, int per_room, int bulk) {
    std::vector<std::pair<std::string, std::string>> events;  // LINE user id, text
    for (int k = 0; k < kRooms; ++k)
        for (int i = 0; i < per_room; ++i)
            events.emplace_back("churn-" + std::to_string(k), "hello from churn-0-" + std::to_string(i));
    for (int i = 0; i < bulk; ++i) events.emplace_back("Uchurnbulk", std::string(5000, 'b'));
    for (std::size_t first = 0; first < events.size(); first += 50) {
        std::string body = R"({"destination":"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","events":[)";
        for (std::size_t i = first; i < first + 50 && i < events.size(); ++i) {
            if (i != first) body += ',';
            body += R"({"type":"message","timestamp":1732566265123,"source":{"type":"user","userId":")" +
                    events[i].first + R"("},"webhookEventId":"prefill-)" + std::to_string(i) +
                    R"(","message":{"id":"1","type":"text","text":")" + events[i].second + "\"}}";
        }
        body += "]}";
        const HttpResponse r = http_post(port, "/api/v1/webhook", body);
        INFO(r);
        REQUIRE(r.status == 200);
    }
}

}  // namespace

TEST_CASE("churn: 10 rounds of 1,000 connections leave no descriptor, socket, gauge or memory behind",
          "[integration][stress][churn]") {
    const int n = static_cast<int>(env_long("LIVECHAT_CHURN_CONNECTIONS", kDefaultConnections));
    const long fd_limit = raise_fd_limit();
    REQUIRE(fd_limit > n + 64);
    temp_sqlite_db db("churn");
    memory_measurement_env memory_env;
    // Messages go to SQLite, not to memory: the store's growth (10,000
    // messages) is not what the RSS bound is about.
    ServerProcess server({"--store", "sqlite:" + db.path, "--max-connections-per-ip", "0",
                          "--max-connections-per-user", "0"},
                         10s, /*capture_stderr=*/true);
    const std::uint16_t port = server.port();

    // Memory that grows for reasons other than the connections is taken out
    // of the comparison first: each room gets its full join history (50
    // messages) now, not over the rounds, and SQLite's page cache (2 MiB by
    // default), which grows with the database until it is full, is filled.
    const auto prefill_start = std::chrono::steady_clock::now();
    prefill(port, kHistory, kBulk);
    settle(port, true, 10s);
    const double prefill_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - prefill_start).count();
    const int fds_baseline = open_fd_count(server.pid());
    REQUIRE(fds_baseline > 0);

    std::ostringstream report;
    report << "churn: " << n << " connections x " << kRounds << " rounds; prefill " << prefill_seconds
           << " s; server fds: " << fds_baseline << " at the start\n";
    // The bound is on the peak RSS (VmHWM): the heap's high-water mark.
    // The current RSS would do only without trims, and the server trims
    // its heap after a burst of closes, sometimes before a round's reading
    // and sometimes after (measured: 18.5 MiB after round 4, 25.9 after
    // round 10, no leak). The peak settles over the first rounds, and since
    // closes linger up to 2 s (each connection's memory lives a little
    // longer) a round can still lift it by one step of about 2 MiB later;
    // a leak instead grows it round after round. So: from round 4 to round
    // 10, at most 8 %.
    constexpr int kWarmRounds = 4;
    long rss_warm = 0;
    long rss_last = 0;
    int fds_last = 0;
    int close_wait_last = 0;
    double total = 0;
    std::string metrics;
    for (int round = 0; round < kRounds; ++round) {
        const round_result r = run_round(port, round, n);
        std::string problems;
        for (const auto& p : r.problems) problems += "\n  " + p;
        INFO("round " << round + 1 << ": " << r.failed << " failed" << problems);
        INFO("server output (tail):\n" << tail(server.output(), 3000));
        REQUIRE(r.failed == 0);
        metrics = settle(port, round == kRounds - 1, 10s);
        rss_last = peak_rss_kib(server.pid());
        const long rss_now = rss_kib(server.pid());
        fds_last = open_fd_count(server.pid());
        close_wait_last = close_wait_count(port);
        if (round == kWarmRounds - 1) rss_warm = rss_last;
        total += r.seconds;
        report << "  round " << round + 1 << ": " << r.seconds << " s, " << r.closed_cleanly << " closed, "
               << r.killed << " dropped; then " << fds_last << " fds, " << close_wait_last << " CLOSE_WAIT, RSS "
               << rss_now << " KiB, peak " << rss_last << " KiB\n";
    }
    report << "  total " << total << " s; peak RSS after round " << kWarmRounds << " " << rss_warm << " KiB, after round "
           << kRounds << " "
           << rss_last << " KiB";
    std::cout << report.str() << std::endl;
    INFO(report.str());

    CHECK(fds_last <= fds_baseline + 5);
    CHECK(fds_last >= fds_baseline - 5);
    CHECK(close_wait_last == 0);
    for (const char* g : {"livechat_connections", "livechat_users_online", "livechat_rooms", "livechat_inbox_watchers"}) {
        INFO(g);
        CHECK(metric_value(metrics, g) == std::optional<double>(0.0));
    }
    CHECK(metric_value(metrics, "livechat_messages_stored_total") ==
          std::optional<double>(double(kRooms * kHistory + kBulk + n * kRounds)));
    CHECK(rss_warm > 0);
    CHECK(rss_last * 100 <= rss_warm * 108);  // at most 8 % more over the last 6 rounds
    CHECK(http_get(port, "/healthz").status == 200);

    // A clean shutdown; in a sanitizer build also no leak (LeakSanitizer
    // makes the exit status 23) and no report from ASan or UBSan.
    const int exit_code = server.stop();
    INFO("server output (tail):\n" << tail(server.output_after_exit(), 3000));
    CHECK(exit_code == 0);
}

}  // namespace livechat_itest_churn
