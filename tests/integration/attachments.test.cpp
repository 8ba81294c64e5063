// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Integration: file attachments (PROTOCOL.md "Rich messages"): an
// operator's upload, sent with send_message, delivered with a signed url
// that serves the same bytes; signatures that are expired, tampered with
// or for another file; Bearer; ranges; the size limit; a hostile name and
// type served as a download, never as a page; the server-wide bound on
// upload memory (503 while others hold it, 413 for one that never fits).
#include "held_upload.hpp"
#include "server_process.hpp"
#include "ws_client.hpp"
#ifdef LIVECHAT_CLIENT_BINARY
#include "client_process.hpp"
#endif

#include <catch2/catch.hpp>

#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>

#ifdef LIVECHAT_ITEST_SQLITE
#include <sqlite3.h>
#endif

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>

// Named per file so that the tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_itest_attachments {

using namespace livechat_itest;

namespace {

const std::string kSecret = "test-attachment-secret";
const std::string kRoom = "conversation:Ufiles";
const std::string kAuth = "Authorization: Bearer op\r\n";
const std::string kBadToken = "Authorization: Bearer " + std::string(200, 'x') + "\r\n";  // > 128: refused

HttpResponse upload(std::uint16_t port, const std::string& name, const std::string& type,
                    const std::string& body, const std::string& auth = kAuth) {
  return http_post(port, "/api/v1/attachments?name=" + name, body, auth, type);
}

/// A signature as the server makes it, for a chosen expiry.
std::string signed_path(const std::string& id, long long exp, const std::string& secret = kSecret) {
  const auto mac = livechat::detail::hmac_sha256(secret, "attachment\n" + id + "\n" + std::to_string(exp));
  return "/api/v1/attachments/" + id + "?exp=" + std::to_string(exp) +
         "&sig=" + livechat::detail::base64url_encode(mac.data(), mac.size());
}

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string binary_bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) % 256);
  return s;
}

}  // namespace

