// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/store/memory_store.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using livechat::append_request;
using livechat::errc;
using livechat::memory_store;
using livechat::system_time;

system_time at(std::int64_t ms) { return system_time(std::chrono::milliseconds(ms)); }

append_request request(std::string room, std::string text, std::string user = "alice",
                       std::string client_msg_id = {}, std::int64_t now_ms = 1000) {
  append_request req;
  req.room = std::move(room);
  req.sender = {livechat::sender_type::operator_, user, user + " name"};
  req.text = std::move(text);
  req.client_msg_id = std::move(client_msg_id);
  req.now = at(now_ms);
  return req;
}

// Appends `n` messages "m1".."mn" and checks each one succeeded.
void fill(memory_store& store, const std::string& room, int n, std::int64_t now_ms = 1000) {
  for (int i = 1; i <= n; ++i) {
    auto r = store.append(request(room, "m" + std::to_string(i), "alice", {}, now_ms));
    REQUIRE(r.ok());
  }
}

std::vector<std::uint64_t> seqs_of(const livechat::history_page& page) {
  std::vector<std::uint64_t> out;
  for (const auto& m : page.messages) out.push_back(m.seq);
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

const std::string room_a = "conversation:A";
const std::string room_b = "conversation:B";

}  // namespace

TEST_CASE("memory_store assigns seq from 1 per room and stores what was asked", "[store]") {
  memory_store store("e1");

  auto a1 = store.append(request(room_a, "hello", "alice", "c1", 5000));
  REQUIRE(a1.ok());
  CHECK_FALSE(a1->duplicate);
  const livechat::message& m = a1->message;
  CHECK(m.seq == 1);
  CHECK(m.room == room_a);
  CHECK(m.text == "hello");
  CHECK(m.sender.type == livechat::sender_type::operator_);
  CHECK(m.sender.id == "alice");
  CHECK(m.sender.name == "alice name");
  CHECK(m.created_at == at(5000));
  CHECK(m.client_msg_id == "c1");

  CHECK(store.append(request(room_a, "two"))->message.seq == 2);
  CHECK(store.append(request(room_b, "other room"))->message.seq == 1);
  CHECK(store.append(request(room_a, "three"))->message.seq == 3);
  CHECK(store.append(request(room_b, "again"))->message.seq == 2);

  auto page = store.history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  CHECK(seqs_of(*page) == range(1, 3));
  CHECK(page->last_seq == 3);
  CHECK(page->messages[1].text == "two");

  SECTION("a message without client_msg_id stores an empty one") {
    CHECK(page->messages[2].client_msg_id.empty());
  }
}

TEST_CASE("memory_store message ids are unique and carry the epoch", "[store]") {
  memory_store store("feedbeef");
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string& room = i % 3 == 0 ? room_a : room_b;
    auto r = store.append(request(room, "x"));
    REQUIRE(r.ok());
    CHECK(r->message.id.rfind("feedbeef-", 0) == 0);
    ids.insert(r->message.id);
  }
  CHECK(ids.size() == 100);

  SECTION("two stores never share an id") {
    memory_store other;
    auto r = other.append(request(room_a, "x"));
    REQUIRE(r.ok());
    CHECK(ids.count(r->message.id) == 0);
  }
}

TEST_CASE("memory_store epoch", "[store]") {
  SECTION("one random epoch per instance, the same for every room") {
    memory_store store;
    auto ea = store.epoch(room_a);
    auto eb = store.epoch(room_b);
    REQUIRE(ea.ok());
    REQUIRE(eb.ok());
    CHECK(*ea == *eb);
    CHECK(*ea == store.epoch());
    CHECK(ea->size() == 16);
    CHECK(ea->find_first_not_of("0123456789abcdef") == std::string::npos);
    fill(store, room_a, 3);
    CHECK(*store.epoch(room_a) == *ea);
  }

  SECTION("a new instance has a new epoch") {
    std::set<std::string> epochs;
    for (int i = 0; i < 50; ++i) epochs.insert(memory_store().epoch());
    CHECK(epochs.size() == 50);
  }

  SECTION("a fixed epoch for tests") {
    memory_store store("fixed");
    CHECK(*store.epoch(room_a) == "fixed");
  }

  SECTION("an invalid room is a validation error") {
    memory_store store;
    auto e = store.epoch("nope");
    REQUIRE_FALSE(e.ok());
    CHECK(e.error() == errc::validation_error);
  }
}

