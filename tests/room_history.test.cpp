// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// client::room_history on its own: the gap repair the session relies on,
// driven directly with conversation_updates and live messages (the session
// tests drive the same through frames).
#include <livechat/client/room_history.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_room_history {

using livechat::client::room_history;
namespace se = livechat::server_events;

namespace {

const std::string room = "conversation:U1";

livechat::message msg(std::uint64_t seq) {
  livechat::message m;
  m.id = "m" + std::to_string(seq);
  m.room = room;
  m.seq = seq;
  m.sender = livechat::sender{livechat::sender_type::user, "U1", "U1"};
  m.text = "text " + std::to_string(seq);
  return m;
}

se::conversation_update update(const std::string& epoch, std::uint64_t from, std::uint64_t to,
                               std::uint64_t last_seq) {
  se::conversation_update u;
  u.room = room;
  for (std::uint64_t s = from; s <= to && from != 0; ++s) u.messages.push_back(msg(s));
  u.last_seq = last_seq;
  u.epoch = epoch;
  return u;
}

/// A room_history with every callback recorded in order.
struct recorder {
  room_history h{room, 1000};
  std::vector<std::string> events;  // "reset" and "msg:<seq>"

  bool update(const se::conversation_update& u, bool was_fill = false) {
    return h.on_update(
        u, was_fill, [&] { events.push_back("reset"); },
        [&](const livechat::message& m) { events.push_back("msg:" + std::to_string(m.seq)); });
  }
  room_history::live live(std::uint64_t seq) {
    return h.on_live(msg(seq), [&](const livechat::message& m) {
      events.push_back("msg:" + std::to_string(m.seq));
    });
  }
  std::vector<std::uint64_t> seqs() const {
    std::vector<std::uint64_t> out;
    for (const auto& m : h.view().messages) out.push_back(m.seq);
    return out;
  }
};

}  // namespace

TEST_CASE("room_history: the first join has no since_seq, later ones continue the lineage",
          "[room_history]") {
  recorder r;
  CHECK(r.h.view().name == room);
  CHECK_FALSE(r.h.view().loaded);
  auto j = r.h.join_request();
  CHECK(j.room == room);
  CHECK_FALSE(j.since_seq);
  CHECK_FALSE(j.epoch);

  r.h.join_sent();
  CHECK(r.h.join_outstanding());
  CHECK_FALSE(r.h.filling());
  CHECK(r.h.join_answered());
  CHECK_FALSE(r.h.join_answered());  // only once
  CHECK_FALSE(r.update(update("E1", 1, 3, 3)));
  CHECK(r.h.view().loaded);
  CHECK(r.h.view().epoch == "E1");
  CHECK(r.h.view().last_seq == 3);
  j = r.h.join_request();
  CHECK(j.since_seq == std::optional<std::uint64_t>(3));
  CHECK(j.epoch == std::optional<std::string>("E1"));
  CHECK(r.events == std::vector<std::string>{"msg:1", "msg:2", "msg:3"});
}

TEST_CASE("room_history: a snapshot without messages still sets last_seq", "[room_history]") {
  recorder r;
  CHECK_FALSE(r.update(update("E1", 0, 0, 42)));
  CHECK(r.h.view().last_seq == 42);
  CHECK(r.h.view().messages.empty());
  CHECK(r.live(43) == room_history::live::applied);
}

TEST_CASE("room_history: live messages are applied in order, once", "[room_history]") {
  recorder r;
  CHECK(r.live(1) == room_history::live::ignored);  // before the first snapshot
  r.update(update("E1", 1, 3, 3));
  CHECK(r.live(3) == room_history::live::ignored);  // seen
  CHECK(r.live(2) == room_history::live::ignored);
  CHECK(r.live(4) == room_history::live::applied);
  CHECK(r.live(6) == room_history::live::gap);  // 5 is missing: nothing kept
  CHECK(r.h.view().last_seq == 4);
  CHECK(r.seqs() == std::vector<std::uint64_t>{1, 2, 3, 4});
}

