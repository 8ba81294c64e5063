// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: process lifecycle of livechat-server: command-line flags,
// graceful shutdown on SIGTERM, and the auth timeout.
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <string>
#include <utility>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_lifecycle {

using namespace livechat_itest;
using namespace std::chrono_literals;

TEST_CASE("SIGTERM closes every WebSocket with 1001 and exits 0", "[integration][shutdown]") {
    ServerProcess server;
    const std::uint16_t port = server.port();

    WsClient a("alice");
    a.login(port, "alice");
    WsClient b("bob");
    b.login(port, "bob");
    REQUIRE(b.send("join_room", R"({"room":"conversation:U1"})"));
    b.expect("conversation_update");
    WsClient anon("not authenticated");
    REQUIRE(anon.connect(port));
    CHECK(types_of(anon.sync()).empty());  // the server has fully accepted it

    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(server.signal(SIGTERM));
    const std::optional<int> code = server.wait_exit(5000ms);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    INFO("server exited after " << elapsed.count() << " ms; stdout: " << server.output());
    REQUIRE(code.has_value());
    CHECK(*code == 0);

    CHECK(a.closed_with(2000ms) == 1001);
    CHECK(b.closed_with(2000ms) == 1001);
    CHECK(anon.closed_with(2000ms) == 1001);
}

TEST_CASE("SIGINT shuts down cleanly too", "[integration][shutdown]") {
    ServerProcess server;
    WsClient a("alice");
    a.login(server.port(), "alice");
    REQUIRE(server.signal(SIGINT));
    const std::optional<int> code = server.wait_exit(5000ms);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(a.closed_with(2000ms) == 1001);
}

TEST_CASE("a connection that does not authenticate within 10 s is closed with 4001",
          "[integration][slow]") {
    ServerProcess server;
    WsClient c("silent");
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(c.connect(server.port()));
    // A ping does not count as authentication.
    REQUIRE(c.send("ping"));
    c.expect("pong");
    const int code = c.closed_with(14000ms);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    INFO("closed after " << elapsed.count() << " ms");
    CHECK(code == 4001);
    CHECK(elapsed >= 9000ms);
}

TEST_CASE("command-line flags", "[integration][flags]") {
    SECTION("--help exits 0 and lists every flag") {
        RunResult r = run_server_binary({"--help"});
        INFO(r.output);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 0);
        for (const char* flag : {"--host", "--port", "--store", "--auth", "--jwt-secret", "--jwt-issuer",
                                 "--jwt-audience", "--line-channel-secret", "--web-root", "--client-root",
                                 "--allowed-origin", "--reject-missing-origin", "--max-connections-per-user",
                                 "--max-connections-per-ip", "--rate-burst", "--rate-per-second",
                                 "--max-unsent-bytes", "--soft-unsent-bytes", "--auth-timeout-ms",
                                 "--idle-timeout-ms", "--max-rooms-per-connection", "--trusted-proxy"}) {
            INFO(flag);
            CHECK(r.output.find(flag) != std::string::npos);
        }
    }
    SECTION("--port abc exits 2") {
        RunResult r = run_server_binary({"--port", "abc"});
        INFO(r.output);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 2);
    }
    SECTION("--port out of range exits 2") {
        RunResult r = run_server_binary({"--port", "70000"});
        INFO(r.output);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 2);
    }
    SECTION("--port without a value exits 2") {
        RunResult r = run_server_binary({"--port"});
        INFO(r.output);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 2);
    }
    SECTION("an unknown flag exits 2") {
        RunResult r = run_server_binary({"--no-such-flag"});
        INFO(r.output);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_code == 2);
    }
    SECTION("--trusted-proxy refuses what is not an address or a range, with the reason") {
        const std::pair<const char*, const char*> cases[] = {
            {"nginx.internal", "'nginx.internal' is not an IPv4 or IPv6 address"},
            {"10.0.0.1/8", "the range is 10.0.0.0/8"},
            {"10.0.0.0/33", "from 0 to 32"},
            {"fd00::/200", "from 0 to 128"},
            {"10.0.0.0/", "from 0 to 32, got ''"},
        };
        for (const auto& c : cases) {
            RunResult r = run_server_binary({"--trusted-proxy", "127.0.0.1", "--trusted-proxy", c.first});
            INFO(c.first << ": " << r.output);
            CHECK_FALSE(r.timed_out);
            CHECK(r.exit_code == 2);
            CHECK(r.output.find("--trusted-proxy") != std::string::npos);
            CHECK(r.output.find(c.second) != std::string::npos);
        }
    }
}

}  // namespace livechat_itest_lifecycle