TEST_CASE("memory_store client_msg_id dedupe is per user and room", "[store]") {
  memory_store store("e");
  auto first = store.append(request(room_a, "hello", "alice", "c1", 1000));
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);

  SECTION("a repeat returns the original message and stores nothing") {
    auto again = store.append(request(room_a, "different text", "alice", "c1", 2000));
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->message.id == first->message.id);
    CHECK(again->message.seq == 1);
    CHECK(again->message.text == "hello");
    CHECK(again->message.created_at == at(1000));
    CHECK(store.history(room_a, std::nullopt, 50)->last_seq == 1);
    CHECK(store.stats().appended == 1);
    CHECK(store.stats().duplicates == 1);
    CHECK(store.append(request(room_a, "next", "alice", "c2"))->message.seq == 2);
  }

  SECTION("the same id from another user is a new message") {
    auto bob = store.append(request(room_a, "hello", "bob", "c1"));
    REQUIRE(bob.ok());
    CHECK_FALSE(bob->duplicate);
    CHECK(bob->message.seq == 2);
  }

  SECTION("the same id in another room is a new message") {
    auto other = store.append(request(room_b, "hello", "alice", "c1"));
    REQUIRE(other.ok());
    CHECK_FALSE(other->duplicate);
    CHECK(other->message.seq == 1);
  }

  SECTION("the separator keeps user and id apart") {
    auto r = store.append(request(room_a, "hello", "alic", "ec1"));
    REQUIRE(r.ok());
    CHECK_FALSE(r->duplicate);
  }

  SECTION("messages without client_msg_id are never deduplicated") {
    CHECK_FALSE(store.append(request(room_a, "same"))->duplicate);
    CHECK_FALSE(store.append(request(room_a, "same"))->duplicate);
    CHECK(store.history(room_a, std::nullopt, 50)->last_seq == 3);
  }
}

TEST_CASE("memory_store webhook_event_id dedupe is store-wide", "[store]") {
  memory_store store("e");
  auto req = request("conversation:U1", "from LINE", "U1");
  req.sender.type = livechat::sender_type::user;
  req.webhook_event_id = "evt-1";
  auto first = store.append(req);
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);

  SECTION("a redelivery returns the original") {
    req.text = "redelivered";
    auto again = store.append(req);
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->message.id == first->message.id);
    CHECK(again->message.text == "from LINE");
    CHECK(store.history("conversation:U1", std::nullopt, 50)->last_seq == 1);
  }

  SECTION("the same event id in another room is still a duplicate") {
    auto other = request("conversation:U2", "x", "U2");
    other.webhook_event_id = "evt-1";
    auto r = store.append(other);
    REQUIRE(r.ok());
    CHECK(r->duplicate);
    CHECK(r->message.room == "conversation:U1");
    CHECK(store.history("conversation:U2", std::nullopt, 50)->last_seq == 0);
  }

  SECTION("another event id is a new message") {
    req.webhook_event_id = "evt-2";
    auto r = store.append(req);
    REQUIRE(r.ok());
    CHECK_FALSE(r->duplicate);
    CHECK(r->message.seq == 2);
  }
}

