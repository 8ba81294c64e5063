// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// The hub's file attachments (server/impl/hub_attachments.hpp): an upload
// sent with send_message, a fresh signed url per delivery, and a pending
// file that becomes ready or failed (attachment_updated).
#include <livechat/server/hub.hpp>

#include <catch2/catch.hpp>

#include <string>

#include "hub_harness.hpp"

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_hub_attachments {

using namespace livechat_test;
using livechat::attachment_status;

namespace {

livechat::attachment_record upload(const std::string& id, const std::string& owner,
                                   const std::string& type, const std::string& name,
                                   attachment_status status = attachment_status::ready) {
  livechat::attachment_record a;
  a.id = id;
  a.owner = owner;
  a.status = status;
  a.content_type = type;
  a.name = name;
  return a;
}

std::string send_file(const std::string& id, const std::string& extra = "") {
  return R"({"type":"send_message","payload":{"room":")" + room_a + R"(","attachment_id":")" +
         id + "\"" + extra + R"(},"ref":"f"})";
}

/// Signs with a counter, so each delivery's url is told apart.
struct counting_signer {
  int* n;
  std::string operator()(const livechat::file_attachment& f) const {
    return "/api/v1/attachments/" + f.id + "?sig=" + std::to_string(++*n);
  }
};

}  // namespace

TEST_CASE("send_message with an upload of one's own", "[hub][attachments]") {
  harness h;
  int signed_urls = 0;
  h.hub.set_attachment_url_signer(counting_signer{&signed_urls});
  REQUIRE(h.store.put_attachment(upload("a1", "alice", "image/jpeg", "photo.jpg"), "JPEG").ok());
  REQUIRE(h.store.put_attachment(upload("s1", "alice", "image/svg+xml", "x.svg"), "<svg/>").ok());
  REQUIRE(h.store.put_attachment(upload("p1", "alice", "image/png", "p.png",
                                        attachment_status::pending), {}).ok());
  h.login(1, "alice");
  h.login(2, "bob");
  h.login(3, "watcher");
  h.join(1, room_a);
  h.join(2, room_a);
  h.send(3, R"({"type":"watch_inbox"})");
  h.clear_all();

  SECTION("text defaults to the file name; kind from the content type; urls signed") {
    h.send(1, send_file("a1"));
    frame ack = h.next(1);
    REQUIRE(ack.type() == "message_sent");
    const auto& m = ack.payload()["message"];
    CHECK(std::string(m["text"].GetString()) == "photo.jpg");
    CHECK(std::string(m["kind"].GetString()) == "image");
    CHECK(std::string(m["attachment"]["id"].GetString()) == "a1");
    CHECK(std::string(m["attachment"]["status"].GetString()) == "ready");
    CHECK(m["attachment"]["size"].GetUint64() == 4);
    CHECK(std::string(m["attachment"]["content_type"].GetString()) == "image/jpeg");
    CHECK(std::string(m["attachment"]["url"].GetString()) == "/api/v1/attachments/a1?sig=1");
    frame n = h.next(2);
    REQUIRE(n.type() == "new_message");
    CHECK(std::string(n.payload()["message"]["attachment"]["url"].GetString()) ==
          "/api/v1/attachments/a1?sig=1");
    frame act = h.next(3);
    REQUIRE(act.type() == "conversation_activity");
    CHECK(std::string(act.payload()["last_message"]["kind"].GetString()) == "image");

    // Each later delivery signs again: history and the inbox.
    h.login(4, "carol");
    h.join(4, room_a);
    frame upd = h.next(4);
    REQUIRE(upd.type() == "conversation_update");
    CHECK(std::string(upd.payload()["messages"][0]["attachment"]["url"].GetString()) ==
          "/api/v1/attachments/a1?sig=2");
    h.send(4, R"({"type":"watch_inbox"})");
    frame inbox = h.next(4);
    REQUIRE(inbox.type() == "inbox_update");
    CHECK(std::string(
              inbox.payload()["conversations"][0]["last_message"]["attachment"]["url"].GetString()) ==
          "/api/v1/attachments/a1?sig=3");
  }
  SECTION("a given text stays; an SVG is a file, never an image") {
    h.send(1, send_file("s1", R"(,"text":"the logo")"));
    const frame ack = h.next(1);  // kept: the payload lives in its document
    const auto& m = ack.payload()["message"];
    CHECK(std::string(m["text"].GetString()) == "the logo");
    CHECK(std::string(m["kind"].GetString()) == "file");
  }
  SECTION("unknown, someone else's or not ready: validation_error on attachment_id") {
    for (const std::string& who_id : {std::string("2:a1"), std::string("1:nope"),
                                      std::string("1:p1"), std::string("1:bad/id")}) {
      const int c = who_id[0] - '0';
      h.send(c, send_file(who_id.substr(2)));
      frame e = h.next(c);
      INFO(who_id);
      REQUIRE(e.type() == "error");
      CHECK(e.error_code() == "validation_error");
      CHECK(e.error_field() == "attachment_id");
    }
    CHECK(h.store.stats().appended == 0);
    CHECK(h.pending(3) == 0);
  }
}

TEST_CASE("a pending file that becomes ready or failed", "[hub][attachments]") {
  harness h;
  int signed_urls = 0;
  h.hub.set_attachment_url_signer(counting_signer{&signed_urls});
  REQUIRE(h.store.put_attachment(upload("l1", "U1", "", "image", attachment_status::pending), {})
              .ok());
  livechat::append_request req;
  req.room = room_a;
  req.sender = {livechat::sender_type::user, "U1", "U1"};
  req.text = "image";
  req.kind = livechat::message_kind::image;
  livechat::file_attachment f;
  f.id = "l1";
  req.attachment = f;
  REQUIRE(h.store.append(req).ok());
  h.login(1, "alice");
  h.login(2, "watcher");
  h.join(1, room_a);
  frame joined = h.next(1);
  CHECK_FALSE(joined.payload()["messages"][0]["attachment"].HasMember("url"));  // pending: none
  h.send(2, R"({"type":"watch_inbox"})");
  h.clear_all();

  auto done = h.hub.finish_attachment("l1", attachment_status::ready, "bytes", "image/jpeg");
  REQUIRE(done.ok());
  for (int c : {1, 2}) {
    frame u = h.next(c);
    REQUIRE(u.type() == "attachment_updated");
    CHECK(u.str("room") == room_a);
    CHECK(u.payload()["seq"].GetUint64() == 1);
    CHECK(std::string(u.payload()["attachment"]["status"].GetString()) == "ready");
    CHECK(std::string(u.payload()["attachment"]["content_type"].GetString()) == "image/jpeg");
    CHECK(u.payload()["attachment"]["size"].GetUint64() == 5);
    CHECK(std::string(u.payload()["attachment"]["url"].GetString()) ==
          "/api/v1/attachments/l1?sig=1");
  }
  // Once: a second outcome is refused and nothing is sent.
  CHECK(h.hub.finish_attachment("l1", attachment_status::failed).error() ==
        livechat::errc::validation_error);
  CHECK(h.pending(1) == 0);
  CHECK(h.pending(2) == 0);
}

}  // namespace livechat_unit_hub_attachments