TEST_CASE("room_history: a gap is filled by the reply to a join with since_seq",
          "[room_history]") {
  recorder r;
  r.update(update("E1", 1, 3, 3));
  CHECK(r.live(5) == room_history::live::gap);
  const auto j = r.h.join_request();
  CHECK(j.since_seq == std::optional<std::uint64_t>(3));
  r.h.join_sent(true);
  CHECK(r.h.filling());
  CHECK(r.live(6) == room_history::live::gap);  // the session asks once: filling()
  const bool was_fill = r.h.filling();
  r.h.join_answered();
  CHECK_FALSE(r.h.filling());
  CHECK_FALSE(r.update(update("E1", 3, 6, 6), was_fill));  // overlaps what we have
  CHECK(r.seqs() == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK(r.live(6) == room_history::live::ignored);
  CHECK(r.live(7) == room_history::live::applied);
}

TEST_CASE("room_history: has_more and holes ask again from where the reply stopped",
          "[room_history]") {
  recorder r;
  r.update(update("E1", 1, 3, 3));
  SECTION("has_more: a page short of the server's last_seq") {
    CHECK(r.update(update("E1", 4, 5, 9)));
    CHECK(r.h.view().last_seq == 5);
    CHECK(r.h.join_request().since_seq == std::optional<std::uint64_t>(5));
  }
  SECTION("a hole in the reply stops at the hole") {
    se::conversation_update u = update("E1", 4, 4, 6);
    u.messages.push_back(msg(6));
    CHECK(r.update(u));
    CHECK(r.seqs() == std::vector<std::uint64_t>{1, 2, 3, 4});
  }
  SECTION("not while a join is outstanding: its reply will continue") {
    r.h.join_sent();
    CHECK_FALSE(r.update(update("E1", 4, 5, 9)));
  }
  SECTION("a fill that brought nothing is not repeated") {
    CHECK_FALSE(r.update(update("E1", 0, 0, 5), true));
    CHECK(r.h.view().last_seq == 3);
    // ... but a fill that made progress goes on.
    CHECK(r.update(update("E1", 4, 4, 5), true));
  }
}

TEST_CASE("room_history: another lineage replaces the history", "[room_history]") {
  recorder r;
  r.update(update("E1", 1, 3, 3));
  r.events.clear();
  SECTION("a new epoch (recovered: false)") {
    CHECK_FALSE(r.update(update("E2", 1, 2, 2)));
    CHECK(r.h.view().epoch == "E2");
  }
  SECTION("the same epoch, but the server has less than we saw") {
    CHECK_FALSE(r.update(update("E1", 1, 2, 2)));
  }
  CHECK(r.events == std::vector<std::string>{"reset", "msg:1", "msg:2"});
  CHECK(r.seqs() == std::vector<std::uint64_t>{1, 2});
  CHECK(r.h.view().last_seq == 2);
  CHECK(r.live(3) == room_history::live::applied);
}

TEST_CASE("room_history: the first snapshot is no reset, and starts anywhere",
          "[room_history]") {
  recorder r;
  se::conversation_update u = update("E1", 8, 10, 10);
  u.messages.push_back(msg(9));  // out of order in a snapshot: taken once, in order
  CHECK_FALSE(r.update(u));
  CHECK(r.events == std::vector<std::string>{"msg:8", "msg:9", "msg:10"});
  CHECK(r.h.view().last_seq == 10);
}

TEST_CASE("room_history keeps the newest max_history messages", "[room_history]") {
  room_history h(room, 3);
  h.on_update(update("E1", 1, 5, 5), false, [] {}, [](const livechat::message&) {});
  REQUIRE(h.view().messages.size() == 3);
  CHECK(h.view().messages.front().seq == 3);
  h.on_live(msg(6), [](const livechat::message&) {});
  CHECK(h.view().messages.front().seq == 4);
  CHECK(h.view().last_seq == 6);
}

TEST_CASE("room_history: a lost connection forgets the join in flight", "[room_history]") {
  room_history h(room);
  h.join_sent(true);
  h.connection_lost();
  CHECK_FALSE(h.join_outstanding());
  CHECK_FALSE(h.filling());
  CHECK_FALSE(h.join_answered());
}

}  // namespace livechat_unit_room_history