TEST_CASE("memory_store history without since_seq", "[store]") {
  memory_store store("e");

  SECTION("latest 50 of 120, oldest first, has_more") {
    fill(store, room_a, 120);
    auto page = store.history(room_a, std::nullopt, 50);
    REQUIRE(page.ok());
    CHECK(seqs_of(*page) == range(71, 120));
    CHECK(page->messages.front().text == "m71");
    CHECK(page->last_seq == 120);
    CHECK(page->has_more);
  }

  SECTION("exactly 50: all of them, no more") {
    fill(store, room_a, 50);
    auto page = store.history(room_a, std::nullopt, 50);
    REQUIRE(page.ok());
    CHECK(seqs_of(*page) == range(1, 50));
    CHECK_FALSE(page->has_more);
  }

  SECTION("one more than the limit: has_more") {
    fill(store, room_a, 51);
    auto page = store.history(room_a, std::nullopt, 50);
    CHECK(seqs_of(*page) == range(2, 51));
    CHECK(page->has_more);
  }

  SECTION("fewer than the limit") {
    fill(store, room_a, 3);
    auto page = store.history(room_a, std::nullopt, 50);
    CHECK(seqs_of(*page) == range(1, 3));
    CHECK_FALSE(page->has_more);
  }

  SECTION("limit 1") {
    fill(store, room_a, 3);
    auto page = store.history(room_a, std::nullopt, 1);
    CHECK(seqs_of(*page) == range(3, 3));
    CHECK(page->has_more);
  }

  SECTION("an unknown room is an empty page, not an error") {
    auto page = store.history("conversation:nobody", std::nullopt, 50);
    REQUIRE(page.ok());
    CHECK(page->messages.empty());
    CHECK(page->last_seq == 0);
    CHECK_FALSE(page->has_more);
    auto since = store.history("conversation:nobody", std::uint64_t{0}, 50);
    REQUIRE(since.ok());
    CHECK(since->messages.empty());
    CHECK_FALSE(since->has_more);
  }

  SECTION("a room that only has a session has no messages") {
    REQUIRE(store.save_session(room_a, livechat::session_state{}).ok());
    auto page = store.history(room_a, std::nullopt, 50);
    REQUIRE(page.ok());
    CHECK(page->messages.empty());
    CHECK(page->last_seq == 0);
  }
}

TEST_CASE("memory_store history with since_seq", "[store]") {
  memory_store store("e");
  fill(store, room_a, 120);

  SECTION("0: the first N") {
    auto page = store.history(room_a, std::uint64_t{0}, 50);
    REQUIRE(page.ok());
    CHECK(seqs_of(*page) == range(1, 50));
    CHECK(page->last_seq == 120);
    CHECK(page->has_more);
  }

  SECTION("in the middle: the first N after it") {
    auto page = store.history(room_a, std::uint64_t{60}, 50);
    CHECK(seqs_of(*page) == range(61, 110));
    CHECK(page->has_more);
  }

  SECTION("everything that remains fits: no more") {
    auto page = store.history(room_a, std::uint64_t{70}, 50);
    CHECK(seqs_of(*page) == range(71, 120));
    CHECK_FALSE(page->has_more);
    page = store.history(room_a, std::uint64_t{100}, 50);
    CHECK(seqs_of(*page) == range(101, 120));
    CHECK_FALSE(page->has_more);
  }

  SECTION("since_seq = last_seq: empty") {
    auto page = store.history(room_a, std::uint64_t{120}, 50);
    REQUIRE(page.ok());
    CHECK(page->messages.empty());
    CHECK(page->last_seq == 120);
    CHECK_FALSE(page->has_more);
  }

  SECTION("beyond last_seq: empty") {
    for (std::uint64_t since : {std::uint64_t{121}, std::uint64_t{100000}, UINT64_MAX}) {
      auto page = store.history(room_a, since, 50);
      REQUIRE(page.ok());
      CHECK(page->messages.empty());
      CHECK(page->last_seq == 120);
      CHECK_FALSE(page->has_more);
    }
  }

  SECTION("a huge limit does not overflow") {
    auto page = store.history(room_a, std::uint64_t{119}, SIZE_MAX);
    CHECK(seqs_of(*page) == range(120, 120));
    CHECK_FALSE(page->has_more);
    page = store.history(room_a, std::nullopt, SIZE_MAX);
    CHECK(page->messages.size() == 120);
    CHECK_FALSE(page->has_more);
  }
}

TEST_CASE("memory_store history with the protocol's 500 cap", "[store]") {
  // The store takes the limit it is given; the hub and REST layer pass 500
  // as the cap for recovery. A reconnecting client pages with since_seq.
  memory_store store("e");
  fill(store, room_a, 620);

  auto first = store.history(room_a, std::uint64_t{0}, 500);
  REQUIRE(first.ok());
  CHECK(seqs_of(*first) == range(1, 500));
  CHECK(first->has_more);

  auto rest = store.history(room_a, first->messages.back().seq, 500);
  REQUIRE(rest.ok());
  CHECK(seqs_of(*rest) == range(501, 620));
  CHECK_FALSE(rest->has_more);

  auto latest = store.history(room_a, std::nullopt, 500);
  CHECK(seqs_of(*latest) == range(121, 620));
  CHECK(latest->has_more);
}