TEST_CASE("attachments: upload, send, deliver, download the same bytes", "[integration][attachments]") {
  ServerProcess server({"--attachment-url-secret", kSecret});
  const std::uint16_t port = server.port();
  const std::string png = "\x89PNG\r\n\x1a\n" + binary_bytes(5000);

  HttpResponse up = upload(port, "shot%20one.png", "image/png", png);
  INFO(up);
  REQUIRE(up.status == 201);
  Event a = Event::from_text(up.body);
  const std::string id = a.str("/attachment/id");
  CHECK(a.str("/attachment/status") == "ready");
  CHECK(a.json("/attachment/size") == std::to_string(png.size()));
  CHECK(a.str("/attachment/content_type") == "image/png");
  CHECK(a.str("/attachment/name") == "shot one.png");

  WsClient sender("sender");
  sender.login(port, "op");
  WsClient member("member");
  member.login(port, "member");
  for (WsClient* c : {&sender, &member}) {
    REQUIRE(c->send("join_room", "{\"room\":\"" + kRoom + "\"}"));
    c->expect("conversation_update");
  }
  REQUIRE(sender.send("send_message", "{\"room\":\"" + kRoom + "\",\"attachment_id\":\"" + id + "\"}", "s1"));
  Event ack = sender.wait_for("message_sent");
  CHECK(ack.str("/payload/message/text") == "shot one.png");
  Event n = member.wait_for("new_message");
  CHECK(n.str("/payload/message/kind") == "image");
  CHECK(n.str("/payload/message/attachment/id") == id);
  CHECK(n.str("/payload/message/attachment/status") == "ready");
  const std::string url = n.str("/payload/message/attachment/url");
  REQUIRE(url.rfind("/api/v1/attachments/" + id + "?exp=", 0) == 0);

  // The url alone (no Authorization) serves the bytes, byte for byte.
  HttpResponse got = http_get(port, url);
  INFO(got.status << " " << got.error);
  REQUIRE(got.status == 200);
  CHECK(got.body == png);
  CHECK(got.header("Content-Type") == "image/png");
  CHECK(got.header("Content-Length") == std::to_string(png.size()));
  CHECK(got.header("Content-Security-Policy") == "sandbox");
  CHECK(got.header("X-Content-Type-Options") == "nosniff");
  CHECK(got.header("ETag") == "\"" + id + "\"");
  CHECK(got.header("Content-Disposition").rfind("inline; filename=\"shot_one.png\"", 0) == 0);

  // History over REST carries a fresh url of its own that works too.
  HttpResponse hist = http_get(port, "/api/v1/conversations/Ufiles/messages", kAuth);
  REQUIRE(hist.status == 200);
  const std::string rest_url = Event::from_text(hist.body).str("/messages/0/attachment/url");
  CHECK(http_get(port, rest_url).body == png);

  SECTION("someone else's or an unknown attachment_id is a validation_error") {
    REQUIRE(member.send("send_message", "{\"room\":\"" + kRoom + "\",\"attachment_id\":\"" + id + "\"}", "m1"));
    Event e = member.wait_for("error");
    CHECK(e.str("/payload/code") == "validation_error");
    CHECK(e.str("/payload/field") == "attachment_id");
    REQUIRE(sender.send("send_message", "{\"room\":\"" + kRoom + "\",\"attachment_id\":\"ffff\"}", "s2"));
    CHECK(sender.wait_for("error").str("/payload/field") == "attachment_id");
  }

  SECTION("expired, tampered, other-id and missing signatures are 403; Bearer is 200") {
    HttpResponse other = upload(port, "b.bin", "application/octet-stream", "other file");
    REQUIRE(other.status == 201);
    const std::string other_id = Event::from_text(other.body).str("/attachment/id");
    const long long future = unix_now() + 600;
    CHECK(http_get(port, signed_path(id, future)).status == 200);  // the test signs as the server does
    CHECK(http_get(port, signed_path(id, unix_now() - 1)).status == 403);       // expired
    CHECK(http_get(port, signed_path(id, future, "another secret")).status == 403);
    std::string tampered = signed_path(id, future);
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    CHECK(http_get(port, tampered).status == 403);
    const std::string moved = signed_path(id, future).replace(0, 20 + id.size(), "/api/v1/attachments/" + other_id);
    CHECK(http_get(port, moved).status == 403);  // a signature for another file
    CHECK(http_get(port, "/api/v1/attachments/" + id).status == 403);
    CHECK(http_get(port, "/api/v1/attachments/" + id + "?exp=99999999999").status == 403);
    CHECK(http_get(port, "/api/v1/attachments/" + id, kBadToken).status == 403);
    HttpResponse bearer = http_get(port, "/api/v1/attachments/" + id, kAuth);
    CHECK(bearer.status == 200);
    CHECK(bearer.body == png);
    CHECK(http_get(port, "/api/v1/attachments/nope", kAuth).status == 404);
  }

  SECTION("ranges: 206 with Content-Range, 416 outside the file") {
    HttpResponse part = http_get(port, url, "Range: bytes=8-15\r\n");
    CHECK(part.status == 206);
    CHECK(part.body == png.substr(8, 8));
    CHECK(part.header("Content-Range") == "bytes 8-15/" + std::to_string(png.size()));
    CHECK(part.header("Content-Length") == "8");
    HttpResponse tail = http_get(port, url, "Range: bytes=-3\r\n");
    CHECK(tail.status == 206);
    CHECK(tail.body == png.substr(png.size() - 3));
    HttpResponse open_end = http_get(port, url, "Range: bytes=5000-\r\n");
    CHECK(open_end.status == 206);
    CHECK(open_end.body == png.substr(5000));
    HttpResponse outside = http_get(port, url, "Range: bytes=" + std::to_string(png.size()) + "-\r\n");
    CHECK(outside.status == 416);
    CHECK(outside.header("Content-Range") == "bytes */" + std::to_string(png.size()));
    CHECK(http_get(port, url, "If-None-Match: \"" + id + "\"\r\n").status == 304);
  }
}

TEST_CASE("attachments: a page's name and type are served as a download", "[integration][attachments]") {
  ServerProcess server;
  const std::uint16_t port = server.port();
  const std::string html = "<html><script>alert(document.cookie)</script></html>";
  HttpResponse up = upload(port, "..%2F..%2Fx.html", "text/html", html);
  INFO(up);
  REQUIRE(up.status == 201);
  Event a = Event::from_text(up.body);
  CHECK(a.str("/attachment/name") == "x.html");
  HttpResponse got = http_get(port, a.str("/attachment/url"));
  REQUIRE(got.status == 200);
  CHECK(got.body == html);
  CHECK(got.header("Content-Type") == "application/octet-stream");
  CHECK(got.header("Content-Disposition").rfind("attachment; filename=\"x.html\"", 0) == 0);
  CHECK(got.header("Content-Security-Policy") == "sandbox");
  CHECK(got.header("X-Content-Type-Options") == "nosniff");

  // SVG runs script: a download too.
  HttpResponse svg = upload(port, "logo.svg", "image/svg+xml", "<svg onload=\"alert(1)\"/>");
  REQUIRE(svg.status == 201);
  HttpResponse s = http_get(port, Event::from_text(svg.body).str("/attachment/url"));
  CHECK(s.header("Content-Type") == "application/octet-stream");
  CHECK(s.header("Content-Disposition").rfind("attachment;", 0) == 0);

  // Uploads need a Bearer token (401, as the REST routes).
  CHECK(upload(port, "x.txt", "text/plain", "x", "").status == 401);
  CHECK(upload(port, "x.txt", "text/plain", "x", kBadToken).status == 401);
  CHECK(upload(port, "x.txt", "text/plain", "").status == 400);
}

