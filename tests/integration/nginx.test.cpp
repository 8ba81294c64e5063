// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: livechat-server behind a real nginx (nginx_process.hpp, the
// configuration of docs/cluster.md): two nodes on one PostgreSQL store,
// the WebSocket upgrade and REST through the proxy, a client that moves
// from one node to the other through it and resumes with `since_seq` (no
// gap, no duplicate), and --max-connections-per-ip counted per client
// address behind the proxy when it is a --trusted-proxy, and as the
// proxy's one address when it is not.
//
// Without nginx the test is skipped with a message, except in CI (`CI` or
// LIVECHAT_REQUIRE_NGINX set, as scripts/test.sh does after installing
// it), where a missing nginx fails it.
#if defined(LIVECHAT_TEST_POSTGRESQL)

#include "nginx_process.hpp"
#include "postgres_fixture.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_nginx {

using namespace livechat_itest;

namespace {

const std::string kRoom = "conversation:Uproxied";

/// A WebSocket upgrade sent by hand (the test client cannot add
/// X-Forwarded-For), held open until destroyed.
class raw_upgrade {
 public:
  raw_upgrade(std::uint16_t port, const std::string& path, const std::string& forwarded_for) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!forwarded_for.empty()) req += "X-Forwarded-For: " + forwarded_for + "\r\n";
    req += "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return;
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (got.find("\r\n\r\n") == std::string::npos && got.size() < 16384) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    if (got.rfind("HTTP/1.1 ", 0) == 0 && got.size() >= 12) status_ = std::atoi(got.substr(9, 3).c_str());
  }
  ~raw_upgrade() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_upgrade(const raw_upgrade&) = delete;
  raw_upgrade& operator=(const raw_upgrade&) = delete;

  int status() const { return status_; }

 private:
  int fd_ = -1;
  int status_ = 0;
};

/// Opens `count` upgrades through the proxy, one per X-Forwarded-For
/// value given, and returns their statuses (the sockets stay open in `held`).
std::vector<int> upgrades(std::uint16_t port, const std::string& path, const std::vector<std::string>& xff,
                          std::vector<std::unique_ptr<raw_upgrade>>& held) {
  std::vector<int> statuses;
  for (const auto& x : xff) {
    held.push_back(std::make_unique<raw_upgrade>(port, path, x));
    statuses.push_back(held.back()->status());
  }
  return statuses;
}

/// connect + auth through `path` (WsClient::login takes the default path).
void login_via(WsClient& c, std::uint16_t port, const std::string& path, const std::string& user) {
  ConnectResult r = c.connect(port, path);
  INFO(user << " through " << path << ": " << r);
  REQUIRE(r);
  REQUIRE(c.send("auth", "{\"token\":" + json_quote(user) + "}"));
  c.expect("auth_success");
  c.expect("presence_update");
}

Event say(WsClient& c, const std::string& text, const std::string& id) {
  REQUIRE(c.send("send_message", "{\"room\":\"" + kRoom + "\",\"text\":\"" + text +
                                     "\",\"client_msg_id\":\"" + id + "\"}"));
  return c.wait_for("message_sent");
}

}  // namespace