TEST_CASE("memory_store validation happens in the base class and is counted", "[store]") {
  memory_store store("e");

  SECTION("bad room name") {
    for (const char* room : {"", "A", "conversation:", "conversation:a b", "room:A",
                             "conversation:a/b"}) {
      auto r = store.append(request(room, "x"));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error() == errc::validation_error);
    }
    CHECK(store.stats().failures == 6);
    CHECK(store.calls() == 0);  // never reached the backend
  }

  SECTION("empty text") {
    auto r = store.append(request(room_a, ""));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::validation_error);
    CHECK(store.stats().failures == 1);
    CHECK(store.stats().appended == 0);
    CHECK(store.history(room_a, std::nullopt, 50)->last_seq == 0);
  }

  SECTION("limit 0") {
    auto r = store.history(room_a, std::nullopt, 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::validation_error);
    auto s = store.history(room_a, std::uint64_t{0}, 0);
    REQUIRE_FALSE(s.ok());
    CHECK(store.stats().failures == 2);
  }

  SECTION("bad room on every room operation") {
    CHECK(store.history("x", std::nullopt, 1).error() == errc::validation_error);
    CHECK(store.load_session("x").error() == errc::validation_error);
    CHECK(store.save_session("x", {}).error() == errc::validation_error);
    CHECK(store.mark_read("x", "alice", 1).error() == errc::validation_error);
    CHECK(store.read_position("x", "alice").error() == errc::validation_error);
    CHECK(store.mark_read(room_a, "", 1).error() == errc::validation_error);
    CHECK(store.stats().failures == 6);
    CHECK(store.calls() == 0);
  }

  SECTION("appended and duplicates counters") {
    fill(store, room_a, 3);
    REQUIRE(store.append(request(room_a, "x", "alice", "c")).ok());
    REQUIRE(store.append(request(room_a, "x", "alice", "c")).ok());
    REQUIRE(store.append(request(room_a, "x", "alice", "c")).ok());
    CHECK(store.stats().appended == 4);
    CHECK(store.stats().duplicates == 2);
    CHECK(store.stats().failures == 0);
  }
}

TEST_CASE("memory_store sessions round-trip", "[store]") {
  memory_store store("e");

  SECTION("an unknown room has the default session") {
    auto s = store.load_session(room_a);
    REQUIRE(s.ok());
    CHECK(s->status == livechat::session_status::open);
    CHECK_FALSE(s->claimed_by.has_value());
    CHECK(s->version == 0);
  }

  SECTION("what is saved comes back, per room") {
    livechat::session_state s;
    s.status = livechat::session_status::claimed;
    s.claimed_by = livechat::user_ref{"alice", "Alice"};
    s.updated_at = at(123456);
    s.version = 7;
    REQUIRE(store.save_session(room_a, s).ok());

    auto back = store.load_session(room_a);
    REQUIRE(back.ok());
    CHECK(back->status == livechat::session_status::claimed);
    REQUIRE(back->claimed_by.has_value());
    CHECK(*back->claimed_by == livechat::user_ref{"alice", "Alice"});
    CHECK(back->updated_at == at(123456));
    CHECK(back->version == 7);

    CHECK(store.load_session(room_b)->version == 0);

    s.status = livechat::session_status::closed;
    s.version = 8;
    REQUIRE(store.save_session(room_a, s).ok());
    CHECK(store.load_session(room_a)->status == livechat::session_status::closed);
    CHECK(store.load_session(room_a)->version == 8);
  }

  SECTION("appending does not touch the session") {
    livechat::session_state s;
    s.version = 3;
    REQUIRE(store.save_session(room_a, s).ok());
    fill(store, room_a, 2);
    CHECK(store.load_session(room_a)->version == 3);
  }
}

