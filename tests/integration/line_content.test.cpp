// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: a customer's rich messages through the LINE webhook
// (PROTOCOL.md "Rich messages"): sticker and location stored as metadata,
// an image stored pending and then fetched from a stub of the Messaging
// API's content endpoint (ready, the same bytes at its url), a fetch that
// fails three times (failed), and no channel token (failed at once); a
// fetch a SIGKILLed server left pending is resumed by the next start, and
// a redelivered webhook retries a transient failure (never a 404).
// Needs a server that talks to LINE (libcurl), as line_push.test.cpp.
#ifdef LIVECHAT_TEST_LINE_PUSH
#include "server_process.hpp"
#include "stub_reply.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_line_content {

using namespace livechat_itest;

namespace {

const std::string kUser = "Ucontent0123456789";
const std::string kRoom = "conversation:" + kUser;

/// A one-thread HTTP/1.1 stub on 127.0.0.1: each content request gets the
/// status and body `script(n)` says (n from 0: the content requests so
/// far); a profile request gets a 404; the request lines are recorded.
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
      const bool profile = head.rfind("GET /v2/bot/profile/", 0) == 0;
      std::size_t index = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        index = content_requests_;
        if (!profile) ++content_requests_;
        requests_.push_back(head.substr(0, head.find("\r\n\r\n")));
      }
      const reply r = profile ? reply{404, "{}", "application/json"} : script_(index);
      send_stub_reply(c, r.status, r.content_type, r.body);
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
  std::size_t content_requests_ = 0;
};

