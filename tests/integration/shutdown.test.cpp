// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: graceful shutdown under load. 200 authenticated clients,
// some sending continuously; SIGTERM must stop accepting, close every
// WebSocket with 1001, commit, and exit 0 within 5 s, and every message
// that was acknowledged must be in the history after a restart on the same
// SQLite file.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_shutdown {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

/// A fresh database path under the temp dir, removed (with -wal/-shm) at the end.
struct temp_db {
    std::string path;
    temp_db() {
        path = (std::filesystem::temp_directory_path() /
                ("livechat-shutdown-" + std::to_string(::getpid()) + ".db"))
                   .string();
        remove_all();
    }
    ~temp_db() { remove_all(); }
    void remove_all() const {
        for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    }
};

constexpr std::size_t kClients = 200;
constexpr std::size_t kUsers = 20;    // 10 connections each, under the per-user cap
constexpr std::size_t kSenders = 20;  // clients 0..19, one per user
constexpr std::size_t kRooms = 4;

std::string room_of(std::size_t sender) { return "conversation:shutdown" + std::to_string(sender % kRooms); }

/// A plain TCP connection to 127.0.0.1:port, for steps a WebSocket client
/// library would not take (stay silent, never answer a close).
struct raw_socket {
    int fd = -1;
    int connect_errno = 0;

    explicit raw_socket(std::uint16_t port) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            connect_errno = errno;
            return;
        }
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            connect_errno = errno;
            ::close(fd);
            fd = -1;
        }
    }
    ~raw_socket() {
        if (fd >= 0) ::close(fd);
    }
    raw_socket(const raw_socket&) = delete;
    raw_socket& operator=(const raw_socket&) = delete;

    bool connected() const { return fd >= 0; }

    bool write_all(const std::string& data) {
        std::size_t done = 0;
        for (int i = 0; i < 1000 && done < data.size(); ++i) {
            const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return done == data.size();
    }

    /// Reads until the end of an HTTP response head (and its Content-Length
    /// body), EOF, or `timeout`.
    std::string read_response(Millis timeout) {
        std::string got;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (int i = 0; i < 10000; ++i) {
            const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char buf[4096];
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
            const std::size_t head = got.find("\r\n\r\n");
            if (head == std::string::npos) continue;
            const std::size_t cl = got.find("Content-Length: ");
            if (cl == std::string::npos || cl > head) break;  // no body (a 101)
            const std::size_t length = std::stoul(got.substr(cl + 16));
            if (got.size() >= head + 4 + length) break;
        }
        return got;
    }
};

std::string upgrade_request() {
    return std::string("GET ") + kWsPath +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

}  // namespace