TEST_CASE("memory_store read positions only move forward", "[store]") {
  memory_store store("e");
  CHECK(*store.read_position(room_a, "alice") == 0);

  CHECK(*store.mark_read(room_a, "alice", 5) == 5);
  CHECK(*store.read_position(room_a, "alice") == 5);
  CHECK(*store.mark_read(room_a, "alice", 3) == 5);  // stale receipt
  CHECK(*store.read_position(room_a, "alice") == 5);
  CHECK(*store.mark_read(room_a, "alice", 5) == 5);
  CHECK(*store.mark_read(room_a, "alice", 9) == 9);

  // per user and per room
  CHECK(*store.read_position(room_a, "bob") == 0);
  CHECK(*store.read_position(room_b, "alice") == 0);
  CHECK(*store.mark_read(room_a, "bob", 1) == 1);
  CHECK(*store.read_position(room_a, "alice") == 9);
  CHECK(*store.read_position(room_a, "") == 0);
}

TEST_CASE("memory_store conversations", "[store]") {
  memory_store store("e");

  SECTION("empty store, and rooms without messages are absent") {
    CHECK(store.conversations(100)->empty());
    REQUIRE(store.save_session(room_a, livechat::session_state{}).ok());
    REQUIRE(store.mark_read(room_b, "alice", 1).ok());
    CHECK(store.conversations(100)->empty());
  }

  SECTION("newest last message first, with the full summary") {
    REQUIRE(store.append(request("conversation:one", "1", "alice", {}, 1000)).ok());
    REQUIRE(store.append(request("conversation:two", "2", "alice", {}, 2000)).ok());
    REQUIRE(store.append(request("conversation:three", "3", "alice", {}, 3000)).ok());
    livechat::session_state s;
    s.status = livechat::session_status::claimed;
    s.claimed_by = livechat::user_ref{"bob", "Bob"};
    s.version = 1;
    REQUIRE(store.save_session("conversation:two", s).ok());

    auto list = store.conversations(100);
    REQUIRE(list.ok());
    REQUIRE(list->size() == 3);
    CHECK((*list)[0].room == "conversation:three");
    CHECK((*list)[1].room == "conversation:two");
    CHECK((*list)[2].room == "conversation:one");

    const livechat::conversation_summary& two = (*list)[1];
    CHECK(two.conversation_id == "two");
    REQUIRE(two.last_message.has_value());
    CHECK(two.last_message->text == "2");
    CHECK(two.last_seq == 1);
    CHECK(two.session.status == livechat::session_status::claimed);
    CHECK(two.session.version == 1);

    SECTION("a new message moves its room to the front") {
      REQUIRE(store.append(request("conversation:one", "1b", "alice", {}, 4000)).ok());
      list = store.conversations(100);
      REQUIRE(list->size() == 3);
      CHECK((*list)[0].room == "conversation:one");
      CHECK((*list)[0].last_seq == 2);
      CHECK((*list)[0].last_message->text == "1b");
      CHECK((*list)[1].room == "conversation:three");
      CHECK((*list)[2].room == "conversation:two");
    }

    SECTION("limit keeps the newest") {
      list = store.conversations(2);
      REQUIRE(list->size() == 2);
      CHECK((*list)[0].room == "conversation:three");
      CHECK((*list)[1].room == "conversation:two");
      CHECK(store.conversations(0)->empty());
    }

    SECTION("a duplicate does not reorder") {
      REQUIRE(store.append(request("conversation:one", "d", "alice", "c1", 5000)).ok());
      REQUIRE(store.append(request("conversation:three", "x", "alice", {}, 6000)).ok());
      auto dup = store.append(request("conversation:one", "d", "alice", "c1", 7000));
      REQUIRE(dup->duplicate);
      list = store.conversations(1);
      CHECK((*list)[0].room == "conversation:three");
    }
  }

  SECTION("equal created_at: the most recent append first") {
    for (const char* room : {"conversation:a", "conversation:b", "conversation:c"})
      REQUIRE(store.append(request(room, "x", "alice", {}, 1000)).ok());
    auto list = store.conversations(10);
    REQUIRE(list->size() == 3);
    CHECK((*list)[0].room == "conversation:c");
    CHECK((*list)[1].room == "conversation:b");
    CHECK((*list)[2].room == "conversation:a");

    REQUIRE(store.append(request("conversation:a", "y", "alice", {}, 1000)).ok());
    list = store.conversations(10);
    CHECK((*list)[0].room == "conversation:a");
    CHECK((*list)[1].room == "conversation:c");
  }

  SECTION("ordered by the last message's time, not by append order") {
    // Webhook events may arrive late with an older timestamp.
    REQUIRE(store.append(request("conversation:new", "x", "alice", {}, 5000)).ok());
    REQUIRE(store.append(request("conversation:old", "x", "alice", {}, 1000)).ok());
    auto list = store.conversations(10);
    CHECK((*list)[0].room == "conversation:new");
    CHECK((*list)[1].room == "conversation:old");
  }

  SECTION("many rooms") {
    for (int i = 0; i < 1000; ++i)
      REQUIRE(store.append(request("conversation:r" + std::to_string(i), "x", "alice", {},
                                   1000 + i))
                  .ok());
    REQUIRE(store.append(request("conversation:r10", "again", "alice", {}, 5000)).ok());
    auto list = store.conversations(100);
    REQUIRE(list->size() == 100);
    CHECK((*list)[0].room == "conversation:r10");
    CHECK((*list)[1].room == "conversation:r999");
    CHECK((*list)[99].room == "conversation:r901");
    CHECK(store.conversations(5000)->size() == 1000);
  }
}

