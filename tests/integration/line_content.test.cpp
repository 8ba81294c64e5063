// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: a customer's rich messages through the LINE webhook
// (PROTOCOL.md "Rich messages"): sticker and location stored as metadata,
// an image stored pending and then fetched from a stub of the Messaging
// API's content endpoint (ready, the same bytes at its url), a fetch that
// fails three times (failed), and no channel token (failed at once).
// Needs a server that talks to LINE (libcurl), as line_push.test.cpp.
#ifdef LIVECHAT_TEST_LINE_PUSH
#include "server_process.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace livechat_itest;

namespace {

const std::string kUser = "Ucontent0123456789";
const std::string kRoom = "conversation:" + kUser;

/// A one-thread HTTP/1.1 stub on 127.0.0.1: each request gets the status
/// and body `script(n)` says (n from 0); the request lines are recorded.
class content_stub {
 public:
  struct reply {
    int status = 200;
    std::string body;
    std::string content_type = "image/jpeg";
  };
  using script_fn = std::function<reply(std::size_t)>;

  explicit content_stub(script_fn script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~content_stub() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  /// The content downloads' request heads (the server also asks this
  /// stub for the customer's profile: not counted here).
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& r : requests_)
      if (r.rfind("GET /v2/bot/profile/", 0) != 0) out.push_back(r);
    return out;
  }

 private:
  void run() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      for (int i = 0; i < 100 && head.find("\r\n\r\n") == std::string::npos; ++i) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 100) <= 0) continue;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t index = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        index = requests_.size();
        requests_.push_back(head.substr(0, head.find("\r\n\r\n")));
      }
      const reply r = script_(index);
      std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Type: " +
                        r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                        "\r\nConnection: close\r\n\r\n" + r.body;
      std::size_t sent = 0;
      while (sent < out.size()) {
        const ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  }

  script_fn script_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

std::string message_event(const std::string& event_id, const std::string& message) {
  return R"({"type":"message","timestamp":1,"source":{"type":"user","userId":")" + kUser +
         R"("},"webhookEventId":")" + event_id + R"(","message":)" + message + "}";
}

HttpResponse post_events(std::uint16_t port, const std::vector<std::string>& events) {
  std::string body = R"({"destination":"U0","events":[)";
  for (std::size_t i = 0; i < events.size(); ++i) body += (i ? "," : "") + events[i];
  return http_post(port, "/api/v1/webhook", body + "]}");
}

}  // namespace

TEST_CASE("LINE rich messages: stored, fetched, ready with the same bytes", "[integration][line_content]") {
  const std::string jpeg = "\xff\xd8\xff\xe0" + std::string(3000, '\x42') + "\xff\xd9";
  content_stub stub([&](std::size_t) { return content_stub::reply{200, jpeg, "image/jpeg"}; });
  ServerProcess server({"--line-channel-token", "tok", "--line-api-base",
                        "http://127.0.0.1:" + std::to_string(stub.port())});
  const std::uint16_t port = server.port();
  WsClient member("member");
  member.login(port, "op");
  REQUIRE(member.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
  member.expect("conversation_update");
  WsClient watcher("watcher");
  watcher.login(port, "boss");
  REQUIRE(watcher.send("watch_inbox"));
  watcher.expect("inbox_update");

  HttpResponse r = post_events(
      port, {message_event("E1", R"({"type":"image","id":"5001","contentProvider":{"type":"line"}})"),
             message_event("E2", R"({"type":"sticker","id":"5002","packageId":"446","stickerId":"1988"})"),
             message_event("E3", R"({"type":"location","id":"5003","title":"Tower","address":"Tokyo",)"
                                 R"("latitude":35.65,"longitude":139.74})")});
  INFO(r);
  REQUIRE(r.status == 200);
  Event image = member.wait_for("new_message");
  CHECK(image.str("/payload/message/kind") == "image");
  CHECK(image.str("/payload/message/attachment/status") == "pending");
  CHECK_FALSE(image.has("/payload/message/attachment/url"));
  CHECK(member.wait_for("new_message").str("/payload/message/attachment/sticker_id") == "1988");
  Event where = member.wait_for("new_message");
  CHECK(where.str("/payload/message/kind") == "location");
  CHECK(where.str("/payload/message/text") == "Tower");

  Event updated = member.wait_for("attachment_updated");
  CHECK(updated.str("/payload/attachment/status") == "ready");
  CHECK(updated.json("/payload/seq") == "1");
  CHECK(updated.str("/payload/attachment/content_type") == "image/jpeg");
  CHECK(updated.json("/payload/attachment/size") == std::to_string(jpeg.size()));
  CHECK(watcher.wait_for("attachment_updated").str("/payload/attachment/status") == "ready");
  HttpResponse got = http_get(port, updated.str("/payload/attachment/url"));
  CHECK(got.status == 200);
  CHECK(got.body == jpeg);
  const auto requests = stub.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].rfind("GET /v2/bot/message/5001/content HTTP/1.1", 0) == 0);
  CHECK(requests[0].find("Authorization: Bearer tok") != std::string::npos);

  // A redelivery stores nothing again and fetches nothing again.
  REQUIRE(post_events(port, {message_event("E1", R"({"type":"image","id":"5001"})")}).status == 200);
  HttpResponse hist = http_get(port, "/api/v1/conversations/" + kUser + "/messages",
                               "Authorization: Bearer op\r\n");
  CHECK(Event::from_text(hist.body).json("/last_seq") == "3");
  CHECK(stub.requests().size() == 1);
}

TEST_CASE("LINE rich messages: a fetch that fails 3 times, and no token, are failed", "[integration][line_content]") {
  SECTION("three 500s") {
    content_stub stub([](std::size_t) { return content_stub::reply{500, "{}", "application/json"}; });
    ServerProcess server({"--line-channel-token", "tok", "--line-api-base",
                          "http://127.0.0.1:" + std::to_string(stub.port())});
    WsClient member("member");
    member.login(server.port(), "op");
    REQUIRE(member.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
    member.expect("conversation_update");
    REQUIRE(post_events(server.port(), {message_event("F1", R"({"type":"audio","id":"6001","duration":900})")})
                .status == 200);
    Event updated = member.wait_for("attachment_updated", Millis(30000));
    CHECK(updated.str("/payload/attachment/status") == "failed");
    CHECK(updated.json("/payload/attachment/duration_ms") == "900");
    CHECK(stub.requests().size() == 3);
  }
  SECTION("no channel token") {
    ServerProcess server;
    WsClient member("member");
    member.login(server.port(), "op");
    REQUIRE(member.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
    member.expect("conversation_update");
    REQUIRE(post_events(server.port(), {message_event("G1", R"({"type":"file","id":"7001","fileName":"a.pdf","fileSize":10})")})
                .status == 200);
    Event m = member.wait_for("new_message");
    CHECK(m.str("/payload/message/text") == "a.pdf");
    CHECK(member.wait_for("attachment_updated").str("/payload/attachment/status") == "failed");
  }
}

#endif  // LIVECHAT_TEST_LINE_PUSH