TEST_CASE("SIGTERM under load: stop accepting, 1001 to all, exit 0, nothing acknowledged is lost",
          "[integration][shutdown]") {
    temp_db db;
    const std::vector<std::string> args = {"--store", "sqlite:" + db.path, "--max-connections-per-ip", "0",
                                           "--rate-burst", "1000", "--rate-per-second", "1000"};
    // client_msg_id → seq of every message_sent, by room.
    std::map<std::string, std::map<std::string, std::string>> acked;
    std::size_t sent_total = 0;
    {
        // stderr captured: one line per outbound message would flood the log.
        ServerProcess server(args, 10000ms, /*capture_stderr=*/true);
        const std::uint16_t port = server.port();

        std::vector<std::unique_ptr<WsClient>> clients;
        clients.reserve(kClients);
        for (std::size_t i = 0; i < kClients; ++i) {
            clients.push_back(std::make_unique<WsClient>("client " + std::to_string(i)));
            clients.back()->login(port, "user" + std::to_string(i % kUsers));
        }
        // Senders and one listener per room join; a few watch the inbox, so
        // every message also fans out to other connections.
        for (std::size_t i = 0; i < kSenders + kRooms; ++i) {
            const std::string room = room_of(i);
            REQUIRE(clients[i]->send("join_room", "{\"room\":" + json_quote(room) + "}"));
            clients[i]->wait_for("conversation_update");
        }
        for (std::size_t i = kSenders + kRooms; i < kSenders + kRooms + 4; ++i) {
            REQUIRE(clients[i]->send("watch_inbox"));
            clients[i]->wait_for("inbox_update");
        }

        // The senders write continuously from their own thread until their
        // connection closes (or a bound is hit).
        std::atomic<bool> stop{false};
        std::atomic<std::size_t> sent{0};
        std::thread writer([&] {
            for (int round = 0; round < 2000 && !stop; ++round) {
                bool any_open = false;
                for (std::size_t s = 0; s < kSenders; ++s) {
                    const std::string id = "m" + std::to_string(s) + "-" + std::to_string(round);
                    if (clients[s]->send("send_message", "{\"room\":" + json_quote(room_of(s)) +
                                                             ",\"text\":\"load " + id +
                                                             "\",\"client_msg_id\":\"" + id + "\"}")) {
                        any_open = true;
                        ++sent;
                    }
                }
                if (!any_open) break;
                std::this_thread::sleep_for(20ms);  // ~1000 messages/s in all
            }
        });

        std::this_thread::sleep_for(700ms);  // traffic flowing
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(server.signal(SIGTERM));

        // The first close shows the server has begun shutting down; from
        // then on nothing new gets in.
        CHECK(clients[kClients - 1]->closed_with(5000ms) == 1001);
        {
            WsClient late("late");
            ConnectResult r = late.connect(port, kWsPath, 2000ms);
            INFO(r);
            CHECK_FALSE(r.ok);
        }

        const std::optional<int> code = server.wait_exit(5000ms);
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        stop = true;
        writer.join();
        sent_total = sent;
        INFO("exit after " << elapsed.count() << " ms; " << sent_total << " messages sent");
        REQUIRE(code.has_value());
        CHECK(*code == 0);
        CHECK(elapsed < 5000ms);

        int not_1001 = 0;
        for (auto& c : clients)
            if (c->closed_with(2000ms) != 1001) ++not_1001;
        CHECK(not_1001 == 0);

        // Every acknowledgement the senders received before their close.
        for (std::size_t s = 0; s < kSenders; ++s) {
            for (int n = 0; n < 100000; ++n) {
                std::optional<Event> e = clients[s]->next(0ms);
                if (!e) break;
                if (e->type() != "message_sent") continue;
                acked[e->str("/payload/message/room")][e->str("/payload/message/client_msg_id")] =
                    e->json("/payload/message/seq");
            }
        }
    }
    std::size_t acked_total = 0;
    for (const auto& [room, ids] : acked) acked_total += ids.size();
    INFO(acked_total << " of " << sent_total << " messages acknowledged");
    CHECK(acked_total > 100);  // the load was real

    // Restart on the same file: every acknowledged message is there, same seq.
    ServerProcess server(args);
    WsClient reader("reader");
    reader.login(server.port(), "reader");
    std::size_t missing = 0;
    for (const auto& [room, ids] : acked) {
        std::map<std::string, std::string> stored;  // client_msg_id → seq
        std::string since = "0";
        for (int page = 0; page < 100; ++page) {
            REQUIRE(reader.send("join_room", "{\"room\":" + json_quote(room) + ",\"since_seq\":" + since + "}"));
            Event u = reader.wait_for("conversation_update");
            const long n = u.size("/payload/messages");
            REQUIRE(n >= 0);
            for (long i = 0; i < n; ++i) {
                const std::string p = "/payload/messages/" + std::to_string(i);
                stored[u.str(p + "/client_msg_id")] = u.json(p + "/seq");
                since = u.json(p + "/seq");
            }
            if (u.json("/payload/has_more") != "true") break;
        }
        for (const auto& [id, seq] : ids) {
            auto it = stored.find(id);
            if (it == stored.end() || it->second != seq) {
                ++missing;
                UNSCOPED_INFO(room << " " << id << " acknowledged as seq " << seq << ", stored: "
                                   << (it == stored.end() ? "missing" : it->second));
            }
        }
    }
    CHECK(missing == 0);
}

TEST_CASE("during shutdown the listener is closed and a late upgrade gets 503", "[integration][shutdown]") {
    ServerProcess server({}, 10000ms, /*capture_stderr=*/true);
    const std::uint16_t port = server.port();

    // A WebSocket that will never answer the server's close keeps the
    // server in its drain (at most 2 s), long enough to look at it.
    raw_socket stubborn(port);
    REQUIRE(stubborn.connected());
    REQUIRE(stubborn.write_all(upgrade_request()));
    REQUIRE(stubborn.read_response(3000ms).rfind("HTTP/1.1 101", 0) == 0);
    // A connection the server has accepted but whose request is not sent yet.
    raw_socket early(port);
    REQUIRE(early.connected());
    WsClient alice("alice");
    alice.login(port, "alice");  // also proves the two above were accepted

    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(server.signal(SIGTERM));
    CHECK(alice.closed_with(3000ms) == 1001);

    // The server is still draining (stubborn has not answered): it no
    // longer listens, and the request that was already connected is refused.
    REQUIRE(server.running());
    raw_socket late(port);
    CHECK_FALSE(late.connected());
    CHECK(late.connect_errno == ECONNREFUSED);
    REQUIRE(early.write_all(upgrade_request()));
    const std::string answer = early.read_response(3000ms);
    INFO(answer);
    CHECK(answer.rfind("HTTP/1.1 503", 0) == 0);
    CHECK(answer.find("\"code\":\"unavailable\"") != std::string::npos);

    const std::optional<int> code = server.wait_exit(5000ms);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(elapsed < 5000ms);
}

}  // namespace livechat_itest_shutdown