/// Polls until the stub has seen `n` content requests (at most 10 s).
bool wait_requests(content_stub& stub, std::size_t n) {
  for (int i = 0; i < 200 && stub.requests().size() < n; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return stub.requests().size() >= n;
}

/// The conversation's first message as the REST history shows it, polled
/// until its attachment's status is `status` (at most 15 s).
Event first_message_when(std::uint16_t port, const std::string& status) {
  Event m = Event::from_text("{}");
  for (int i = 0; i < 300; ++i) {
    HttpResponse hist = http_get(port, "/api/v1/conversations/" + kUser + "/messages",
                                 "Authorization: Bearer op\r\n");
    if (hist.status == 200) {
      m = Event::from_text(hist.body);
      if (m.has("/messages/0/attachment/status") && m.str("/messages/0/attachment/status") == status)
        return m;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return m;
}

#ifdef LIVECHAT_ITEST_SQLITE
/// A fresh database path under the temp dir, removed (with -wal/-shm) at the end.
struct temp_db {
  std::string path;
  temp_db() {
    static int counter = 0;
    path = (std::filesystem::temp_directory_path() /
            ("livechat-line-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".db"))
               .string();
    remove_all();
  }
  ~temp_db() { remove_all(); }
  void remove_all() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};
#endif

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

#ifdef LIVECHAT_ITEST_SQLITE
TEST_CASE("LINE rich messages: a fetch a killed server left pending is resumed at the next start",
          "[integration][line_content]") {
  temp_db db;
  const std::string png = "\x89PNG\r\n\x1a\n" + std::string(2000, '\x07');
  std::atomic<bool> release{false};
  content_stub stub([&](std::size_t n) {
    // The first download hangs until the server that asked is gone.
    for (int i = 0; n == 0 && i < 200 && !release; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return content_stub::reply{200, png, "image/png"};
  });
  const std::vector<std::string> args = {"--store", "sqlite:" + db.path, "--line-channel-token", "tok",
                                         "--line-api-base",
                                         "http://127.0.0.1:" + std::to_string(stub.port())};
  {
    ServerProcess server(args);
    REQUIRE(post_events(server.port(), {message_event("K1", R"({"type":"image","id":"8001"})")}).status ==
            200);
    REQUIRE(wait_requests(stub, 1));
    REQUIRE(server.signal(SIGKILL));
    REQUIRE(server.wait_exit(std::chrono::milliseconds(5000)).has_value());
  }
  release = true;
  ServerProcess server(args);
  Event m = first_message_when(server.port(), "ready");
  INFO(m);
  REQUIRE(m.str("/messages/0/attachment/status") == "ready");
  CHECK(m.json("/messages/0/attachment/size") == std::to_string(png.size()));
  CHECK(http_get(server.port(), m.str("/messages/0/attachment/url")).body == png);
  const auto requests = stub.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].rfind("GET /v2/bot/message/8001/content HTTP/1.1", 0) == 0);
}
#endif

TEST_CASE("LINE rich messages: a redelivery retries a transient failure, never a 404",
          "[integration][line_content]") {
  const std::string jpeg = "\xff\xd8\xff\xe0" + std::string(500, '\x11') + "\xff\xd9";
  SECTION("three 503s, then the redelivery gets it") {
    content_stub stub([&](std::size_t n) {
      return n < 3 ? content_stub::reply{503, "{}", "application/json"}
                   : content_stub::reply{200, jpeg, "image/jpeg"};
    });
    ServerProcess server({"--line-channel-token", "tok", "--line-api-base",
                          "http://127.0.0.1:" + std::to_string(stub.port())});
    WsClient member("member");
    member.login(server.port(), "op");
    REQUIRE(member.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
    member.expect("conversation_update");
    const std::string event = message_event("R1", R"({"type":"image","id":"9001"})");
    REQUIRE(post_events(server.port(), {event}).status == 200);
    CHECK(member.wait_for("attachment_updated", Millis(30000)).str("/payload/attachment/status") ==
          "failed");
    REQUIRE(post_events(server.port(), {event}).status == 200);
    Event updated = member.wait_for("attachment_updated", Millis(10000));
    INFO(updated);
    CHECK(updated.str("/payload/attachment/status") == "ready");
    CHECK(updated.json("/payload/seq") == "1");
    CHECK(http_get(server.port(), updated.str("/payload/attachment/url")).body == jpeg);
    CHECK(stub.requests().size() == 4);
  }
  SECTION("a 404 stays failed") {
    content_stub stub([&](std::size_t) { return content_stub::reply{404, "{}", "application/json"}; });
    ServerProcess server({"--line-channel-token", "tok", "--line-api-base",
                          "http://127.0.0.1:" + std::to_string(stub.port())});
    WsClient member("member");
    member.login(server.port(), "op");
    REQUIRE(member.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
    member.expect("conversation_update");
    const std::string event = message_event("R2", R"({"type":"video","id":"9002"})");
    REQUIRE(post_events(server.port(), {event}).status == 200);
    CHECK(member.wait_for("attachment_updated").str("/payload/attachment/status") == "failed");
    REQUIRE(post_events(server.port(), {event}).status == 200);
    // The redelivery is answered after its decision: a fetch would have started by now.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(stub.requests().size() == 1);
  }
}

TEST_CASE("LINE rich messages: a download in flight holds upload memory", "[integration][line_content][upload]") {
  const std::string jpeg = "\xff\xd8\xff\xe0" + std::string(50000, '\x21') + "\xff\xd9";
  std::atomic<bool> release{false};
  content_stub stub([&](std::size_t) {
    for (int i = 0; i < 400 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return content_stub::reply{200, jpeg, "image/jpeg"};
  });
  ServerProcess server({"--line-channel-token", "tok", "--line-api-base",
                        "http://127.0.0.1:" + std::to_string(stub.port()), "--max-attachment-bytes",
                        "100000", "--max-upload-memory-bytes", "150000"});
  const std::uint16_t port = server.port();
  WsClient member("member");
  member.login(port, "op");
  REQUIRE(member.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
  member.expect("conversation_update");
  REQUIRE(post_events(port, {message_event("M1", R"({"type":"image","id":"9101"})")}).status == 200);
  REQUIRE(wait_requests(stub, 1));
  // The download may bring up to 100000 bytes: 60000 more do not fit.
  const std::string body(60000, 'u');
  HttpResponse refused = http_post(port, "/api/v1/attachments?name=u.bin", body,
                                   "Authorization: Bearer op\r\n", "application/octet-stream");
  INFO(refused);
  CHECK(refused.status == 503);
  release = true;
  CHECK(member.wait_for("attachment_updated", Millis(10000)).str("/payload/attachment/status") == "ready");
  CHECK(http_post(port, "/api/v1/attachments?name=u.bin", body, "Authorization: Bearer op\r\n",
                  "application/octet-stream")
            .status == 201);
}

#endif  // LIVECHAT_TEST_LINE_PUSH

}  // namespace livechat_itest_line_content
