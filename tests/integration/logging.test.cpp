// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: what livechat-server writes to stderr. One key=value line
// per event through one sink, --log-level, and a rate limit per kind of
// event that keeps a hostile client from filling the log.
#include "proc_stats.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_logging {

using namespace livechat_itest;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// Sends one operator message in a conversation room: a server without
/// --line-channel-token logs it (event=outbound_not_pushed, level info).
void send_operator_message(std::uint16_t port) {
  WsClient c("operator");
  REQUIRE(c.connect(port));
  REQUIRE(c.send("auth", R"({"token":"operator"})"));
  c.expect("auth_success");
  c.expect("presence_update");
  REQUIRE(c.send("join_room", R"({"room":"conversation:Ulog"})"));
  c.expect("conversation_update");
  REQUIRE(c.send("send_message", R"({"room":"conversation:Ulog","text":"hello"})"));
  c.wait_for("message_sent");
}

/// `count` connections in batches of `batch`, each made by `start` and
/// driven until the server answered or closed it.
template <class Start>
void churn(int count, int batch, Start start) {
  for (int done = 0; done < count; done += batch) {
    std::vector<std::unique_ptr<raw_ws>> conns;
    std::vector<raw_ws*> ptrs;
    for (int i = 0; i < batch && done + i < count; ++i) {
      conns.push_back(std::make_unique<raw_ws>());
      start(*conns.back());
      ptrs.push_back(conns.back().get());
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      pump(ptrs, 50ms);
      bool all = true;
      for (auto* c : ptrs) {
        if (c->upgraded()) {  // hostile frame once upgraded, then wait for the end
          while (c->pop()) {
          }
        }
        if (!c->eof() && c->is_open()) all = false;
      }
      if (all) break;
    }
  }
}

}  // namespace

TEST_CASE("The log level flag takes a level name (--log-level), anything else exits 2", "[integration][logs]") {
  RunResult bad = run_server_binary({"--port", "0", "--store", "memory", "--log-level", "bogus"});
  INFO(bad.output);
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("--log-level") != std::string::npos);
  RunResult help = run_server_binary({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.output.find("--log-level") != std::string::npos);
}

TEST_CASE("log lines are key=value, and --log-level error hides info lines", "[integration][logs]") {
  {
    ServerProcess server({"--store", "memory"}, 10s, /*capture_stderr=*/true);
    send_operator_message(server.port());
    REQUIRE(server.stop() == 0);
    const std::string out = server.output_after_exit();
    INFO(out);
    bool seen = false;
    for (const auto& line : lines_of(out)) {
      if (line.rfind("livechat-server listening on", 0) == 0) continue;
      CHECK(line.rfind("ts=", 0) == 0);
      CHECK(line.find(" level=") != std::string::npos);
      CHECK(line.find(" event=") != std::string::npos);
      if (line.find("level=info event=outbound_not_pushed") != std::string::npos) {
        seen = true;
        CHECK(line.find("room=conversation:Ulog") != std::string::npos);
        CHECK(line.find("from=operator") != std::string::npos);
        CHECK(line.find("bytes=5") != std::string::npos);
        CHECK(line.find("hello") == std::string::npos);  // never the text
      }
    }
    CHECK(seen);
  }
  {
    ServerProcess server({"--store", "memory", "--log-level", "error"}, 10s, /*capture_stderr=*/true);
    send_operator_message(server.port());
    REQUIRE(server.stop() == 0);
    const std::string out = server.output_after_exit();
    INFO(out);
    CHECK(out.find("livechat-server listening on") != std::string::npos);
    CHECK(out.find("outbound") == std::string::npos);
    CHECK(out.find("level=info") == std::string::npos);
  }
}

TEST_CASE("a flood of hostile handshakes and frames leaves a bounded log", "[integration][logs][hostile]") {
  // Before the sink every refused handshake and every protocol error was a
  // line of websocketpp's; now each kind gets at most 10 lines per second
  // plus one summary.
  ServerProcess server({"--store", "memory", "--max-connections-per-ip", "0"}, 10s, /*capture_stderr=*/true);
  const std::uint16_t port = server.port();
  constexpr int kEach = 600;
  const auto start = std::chrono::steady_clock::now();
  // Handshakes for a path that has no WebSocket: refused with 404.
  churn(kEach, 100, [port](raw_ws& ws) { ws.start(port, 0, "/not-the-websocket"); });
  // Upgraded connections that break RFC 6455 at once: an unmasked frame,
  // reserved bits, invalid UTF-8 in a text frame.
  int n = 0;
  churn(kEach, 100, [port, &n](raw_ws& ws) {
    ws.start(port);
    const int kind = n++ % 3;
    if (kind == 0) ws.send_frame(ws_opcode::text, "{\"type\":\"ping\"}", true, /*mask=*/false);
    if (kind == 1) ws.send_frame(ws_opcode::text, "{\"type\":\"ping\"}", true, true, /*rsv=*/4);
    if (kind == 2) ws.send_frame(ws_opcode::text, "\xff\xfe", true, true);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::this_thread::sleep_for(1500ms);  // every window ends; the tick writes the summaries
  const std::string out = server.output();
  const auto lines = lines_of(out);
  std::size_t suppressed = 0;
  for (const auto& line : lines)
    if (line.find("event=log_suppressed") != std::string::npos) ++suppressed;
  INFO("flood of " << 2 * kEach << " hostile connections over " << seconds << " s: " << lines.size()
                   << " lines, " << suppressed << " summaries\n"
                   << tail(out, 3000));
  CHECK(out.find("suppressed=") != std::string::npos);
  CHECK(out.find("event=handshake_refused") != std::string::npos);
  // A few kinds (handshake_refused, websocketpp_error), 10 lines each per
  // second of flood, a summary each per window, the listening line.
  const double bound = 3 * 11 * (seconds + 2) + 1;
  CHECK(static_cast<double>(lines.size()) <= bound);
  CHECK(lines.size() < static_cast<std::size_t>(kEach));
  REQUIRE(server.stop() == 0);
}

}  // namespace livechat_itest_logging