TEST_CASE("Behind nginx: upgrade, REST, a client moving between nodes, the cap per client address",
          "[integration][nginx][postgresql]") {
  const std::string nginx = find_nginx();
  if (nginx.empty()) {
    const bool ci = std::getenv("CI") != nullptr || std::getenv("LIVECHAT_REQUIRE_NGINX") != nullptr;
    if (ci) FAIL("nginx is not installed (scripts/install-deps.sh installs it); CI must run this test");
    WARN("skipped: nginx is not installed (scripts/install-deps.sh installs it)");
    return;
  }
  livechat_test::postgres_server* pg = livechat_test::postgres_server::shared();
  INFO("no PostgreSQL for the tests: " << livechat_test::postgres_server::start_error());
  REQUIRE(pg != nullptr);
  const std::string schema = pg->create_schema();
  INFO(pg->last_error());
  REQUIRE_FALSE(schema.empty());

  // Nodes 0 and 1: the cluster, trusting the proxy. Node 2 does not
  // trust it (a memory store: it only shows the cap). A small cap, and an
  // auth timeout that leaves the held upgrades alone.
  const std::vector<std::string> limits = {"--max-connections-per-ip", "3", "--auth-timeout-ms", "60000"};
  std::vector<std::string> trusting = {"--store", pg->uri(schema), "--trusted-proxy", "127.0.0.1"};
  trusting.insert(trusting.end(), limits.begin(), limits.end());
  ServerProcess a(trusting, std::chrono::milliseconds(10000), true);
  ServerProcess b(trusting);
  ServerProcess c(limits, std::chrono::milliseconds(10000), true);
  NginxProcess proxy(nginx, {a.port(), b.port(), c.port()}, 2);
  INFO(proxy.error());
  REQUIRE(proxy.ok());
  const std::uint16_t port = proxy.port();
  const std::string ws0 = "/node-0" + std::string(kWsPath), ws1 = "/node-1" + std::string(kWsPath),
                    ws2 = "/node-2" + std::string(kWsPath);

  SECTION("REST and the WebSocket through nginx; a client moves from node 0 to node 1") {
    // The balanced location reaches both nodes.
    for (int i = 0; i < 2; ++i) {
      HttpResponse h = http_get(port, "/healthz");
      INFO(h);
      CHECK(h.status == 200);
    }
    std::string epoch;
    {
      WsClient alice("alice");
      login_via(alice, port, ws0, "alice");
      REQUIRE(alice.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
      epoch = alice.wait_for("conversation_update").str("/payload/epoch");
      CHECK(say(alice, "one", "a1").json("/payload/message/seq") == "1");
      CHECK(say(alice, "two", "a2").json("/payload/message/seq") == "2");
      CHECK(alice.close());
    }
    // Meanwhile an operator posts on node 1 over REST, through nginx.
    const std::string auth = "Authorization: Bearer op\r\n";
    for (const char* text : {"three", "four"}) {
      HttpResponse r = http_post(port, "/node-1/api/v1/conversations/Uproxied/messages",
                                 std::string("{\"text\":\"") + text + "\"}", auth);
      INFO(r);
      REQUIRE(r.status == 201);
    }
    // alice comes back on node 1 and resumes after seq 2: 3 and 4, once each.
    WsClient back("alice again");
    login_via(back, port, ws1, "alice");
    REQUIRE(back.send("join_room", "{\"room\":\"" + kRoom + "\",\"since_seq\":2,\"epoch\":" +
                                       json_quote(epoch) + "}"));
    Event resumed = back.wait_for("conversation_update");
    INFO(resumed);
    CHECK(resumed.str("/payload/epoch") == epoch);
    CHECK(resumed.json("/payload/last_seq") == "4");
    CHECK(resumed.json("/payload/messages/0/seq") == "3");
    CHECK(resumed.str("/payload/messages/0/text") == "three");
    CHECK(resumed.json("/payload/messages/1/seq") == "4");
    CHECK_FALSE(resumed.has("/payload/messages/2"));
    CHECK(say(back, "five", "a5").json("/payload/message/seq") == "5");
    // The history over REST on node 0 holds all five, in order.
    HttpResponse h = http_get(port, "/node-0/api/v1/conversations/Uproxied/messages", auth);
    INFO(h);
    REQUIRE(h.status == 200);
    const Event history = Event::from_text(h.body);
    for (int i = 0; i < 5; ++i) CHECK(history.json("/messages/" + std::to_string(i) + "/seq") == std::to_string(i + 1));
  }

  SECTION("the cap counts each client behind a trusted proxy, and the proxy once when not trusted") {
    std::vector<std::unique_ptr<raw_upgrade>> held;
    // Trusted: 10.0.0.1 fills its cap of 3; 10.0.0.2 is another client.
    CHECK(upgrades(port, ws0, {"10.0.0.1", "10.0.0.1", "10.0.0.1"}, held) == std::vector<int>{101, 101, 101});
    CHECK(upgrades(port, ws0, {"10.0.0.1"}, held) == std::vector<int>{429});
    CHECK(upgrades(port, ws0, {"10.0.0.2", "10.0.0.2"}, held) == std::vector<int>{101, 101});
    // Plain HTTP counts the same way (REST, the webhook, /healthz).
    HttpResponse full = http_get(port, "/node-0/healthz", "X-Forwarded-For: 10.0.0.1\r\n");
    INFO(full);
    CHECK(full.status == 429);
    HttpResponse other = http_get(port, "/node-0/healthz", "X-Forwarded-For: 10.0.0.9\r\n");
    INFO(other);
    CHECK(other.status == 200);
    // A header that cannot be read counts as the proxy, and is logged.
    CHECK(upgrades(port, ws0, {"bogus"}, held) == std::vector<int>{101});
    // Not trusted: every client is nginx's 127.0.0.1.
    CHECK(upgrades(port, ws2, {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, held) == std::vector<int>{101, 101, 101});
    CHECK(upgrades(port, ws2, {"10.0.0.4"}, held) == std::vector<int>{429});
    held.clear();

    // The logs name the client behind the trusted proxy, and the proxy
    // where it is not trusted.
    CHECK(a.stop() == 0);
    CHECK(c.stop() == 0);
    const std::string log_a = a.output(), log_c = c.output();
    INFO(log_a);
    CHECK(log_a.find("event=handshake_refused remote=10.0.0.1 via=127.0.0.1 status=429 reason=ip_cap") !=
          std::string::npos);
    CHECK(log_a.find("event=forwarded_for_ignored peer=127.0.0.1 reason=\"entry 2 from the right") !=
          std::string::npos);
    INFO(log_c);
    CHECK(log_c.find("event=handshake_refused remote=127.0.0.1") != std::string::npos);
    CHECK(log_c.find("10.0.0.4") == std::string::npos);
  }
  CHECK(proxy.error_log().find("[emerg]") == std::string::npos);
}

}  // namespace livechat_itest_nginx

#endif