TEST_CASE("attachments: 10 MiB + 1 byte is 413 and nothing is stored", "[integration][attachments]") {
  const std::string db = (std::filesystem::temp_directory_path() /
                          ("livechat-itest-attach-" + std::to_string(::getpid()) + ".db"))
                             .string();
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  {
    ServerProcess server({"--store", "sqlite:" + db});
    const std::uint16_t port = server.port();
    const std::string ten_mib = binary_bytes(10u * 1024 * 1024);
    HttpResponse big = upload(port, "big.bin", "application/octet-stream", ten_mib + "x");
    INFO(big);
    CHECK(big.status == 413);
    CHECK(Event::from_text(big.body).str("/error/code") == "payload_too_large");
    const auto start = std::chrono::steady_clock::now();
    HttpResponse fits = upload(port, "fits.bin", "application/octet-stream", ten_mib);
    const double up_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(fits.status == 201);
    HttpResponse back = http_get(port, Event::from_text(fits.body).str("/attachment/url"));
    const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(back.body == ten_mib);
    if (std::getenv("LIVECHAT_PRINT_ATTACHMENT_TIMES") != nullptr)
      std::printf("10 MiB upload %.3f s (%.1f MiB/s), download %.3f s\n", up_s, 10 / up_s,
                  total_s - up_s);
    server.stop();
  }
#ifdef LIVECHAT_ITEST_SQLITE
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(handle, "SELECT count(*), sum(size) FROM attachments", -1, &st, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(st, 0) == 1);  // only the one that fits
  CHECK(sqlite3_column_int64(st, 1) == 10 * 1024 * 1024);
  sqlite3_finalize(st);
  sqlite3_close(handle);
#endif
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
}

TEST_CASE("attachments: uploads in flight share one memory bound: 503 while it is held, 413 if never",
          "[integration][attachments][upload]") {
  SECTION("503 with Retry-After while another upload holds the memory") {
    ServerProcess server({"--max-attachment-bytes", "100000", "--max-upload-memory-bytes", "150000"});
    const std::uint16_t port = server.port();
    held_upload held(port, binary_bytes(100000), 1000);
    REQUIRE(held.ok());
    // The server reserves the held body's 100000 bytes once it has read the headers.
    HttpResponse refused;
    for (int i = 0; i < 40; ++i) {
      refused = upload(port, "b.bin", "application/octet-stream", binary_bytes(60000));
      if (refused.status == 503) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    INFO(refused);
    CHECK(refused.status == 503);
    CHECK(refused.header("Retry-After") == "1");
    CHECK(Event::from_text(refused.body).has("/error/code"));
    // What still fits goes through: a bound, not a lock.
    CHECK(upload(port, "c.bin", "application/octet-stream", binary_bytes(40000)).status == 201);
    HttpResponse done = held.finish();
    INFO(done);
    CHECK(done.status == 201);
    CHECK(Event::from_text(done.body).json("/attachment/size") == "100000");
    // Released with the connection that held it.
    HttpResponse later;
    for (int i = 0; i < 40; ++i) {
      later = upload(port, "d.bin", "application/octet-stream", binary_bytes(60000));
      if (later.status == 201) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(later.status == 201);
  }
  SECTION("413 for one larger than the whole bound") {
    ServerProcess server({"--max-attachment-bytes", "100000", "--max-upload-memory-bytes", "50000"});
    HttpResponse big = upload(server.port(), "e.bin", "application/octet-stream", binary_bytes(60000));
    INFO(big);
    CHECK(big.status == 413);
    CHECK(upload(server.port(), "f.bin", "application/octet-stream", binary_bytes(50000)).status == 201);
  }
}

#ifdef LIVECHAT_CLIENT_BINARY
TEST_CASE("attachments: livechat-client tail labels a file message", "[integration][attachments][client]") {
  using namespace std::chrono_literals;
  ServerProcess server;
  const std::uint16_t port = server.port();
  HttpResponse up = upload(port, "shot.png", "image/png", binary_bytes(5 * 1024 + 10));
  REQUIRE(up.status == 201);
  const std::string id = Event::from_text(up.body).str("/attachment/id");
  ClientProcess tail({"--url", ws_url(port), "--token", "tailer", "tail", kRoom});
  REQUIRE(tail.wait_for_stderr("authenticated as tailer", 10000ms));
  WsClient sender("sender");
  sender.login(port, "op");
  REQUIRE(sender.send("join_room", "{\"room\":\"" + kRoom + "\"}"));
  sender.expect("conversation_update");
  REQUIRE(sender.send("send_message", "{\"room\":\"" + kRoom + "\",\"attachment_id\":\"" + id + "\"}"));
  sender.wait_for("message_sent");
  auto labelled = [](const std::string& line) { return line.find("\t[image ") != std::string::npos; };
  REQUIRE(tail.wait_for_lines(1, labelled, 10000ms));
  const auto lines = tail.lines();
  INFO(lines.back());
  CHECK(lines.back() == "1\toperator:op\t[image shot.png 5 KiB]");
  CHECK(tail.stop() == 0);
}
#endif

}  // namespace livechat_itest_attachments
