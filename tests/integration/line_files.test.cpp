// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: an operator's file to LINE (PROTOCOL.md "Rich messages"):
// uploaded, sent with send_message, then pushed to a stub of the Messaging
// API as an image message whose urls (from --public-url) serve the same
// bytes, or, without --public-url, as a text with the link; a file that is
// not an image always as a text with the link. And customers: their LINE
// profile fetched on the first message (the name is the user id until
// then), shown in summaries, conversation_update and as sender.name.
// Needs a server that talks to LINE (libcurl), as line_push.test.cpp.
#ifdef LIVECHAT_TEST_LINE_PUSH
#include "line/push_request.hpp"
#include "server_process.hpp"
#include "stub_reply.hpp"
#include "ws_client.hpp"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_line_files {

using namespace livechat_itest;

namespace {

const std::string kUser = "Ufiles0123456789";
const std::string kRoom = "conversation:" + kUser;
const std::string kPublic = "https://chat.example.test/base";

/// A one-thread HTTP/1.1 stub on 127.0.0.1 of the Messaging API: answers
/// every request 200 with `answer(request head)` (default `{}`) and
/// records the request heads and bodies (read up to Content-Length).
class push_stub {
 public:
  using answer_fn = std::function<std::string(const std::string& head)>;
  explicit push_stub(answer_fn answer = [](const std::string&) { return std::string("{}"); })
      : answer_(std::move(answer)) {
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
  ~push_stub() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }
  std::vector<std::string> heads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return heads_;
  }
  /// Waits (bounded) until `n` requests were recorded.
  bool wait_for(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (bodies().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  void run() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string in;
      std::size_t want = std::string::npos;
      char buf[4096];
      for (int i = 0; i < 100 && in.size() < want; ++i) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 100) <= 0) continue;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        const std::size_t end = in.find("\r\n\r\n");
        if (want == std::string::npos && end != std::string::npos) {
          const std::size_t cl = in.find("Content-Length: ");
          const std::size_t length =
              cl < end ? static_cast<std::size_t>(std::strtoul(in.c_str() + cl + 16, nullptr, 10)) : 0;
          want = end + 4 + length;
        }
      }
      const std::size_t end = in.find("\r\n\r\n");
      const std::string head = in.substr(0, end);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        heads_.push_back(head);
        bodies_.push_back(end == std::string::npos ? std::string() : in.substr(end + 4));
      }
      const std::string body = answer_(head);
      send_stub_reply(c, 200, "application/json", body);
      ::close(c);
    }
  }

  answer_fn answer_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> heads_;
  std::vector<std::string> bodies_;
};

/// The one LINE message object of a push body, as a field getter.
struct pushed {
  rapidjson::Document d;
  explicit pushed(const std::string& body) {
    d.Parse(body.data(), body.size());
    REQUIRE_FALSE(d.HasParseError());
    REQUIRE(d.IsObject());
    REQUIRE(d["messages"].IsArray());
    REQUIRE(d["messages"].Size() == 1);
  }
  std::string operator[](const char* key) const {
    const auto& m = d["messages"][0];
    if (!m.HasMember(key) || !m[key].IsString()) return "(none)";
    return std::string(m[key].GetString(), m[key].GetStringLength());
  }
};

/// Uploads `body` as `name` and sends it to kRoom as operator "op"; the
/// attachment's id.
std::string upload_and_send(std::uint16_t port, WsClient& op, const std::string& name,
                            const std::string& type, const std::string& body) {
  HttpResponse up = http_post(port, "/api/v1/attachments?name=" + name, body,
                              "Authorization: Bearer op\r\n", type);
  INFO(up);
  REQUIRE(up.status == 201);
  const std::string id = Event::from_text(up.body).str("/attachment/id");
  REQUIRE(op.send("send_message", "{\"room\":\"" + kRoom + "\",\"attachment_id\":\"" + id + "\"}", name));
  op.wait_for("message_sent");
  return id;
}

/// The server-relative part of `url` when it starts with kPublic.
std::string local_path(const std::string& url) {
  REQUIRE(url.rfind(kPublic + "/api/v1/attachments/", 0) == 0);
  return url.substr(kPublic.size());
}

}  // namespace

