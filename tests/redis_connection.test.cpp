// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// redis::connection and redis::broker against a real redis-server
// (redis_fixture.hpp): publish and subscribe, a kill and a restart
// (reconnect with backoff, subscriptions renewed and confirmed again),
// the bound on unanswered bytes while Redis does not read, URL parsing.
// Its own binary, one ctest case (livechat.redis_connection).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <livechat/redis/broker.hpp>

#include "redis_fixture.hpp"

namespace {

using namespace std::chrono_literals;

/// Runs `io` until `done()` or `limit`.
template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

livechat::redis::connection_options options(int port) {
  livechat::redis::connection_options o;
  o.port = static_cast<std::uint16_t>(port);
  return o;
}

}  // namespace

TEST_CASE("redis broker: publish and subscribe, a kill and a restart", "[redis]") {
  livechat_test::redis_server redis;
  INFO(redis.error());
  REQUIRE(redis.ok());
  asio::io_context io;
  livechat::redis::broker a(io, options(redis.port()));
  livechat::redis::broker b(io, options(redis.port()));
  std::vector<std::string> got, confirmed;
  std::vector<bool> states;
  b.on_message([&](std::string_view ch, std::string_view m) { got.push_back(std::string(ch) + "=" + std::string(m)); });
  b.on_subscribed([&](std::string_view ch) { confirmed.push_back(std::string(ch)); });
  b.on_state([&](bool up, std::string_view) { states.push_back(up); });
  b.subscribe("room:1");
  a.start();
  b.start();
  REQUIRE(run_until(io, [&] { return a.up() && b.up() && confirmed.size() == 1; }));
  CHECK(states == std::vector<bool>{true});
  const std::string binary("x\0y\r\n", 5);
  REQUIRE(a.publish("room:1", binary));
  REQUIRE(a.publish("room:2", "not subscribed"));
  REQUIRE(run_until(io, [&] { return !got.empty(); }));
  run_until(io, [] { return false; }, 50ms);
  CHECK(got == std::vector<std::string>{"room:1=" + binary});

  // Killed: both notice, publishing is refused (never queued without bound).
  redis.kill();
  REQUIRE(run_until(io, [&] { return !a.up() && !b.up(); }));
  CHECK(states == std::vector<bool>{true, false});
  CHECK_FALSE(a.publish("room:1", "lost"));
  CHECK(a.publisher().stats().dropped >= 1);

  // Back: both reconnect by themselves and the subscription is renewed.
  REQUIRE(redis.start());
  REQUIRE(run_until(io, [&] { return a.up() && b.up() && confirmed.size() == 2; }));
  CHECK(states == std::vector<bool>{true, false, true});
  got.clear();
  REQUIRE(a.publish("room:1", "after"));
  REQUIRE(run_until(io, [&] { return !got.empty(); }));
  CHECK(got == std::vector<std::string>{"room:1=after"});

  // Unsubscribed: nothing more arrives.
  b.unsubscribe("room:1");
  run_until(io, [] { return false; }, 50ms);
  got.clear();
  REQUIRE(a.publish("room:1", "gone"));
  run_until(io, [] { return false; }, 100ms);
  CHECK(got.empty());
  a.stop();
  b.stop();
}

TEST_CASE("redis connection: unanswered bytes stay under the bound while Redis does not read", "[redis]") {
  livechat_test::redis_server redis;
  REQUIRE(redis.ok());
  asio::io_context io;
  auto o = options(redis.port());
  o.max_pending_bytes = 256 * 1024;
  livechat::redis::connection c(io, o);
  c.start();
  REQUIRE(run_until(io, [&] { return c.up(); }));
  // A Redis that stopped (SIGSTOP) answers nothing: the bound holds.
  REQUIRE(::kill(redis.pid(), SIGSTOP) == 0);
  const std::string payload(1000, 'p');
  std::size_t accepted = 0;
  for (int i = 0; i < 2000; ++i) {
    if (c.publish("ch", payload)) ++accepted;
    if (i % 100 == 0) run_until(io, [] { return false; }, 1ms);
  }
  CHECK(c.pending_bytes() <= o.max_pending_bytes);
  CHECK(accepted < 2000);
  CHECK(c.stats().dropped == 2000 - accepted);
  REQUIRE(::kill(redis.pid(), SIGCONT) == 0);
  REQUIRE(run_until(io, [&] { return c.pending_bytes() == 0; }));
  CHECK(c.publish("ch", payload));
  c.stop();
}

// A Redis that died (FIN, then RST for what was written after it) sets the
// socket's error to EPIPE; hiredis's next write(2) then raises SIGPIPE,
// whose default action ends the process, before any read could notice the
// end. The connection writes with SIGPIPE blocked: it only goes down. In a
// child process, whose death by SIGPIPE the parent sees.
TEST_CASE("redis connection: writing to a Redis that is gone does not raise SIGPIPE", "[redis]") {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // 0: went down without a signal; 2: never connected; 3: stayed up.
    ::signal(SIGPIPE, SIG_DFL);
    asio::io_context io;
    livechat::redis::connection c(io, options(port));
    c.start();
    if (!run_until(io, [&] { return c.up(); }, 2000ms)) ::_exit(2);
    const int peer = ::accept(listener, nullptr, nullptr);
    ::close(peer);  // FIN: the "Redis" is gone
    std::this_thread::sleep_for(50ms);
    // Each write without running the loop (no read sees the end first):
    // the first is answered with RST, the second finds EPIPE.
    for (int i = 0; i < 3 && c.up(); ++i) {
      c.publish("ch", "after the end");
      c.flush();
      std::this_thread::sleep_for(50ms);
    }
    run_until(io, [&] { return !c.up(); }, 2000ms);
    ::_exit(c.up() ? 3 : 0);
  }
  ::close(listener);
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 500 && (waited = ::waitpid(child, &status, WNOHANG)) == 0; ++i)
    std::this_thread::sleep_for(10ms);
  if (waited == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }
  INFO("child status " << status);
  CHECK_FALSE((WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("redis URL", "[redis]") {
  std::string why;
  auto o = livechat::redis::parse_redis_url("redis://10.0.0.5:6380", why);
  REQUIRE(o);
  CHECK(o->host == "10.0.0.5");
  CHECK(o->port == 6380);
  o = livechat::redis::parse_redis_url("redis://cache/", why);
  REQUIRE(o);
  CHECK(o->port == 6379);
  for (const char* bad : {"http://x:1", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536",
                          "redis://h:12a", "redis://user:pw@h:1", "redis://h:1/2"}) {
    INFO(bad);
    CHECK_FALSE(livechat::redis::parse_redis_url(bad, why));
    CHECK_FALSE(why.empty());
  }
}