TEST_CASE("memory_store fail_after injects store_failure", "[store]") {
  memory_store store("e");
  fill(store, room_a, 2);
  const std::size_t before = store.calls();
  CHECK(before == 2);

  store.fail_after(1);
  auto ok = store.append(request(room_a, "third"));
  REQUIRE(ok.ok());
  CHECK(ok->message.seq == 3);

  SECTION("every hook fails, and a failed append stores nothing") {
    auto failed = store.append(request(room_a, "lost", "alice", "c9"));
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error() == errc::store_failure);
    CHECK(livechat::wire_code(errc::store_failure) == "internal");

    CHECK(store.history(room_a, std::nullopt, 50).error() == errc::store_failure);
    CHECK(store.epoch(room_a).error() == errc::store_failure);
    CHECK(store.load_session(room_a).error() == errc::store_failure);
    CHECK(store.save_session(room_a, {}).error() == errc::store_failure);
    CHECK(store.mark_read(room_a, "alice", 1).error() == errc::store_failure);
    CHECK(store.read_position(room_a, "alice").error() == errc::store_failure);
    CHECK(store.conversations(10).error() == errc::store_failure);
    CHECK(store.flush().error() == errc::store_failure);
    CHECK(store.calls() == before + 10);
    CHECK(store.stats().failures == 9);
    CHECK(store.stats().appended == 3);

    store.clear_failure();
    auto page = store.history(room_a, std::nullopt, 50);
    REQUIRE(page.ok());
    CHECK(seqs_of(*page) == range(1, 3));
    CHECK(*store.read_position(room_a, "alice") == 0);

    auto next = store.append(request(room_a, "after", "alice", "c9"));
    REQUIRE(next.ok());
    CHECK_FALSE(next->duplicate);  // the failed attempt left no dedupe record
    CHECK(next->message.seq == 4);
    CHECK(store.history(room_a, std::nullopt, 50)->last_seq == 4);
  }

  SECTION("a failed webhook append leaves no dedupe record either") {
    auto req = request(room_a, "evt");
    req.webhook_event_id = "w1";
    REQUIRE_FALSE(store.append(req).ok());
    store.fail_after(100);
    auto r = store.append(req);
    REQUIRE(r.ok());
    CHECK_FALSE(r->duplicate);
    CHECK(r->message.seq == 4);
  }

  SECTION("fail_after(0) fails the next call; calling it again re-arms") {
    store.fail_after(0);
    CHECK(store.flush().error() == errc::store_failure);
    store.fail_after(2);
    CHECK(store.flush().ok());
    CHECK(store.flush().ok());
    CHECK_FALSE(store.flush().ok());
  }

  SECTION("validation errors don't consume calls") {
    const std::size_t now = store.calls();
    CHECK(store.append(request("bad", "x")).error() == errc::validation_error);
    CHECK(store.calls() == now);
  }
}