TEST_CASE("LINE files: an operator's image is pushed as an image LINE can fetch", "[integration][line_files]") {
  push_stub stub;
  ServerProcess server({"--line-channel-token", "tok", "--line-api-base", stub.base(), "--public-url",
                        kPublic + "/"});
  const std::uint16_t port = server.port();
  WsClient op("op");
  op.login(port, "op");
  REQUIRE(op.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
  op.expect("conversation_update");

  const std::string jpeg = "\xff\xd8\xff\xe0" + std::string(2000, '\x17') + "\xff\xd9";
  const std::string id = upload_and_send(port, op, "photo.jpg", "image/jpeg", jpeg);
  REQUIRE(stub.wait_for(1));
  pushed image(stub.bodies()[0]);
  CHECK(image["type"] == "image");
  const std::string original = image["originalContentUrl"];
  CHECK(image["previewImageUrl"] == original);
  CHECK(local_path(original).rfind("/api/v1/attachments/" + id + "?exp=", 0) == 0);
  // What LINE fetches is the file, with no Authorization header.
  HttpResponse got = http_get(port, local_path(original));
  CHECK(got.status == 200);
  CHECK(got.body == jpeg);
  // Valid for days, not the hour a console's url lasts: LINE fetches late.
  const auto exp_at = original.find("exp=") + 4;
  const long long exp = std::stoll(original.substr(exp_at, original.find('&', exp_at) - exp_at));
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  CHECK(exp - now > 24 * 3600);

  // A PDF is not something LINE shows: a text with the link.
  upload_and_send(port, op, "terms.pdf", "application/pdf", "%PDF-1.4 tiny");
  REQUIRE(stub.wait_for(2));
  pushed file(stub.bodies()[1]);
  CHECK(file["type"] == "text");
  const std::string text = file["text"];
  CHECK(text.rfind("terms.pdf\n" + kPublic + "/api/v1/attachments/", 0) == 0);
  CHECK(http_get(port, local_path(text.substr(text.find('\n') + 1))).body == "%PDF-1.4 tiny");

  // An MP4 video as a video message; its preview, a still this server serves.
  const std::string mp4 = std::string("\0\0\0\x18" "ftypmp42", 12) + std::string(500, '\x01');
  upload_and_send(port, op, "clip.mp4", "video/mp4", mp4);
  REQUIRE(stub.wait_for(3));
  pushed video(stub.bodies()[2]);
  CHECK(video["type"] == "video");
  CHECK(http_get(port, local_path(video["originalContentUrl"])).body == mp4);
  CHECK(video["previewImageUrl"] == kPublic + "/video-preview.png");
  const HttpResponse still = http_get(port, "/video-preview.png");
  CHECK(still.status == 200);
  CHECK(still.body.rfind("\x89PNG", 0) == 0);
}

TEST_CASE("LINE files: without --public-url an image goes as a text with the link", "[integration][line_files]") {
  push_stub stub;
  ServerProcess server({"--line-channel-token", "tok", "--line-api-base", stub.base()});
  const std::uint16_t port = server.port();
  WsClient op("op");
  op.login(port, "op");
  REQUIRE(op.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
  op.expect("conversation_update");

  const std::string png = "\x89PNG\r\n\x1a\n" + std::string(500, 'p');
  const std::string id = upload_and_send(port, op, "shot.png", "image/png", png);
  REQUIRE(stub.wait_for(1));
  pushed m(stub.bodies()[0]);
  CHECK(m["type"] == "text");
  CHECK(m["originalContentUrl"] == "(none)");
  const std::string text = m["text"];
  const std::string prefix = "shot.png\n/api/v1/attachments/" + id + "?exp=";
  REQUIRE(text.rfind(prefix, 0) == 0);
  CHECK(http_get(port, text.substr(text.find('\n') + 1)).body == png);
}

TEST_CASE("LINE files: --public-url must be an https base", "[integration][line_files]") {
  for (const char* bad : {"http://chat.example.test", "https://", "https://x/?a=1", "chat.example.test"}) {
    INFO(bad);
    const RunResult r = run_server_binary({"--port", "0", "--public-url", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("--public-url must be") != std::string::npos);
  }
}

TEST_CASE("LINE files: which files go as media", "[integration][line_files]") {
  using livechat::message_kind;
  auto file_message = [](message_kind kind, std::string type, std::optional<std::uint32_t> duration) {
    livechat::message m;
    m.text = "f";
    m.kind = kind;
    livechat::file_attachment f;
    f.id = "a1";
    f.status = livechat::attachment_status::ready;
    f.content_type = std::move(type);
    f.duration_ms = duration;
    m.attachment = f;
    return m;
  };
  auto sign = [](const std::string& id) { return "/p/" + id; };
  const std::string base = "https://h";
  auto png = livechat_server::line::outgoing_for(file_message(message_kind::image, "image/png", {}), base, sign);
  CHECK(png.type == "image");
  CHECK(png.url == "https://h/p/a1");
  auto gif = livechat_server::line::outgoing_for(file_message(message_kind::image, "image/gif", {}), base, sign);
  CHECK(gif.type == "text");
  CHECK(gif.text == "f\nhttps://h/p/a1");
  auto audio = livechat_server::line::outgoing_for(file_message(message_kind::audio, "audio/mp4", 1500), base, sign);
  CHECK(audio.type == "audio");
  CHECK(audio.duration_ms == 1500);
  const std::string body = livechat_server::line::push_body("U1", audio);
  CHECK(body.find(R"("duration":1500)") != std::string::npos);
  CHECK(body.find("previewImageUrl") == std::string::npos);
  CHECK(livechat_server::line::outgoing_for(file_message(message_kind::audio, "audio/mp4", {}), base, sign).type ==
        "text");
  // MP4 video as a video message, its preview the server's generic still.
  auto video = livechat_server::line::outgoing_for(file_message(message_kind::video, "video/mp4", 9), base, sign);
  CHECK(video.type == "video");
  CHECK(video.url == "https://h/p/a1");
  CHECK(video.preview_url == "https://h/video-preview.png");
  const std::string video_body = livechat_server::line::push_body("U1", video);
  CHECK(video_body.find(R"("originalContentUrl":"https://h/p/a1")") != std::string::npos);
  CHECK(video_body.find(R"("previewImageUrl":"https://h/video-preview.png")") != std::string::npos);
  CHECK(video_body.find("duration") == std::string::npos);
  // LINE plays MP4 only: other video goes as a link.
  CHECK(livechat_server::line::outgoing_for(file_message(message_kind::video, "video/quicktime", 9), base, sign)
            .type == "text");
  CHECK(livechat_server::line::outgoing_for(file_message(message_kind::video, "video/mp4", 9), "", sign).type ==
        "text");
  CHECK(livechat_server::line::outgoing_for(file_message(message_kind::image, "image/png", {}), "", sign).text ==
        "f\n/p/a1");
  livechat::message plain;
  plain.text = "hi";
  auto text = livechat_server::line::outgoing_for(plain, base, sign);
  CHECK(text.type == "text");
  CHECK(text.text == "hi");
}

namespace {

const std::string kCustomer = "U0123456789abcdef0123456789abcdef";

HttpResponse post_text(std::uint16_t port, const std::string& event_id, const std::string& text) {
  return http_post(port, "/api/v1/webhook",
                   R"({"destination":"U0","events":[{"type":"message","timestamp":1,"source":)"
                   R"({"type":"user","userId":")" + kCustomer + R"("},"webhookEventId":")" + event_id +
                       R"(","message":{"type":"text","id":")" + event_id + R"(","text":")" + text +
                       R"("}}]})");
}

/// Polls (bounded) until `pred` holds.
template <class Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("LINE customers: the profile names the customer after the first message", "[integration][line_files]") {
  push_stub stub([](const std::string& head) {
    if (head.rfind("GET /v2/bot/profile/" + kCustomer + " ", 0) == 0)
      return R"({"userId":")" + kCustomer +
             R"(","displayName":"Taro \u5c71\u7530","pictureUrl":"https://profile.example.test/p.jpg"})";
    return std::string("{}");
  });
  ServerProcess server({"--line-channel-token", "tok", "--line-api-base", stub.base()});
  const std::uint16_t port = server.port();
  const std::string name = "Taro \xe5\xb1\xb1\xe7\x94\xb0";
  WsClient watcher("watcher");
  watcher.login(port, "boss");
  REQUIRE(watcher.send("watch_inbox"));
  watcher.expect("inbox_update");

  // First message: stored before the profile is known, named by the id
  // (the activity itself may already see the profile: it races the fetch).
  REQUIRE(post_text(port, "E1", "hello").status == 200);
  Event first = watcher.wait_for("conversation_activity");
  CHECK(first.str("/payload/customer/id") == kCustomer);
  CHECK(first.str("/payload/last_message/sender/name") == kCustomer);

  // Then it is, in the REST list and in conversation_update.
  const std::string auth = "Authorization: Bearer boss\r\n";
  std::string last_list;
  const bool named = eventually([&] {
    const HttpResponse list = http_get(port, "/api/v1/conversations", auth);
    last_list = list.body;
    return list.status == 200 &&
           Event::from_text(list.body).str("/conversations/0/customer/name") == name;
  });
  INFO(last_list);
  REQUIRE(named);
  CHECK(Event::from_text(http_get(port, "/api/v1/conversations", auth).body)
            .str("/conversations/0/customer/picture_url") == "https://profile.example.test/p.jpg");
  WsClient op("op");
  op.login(port, "op");
  REQUIRE(op.send("join_room", "{\"room\":\"conversation:" + kCustomer + "\"}"));
  Event joined = op.wait_for("conversation_update");
  CHECK(joined.str("/payload/customer/name") == name);

  // Later messages carry the display name; the profile is not fetched again.
  REQUIRE(post_text(port, "E2", "again").status == 200);
  Event second = op.wait_for("new_message");
  CHECK(second.str("/payload/message/sender/name") == name);
  CHECK(second.str("/payload/message/sender/id") == kCustomer);
  Event activity = watcher.wait_for("conversation_activity");
  CHECK(activity.str("/payload/customer/name") == name);
  std::size_t profile_gets = 0;
  for (const auto& h : stub.heads()) {
    if (h.rfind("GET /v2/bot/profile/", 0) == 0) {
      ++profile_gets;
      CHECK(h.find("Authorization: Bearer tok") != std::string::npos);
    }
  }
  CHECK(profile_gets == 1);
}

TEST_CASE("LINE customers: a profile that arrives after the first message reaches the inbox watchers",
          "[integration][line_files]") {
  push_stub stub([](const std::string& head) {
    if (head.rfind("GET /v2/bot/profile/" + kCustomer + " ", 0) == 0)
      return R"({"userId":")" + kCustomer + R"(","displayName":"Hanako","pictureUrl":"https://profile.line-scdn.net/h"})";
    return std::string("{}");
  });
  ServerProcess server({"--line-channel-token", "tok", "--line-api-base", stub.base()});
  const std::uint16_t port = server.port();
  WsClient watcher("watcher");
  watcher.login(port, "boss");
  REQUIRE(watcher.send("watch_inbox"));
  watcher.expect("inbox_update");
  REQUIRE(post_text(port, "P1", "hello").status == 200);
  // The activity goes out with the message, before the profile can be back.
  CHECK(watcher.wait_for("conversation_activity").str("/payload/customer/name") == kCustomer);
  Event pushed = watcher.wait_for("conversation_update");
  INFO(pushed);
  CHECK(pushed.str("/payload/room") == "conversation:" + kCustomer);
  CHECK(pushed.str("/payload/customer/name") == "Hanako");
  CHECK(pushed.str("/payload/customer/picture_url") == "https://profile.line-scdn.net/h");
  // A whole conversation_update, as a join would get it.
  CHECK(pushed.json("/payload/last_seq") == "1");
  CHECK(pushed.str("/payload/messages/0/text") == "hello");
  CHECK(pushed.json("/payload/read_seq") == "0");
  CHECK_FALSE(pushed.str("/payload/epoch").empty());
  // Unchanged on the next message: nothing more is pushed.
  REQUIRE(post_text(port, "P2", "again").status == 200);
  CHECK(watcher.wait_for("conversation_activity").str("/payload/customer/name") == "Hanako");
}

TEST_CASE("LINE customers: without a token the customer is the user id", "[integration][line_files]") {
  ServerProcess server;
  WsClient watcher("watcher");
  watcher.login(server.port(), "boss");
  REQUIRE(watcher.send("watch_inbox"));
  watcher.expect("inbox_update");
  REQUIRE(post_text(server.port(), "N1", "hi").status == 200);
  Event a = watcher.wait_for("conversation_activity");
  CHECK(a.str("/payload/customer/id") == kCustomer);
  CHECK(a.str("/payload/customer/name") == kCustomer);
}

#endif  // LIVECHAT_TEST_LINE_PUSH

}  // namespace livechat_itest_line_files
