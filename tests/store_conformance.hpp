// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TESTS_STORE_CONFORMANCE_HPP
#define LIVECHAT_TESTS_STORE_CONFORMANCE_HPP

// The MessageStore contract as one set of template test cases, run over
// every store: each store's test file includes this header once, after
// defining, in its anonymous namespace,
//
//   template <class T> struct harness;  // and one specialization per store:
//   template <> struct harness<X> {     //   a fresh, empty store per test
//     static constexpr const char* name = "...";
//     X& store();                       //   with fail_after, calls, epoch()
//   };
//
// and the macros
//
//   LIVECHAT_STORE_CONFORMANCE_TYPES       the X above (the test names end in them)
//   LIVECHAT_STORE_CONFORMANCE_BULK_TYPES  those fast enough for 10,000 rooms
//   LIVECHAT_STORE_CONFORMANCE_TAGS        e.g. "[store]"
//
// What only one store does stays in its own file (memory_store.test.cpp,
// sqlite_store.test.cpp).

#if !defined(LIVECHAT_STORE_CONFORMANCE_TYPES) || \
    !defined(LIVECHAT_STORE_CONFORMANCE_BULK_TYPES) || !defined(LIVECHAT_STORE_CONFORMANCE_TAGS)
#error "define LIVECHAT_STORE_CONFORMANCE_{TYPES,BULK_TYPES,TAGS} first (see above)"
#endif

#include <livechat/store/message_store.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace {

using livechat::append_request;
using livechat::errc;
using livechat::message_store;
using livechat::system_time;

template <class T>
struct harness;  // defined by the includer, see above

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

// Appends "m1".."mn" and checks each one succeeded.
void fill(message_store& store, const std::string& room, int n, std::int64_t now_ms = 1000) {
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

// === The MessageStore contract, for every store ==============================

TEMPLATE_TEST_CASE("store conformance: seq from 1 per room, stored as asked",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

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
  CHECK(page->messages[0].id == m.id);
  CHECK(page->messages[0].client_msg_id == "c1");
  CHECK(page->messages[0].created_at == at(5000));
  CHECK(page->messages[0].sender.name == "alice name");
  CHECK(page->messages[1].text == "two");
  CHECK(page->messages[2].client_msg_id.empty());

  SECTION("text comes back byte for byte: NUL bytes, UTF-8, 5000 characters") {
    const std::string nul("a\0b\0", 4);
    const std::string utf8 =
        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf \xf0\x9f\x91\x8b";
    const std::string long_text(5000, 'x');
    for (const std::string& text : {nul, utf8, long_text}) {
      auto r = store.append(request(room_b, text));
      REQUIRE(r.ok());
      CHECK(r->message.text == text);
    }
    auto back = store.history(room_b, std::uint64_t{2}, 50);
    REQUIRE(back.ok());
    REQUIRE(back->messages.size() == 3);
    CHECK(back->messages[0].text == nul);
    CHECK(back->messages[0].text.size() == 4);
    CHECK(back->messages[1].text == utf8);
    CHECK(back->messages[2].text == long_text);
  }

  SECTION("every sender type round-trips") {
    for (auto type : {livechat::sender_type::user, livechat::sender_type::system}) {
      auto req = request(room_b, "x", "U1");
      req.sender.type = type;
      REQUIRE(store.append(req).ok());
    }
    auto back = store.history(room_b, std::uint64_t{2}, 50);
    REQUIRE(back->messages.size() == 2);
    CHECK(back->messages[0].sender.type == livechat::sender_type::user);
    CHECK(back->messages[1].sender.type == livechat::sender_type::system);
  }
}

TEMPLATE_TEST_CASE("store conformance: a request handed over (rvalue) is stored as a copied one",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  // Strings past the small-string buffer, so that a move takes the buffer.
  const std::string user(40, 'u');
  const std::string text = "a text longer than any small-string buffer, \xe3\x81\x82";
  const std::string key(36, 'k');
  auto make = [&](const std::string& room) {
    auto r = request(room, text, user, key, 7000);
    r.sender.name = std::string(30, 'n');
    return r;
  };
  // The same request through both overloads, in two rooms.
  const append_request copied = make(room_a);
  auto by_copy = store.append(copied);
  append_request owned = make(room_b);
  auto by_move = store.append(std::move(owned));
  REQUIRE(by_copy.ok());
  REQUIRE(by_move.ok());
  CHECK(copied.text == text);  // the lvalue overload leaves the request alone
  for (const auto* r : {&*by_copy, &*by_move}) {
    CHECK_FALSE(r->duplicate);
    CHECK(r->message.seq == 1);
    CHECK(r->message.text == text);
    CHECK(r->message.sender.id == user);
    CHECK(r->message.sender.name == std::string(30, 'n'));
    CHECK(r->message.client_msg_id == key);
    CHECK(r->message.created_at == at(7000));
  }
  CHECK(by_copy->message.room == room_a);
  CHECK(by_move->message.room == room_b);
  CHECK(by_move->message.id != by_copy->message.id);

  // What the store kept (history) and its dedupe record are the moved
  // request's, not what is left of it.
  auto kept = store.history(room_b, std::nullopt, 10);
  REQUIRE(kept.ok());
  REQUIRE(kept->messages.size() == 1);
  CHECK(kept->messages[0].text == text);
  CHECK(kept->messages[0].sender.id == user);
  CHECK(kept->messages[0].client_msg_id == key);
  auto again = store.append(make(room_b));  // a temporary: the rvalue overload
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->message.id == by_move->message.id);

  // A webhook event id handed over still dedupes.
  auto hook = [&](const char* t) {
    auto r = request("conversation:U7", t, "U7");
    r.sender.type = livechat::sender_type::user;
    r.webhook_event_id = std::string(40, 'w');
    return r;
  };
  auto first = store.append(hook("first"));
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);
  auto redelivered = store.append(hook("again"));
  REQUIRE(redelivered.ok());
  CHECK(redelivered->duplicate);
  CHECK(redelivered->message.text == "first");

  // queue_append with a request handed over: stored at once or at the
  // flush, the result is the same message.
  append_request queued = make("conversation:U8");
  queued.client_msg_id = std::string(36, 'q');
  auto ticket = store.queue_append(std::move(queued));
  REQUIRE(ticket.ok());
  REQUIRE(store.flush().ok());
  auto results = store.take_appends();
  REQUIRE(results.size() == *ticket + 1);
  REQUIRE(results[*ticket].ok());
  CHECK(results[*ticket]->message.text == text);
  CHECK(results[*ticket]->message.room == "conversation:U8");
  CHECK(results[*ticket]->message.client_msg_id == std::string(36, 'q'));
  CHECK(store.last_seq("conversation:U8").value() == 1);
}

TEMPLATE_TEST_CASE("store conformance: message ids are unique and carry the epoch",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string& room = i % 3 == 0 ? room_a : room_b;
    auto r = store.append(request(room, "x"));
    REQUIRE(r.ok());
    CHECK(r->message.id.rfind(store.epoch() + "-", 0) == 0);
    ids.insert(r->message.id);
  }
  CHECK(ids.size() == 100);

  SECTION("two stores never share an id") {
    harness<TestType> other;
    auto r = other.store().append(request(room_a, "x"));
    REQUIRE(r.ok());
    CHECK(ids.count(r->message.id) == 0);
  }
}

TEMPLATE_TEST_CASE("store conformance: epoch", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

  SECTION("one random epoch per store, the same for every room") {
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

  SECTION("another store has another epoch") {
    harness<TestType> other;
    CHECK(other.store().epoch() != store.epoch());
  }

  SECTION("an invalid room is a validation error") {
    auto e = store.epoch("nope");
    REQUIRE_FALSE(e.ok());
    CHECK(e.error() == errc::validation_error);
  }
}

TEMPLATE_TEST_CASE("store conformance: client_msg_id dedupe is per user and room",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
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
    CHECK(again->message.client_msg_id == "c1");
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

  SECTION("user and id are kept apart") {
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

TEMPLATE_TEST_CASE("store conformance: webhook_event_id dedupe is store-wide",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
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
    CHECK(again->message.sender.type == livechat::sender_type::user);
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

TEMPLATE_TEST_CASE("store conformance: history without since_seq", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

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

  SECTION("fewer than the limit, and limit 1") {
    fill(store, room_a, 3);
    auto page = store.history(room_a, std::nullopt, 50);
    CHECK(seqs_of(*page) == range(1, 3));
    CHECK_FALSE(page->has_more);
    page = store.history(room_a, std::nullopt, 1);
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

  SECTION("a room that only has a session or read positions has no messages") {
    REQUIRE(store.save_session(room_a, livechat::session_state{}).ok());
    REQUIRE(store.mark_read(room_b, "alice", 4).ok());
    for (const std::string& room : {room_a, room_b}) {
      auto page = store.history(room, std::nullopt, 50);
      REQUIRE(page.ok());
      CHECK(page->messages.empty());
      CHECK(page->last_seq == 0);
    }
    CHECK(store.append(request(room_a, "first"))->message.seq == 1);
  }
}

TEMPLATE_TEST_CASE("store conformance: history with since_seq", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
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

  SECTION("since_seq = last_seq, or beyond: empty") {
    for (std::uint64_t since : {std::uint64_t{120}, std::uint64_t{121}, std::uint64_t{100000},
                                std::uint64_t{INT64_MAX}, UINT64_MAX}) {
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

TEMPLATE_TEST_CASE("store conformance: recovery pages of 500", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
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

TEMPLATE_TEST_CASE("store conformance: validation happens in the base class",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

  SECTION("bad room names never reach the backend") {
    for (const char* room : {"", "A", "conversation:", "conversation:a b", "room:A",
                             "conversation:a/b"}) {
      auto r = store.append(request(room, "x"));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error() == errc::validation_error);
    }
    CHECK(store.stats().failures == 6);
    CHECK(store.calls() == 0);
    CHECK(store.history("x", std::nullopt, 1).error() == errc::validation_error);
    CHECK(store.load_session("x").error() == errc::validation_error);
    CHECK(store.save_session("x", {}).error() == errc::validation_error);
    CHECK(store.mark_read("x", "alice", 1).error() == errc::validation_error);
    CHECK(store.read_position("x", "alice").error() == errc::validation_error);
    CHECK(store.mark_read(room_a, "", 1).error() == errc::validation_error);
    CHECK(store.stats().failures == 12);
    CHECK(store.append(request(room_a, "")).error() == errc::validation_error);
    CHECK(store.history(room_a, std::nullopt, 0).error() == errc::validation_error);
    CHECK(store.stats().failures == 14);
    CHECK(store.calls() == 0);
  }

  SECTION("empty text stores nothing") {
    auto r = store.append(request(room_a, ""));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::validation_error);
    CHECK(store.stats().failures == 1);
    CHECK(store.stats().appended == 0);
    CHECK(store.history(room_a, std::nullopt, 50)->last_seq == 0);
  }

  SECTION("limit 0, with or without since_seq") {
    auto r = store.history(room_a, std::nullopt, 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::validation_error);
    auto s = store.history(room_a, std::uint64_t{0}, 0);
    REQUIRE_FALSE(s.ok());
    CHECK(store.stats().failures == 2);
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

TEMPLATE_TEST_CASE("store conformance: sessions round-trip", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

  SECTION("an unknown room has the default session") {
    auto s = store.load_session(room_a);
    REQUIRE(s.ok());
    CHECK(s->status == livechat::session_status::open);
    CHECK_FALSE(s->claimed_by.has_value());
    CHECK(s->version == 0);
    fill(store, room_a, 1);  // a room with messages but no saved session
    CHECK(store.load_session(room_a)->version == 0);
    CHECK_FALSE(store.load_session(room_a)->claimed_by.has_value());
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
    CHECK(store.load_session(room_a)->claimed_by->user_id == "alice");
    CHECK(store.load_session(room_a)->version == 8);

    s.status = livechat::session_status::open;
    s.claimed_by.reset();
    s.version = 9;
    REQUIRE(store.save_session(room_a, s).ok());
    CHECK_FALSE(store.load_session(room_a)->claimed_by.has_value());

    SECTION("an empty claimed_by is not the same as none") {
      s.claimed_by = livechat::user_ref{"", ""};
      REQUIRE(store.save_session(room_a, s).ok());
      REQUIRE(store.load_session(room_a)->claimed_by.has_value());
    }
  }

  SECTION("appending does not touch the session") {
    livechat::session_state s;
    s.version = 3;
    REQUIRE(store.save_session(room_a, s).ok());
    fill(store, room_a, 2);
    CHECK(store.load_session(room_a)->version == 3);
    CHECK(store.history(room_a, std::nullopt, 50)->last_seq == 2);
  }
}

TEMPLATE_TEST_CASE("store conformance: save_session_if saves only over the expected version",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  livechat::session_state s;
  s.status = livechat::session_status::claimed;
  s.claimed_by = livechat::user_ref{"alice", "Alice"};
  s.updated_at = at(10);
  s.version = 1;

  SECTION("a room never saved is at version 0") {
    auto wrong = store.save_session_if(room_a, 1, s);
    REQUIRE(wrong.ok());
    CHECK_FALSE(*wrong);
    CHECK(store.load_session(room_a)->version == 0);
    CHECK_FALSE(store.load_session(room_a)->claimed_by.has_value());
    auto right = store.save_session_if(room_a, 0, s);
    REQUIRE(right.ok());
    CHECK(*right);
    CHECK(store.load_session(room_a)->claimed_by->user_id == "alice");
    CHECK(store.load_session(room_a)->version == 1);
  }

  SECTION("so is a room with messages and no saved session") {
    fill(store, room_a, 2);
    auto r = store.save_session_if(room_a, 0, s);
    REQUIRE(r.ok());
    CHECK(*r);
    CHECK(store.load_session(room_a)->version == 1);
    CHECK(*store.last_seq(room_a) == 2);
  }

  SECTION("of two writers that read the same version, the second loses") {
    REQUIRE(store.save_session(room_a, s).ok());
    auto bob = s;
    bob.claimed_by = livechat::user_ref{"bob", "Bob"};
    bob.version = 2;
    auto carol = bob;
    carol.claimed_by = livechat::user_ref{"carol", "Carol"};
    auto first = store.save_session_if(room_a, 1, bob);
    REQUIRE(first.ok());
    CHECK(*first);
    auto second = store.save_session_if(room_a, 1, carol);
    REQUIRE(second.ok());
    CHECK_FALSE(*second);
    REQUIRE(store.flush().ok());
    CHECK(store.load_session(room_a)->claimed_by->user_id == "bob");
    CHECK(store.load_session(room_a)->version == 2);
    CHECK(store.load_session(room_b)->version == 0);
  }

  SECTION("a bad room is refused, a failing store fails") {
    CHECK(store.save_session_if("x", 0, s).error() == errc::validation_error);
    store.fail_after(0);
    CHECK(store.save_session_if(room_a, 0, s).error() == errc::store_failure);
  }
}

TEMPLATE_TEST_CASE("store conformance: read positions only move forward",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  CHECK(*store.read_position(room_a, "alice") == 0);

  CHECK(*store.mark_read(room_a, "alice", 5) == 5);
  CHECK(*store.read_position(room_a, "alice") == 5);
  CHECK(*store.mark_read(room_a, "alice", 3) == 5);  // stale receipt
  CHECK(*store.read_position(room_a, "alice") == 5);
  CHECK(*store.mark_read(room_a, "alice", 5) == 5);
  CHECK(*store.mark_read(room_a, "alice", 9) == 9);
  CHECK(*store.mark_read(room_a, "alice", 0) == 9);

  // per user and per room
  CHECK(*store.read_position(room_a, "bob") == 0);
  CHECK(*store.read_position(room_b, "alice") == 0);
  CHECK(*store.mark_read(room_a, "bob", 1) == 1);
  CHECK(*store.read_position(room_a, "alice") == 9);
  CHECK(*store.read_position(room_a, "") == 0);
}

TEMPLATE_TEST_CASE("store conformance: read positions of many rooms in one lookup",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  const std::string room_c = "conversation:C";
  REQUIRE(store.mark_read(room_a, "alice", 7).ok());
  REQUIRE(store.mark_read(room_c, "alice", 2).ok());
  REQUIRE(store.mark_read(room_b, "bob", 4).ok());  // another user's position is not alice's
  REQUIRE(store.mark_read(room_c, "alice@x", 9).ok());  // nor a user id sharing a prefix

  const std::size_t before = store.calls();
  auto got = store.read_positions("alice", {room_c, room_b, room_a, "conversation:none", room_c});
  REQUIRE(got.ok());
  CHECK(*got == std::vector<std::uint64_t>{2, 0, 7, 0, 2});  // caller's order, repeats kept
  CHECK(store.calls() == before + 1);  // one query, not one per room

  auto bob = store.read_positions("bob", {room_a, room_b});
  REQUIRE(bob.ok());
  CHECK(*bob == std::vector<std::uint64_t>{0, 4});

  SECTION("fill_read_seq sets each summary's read_seq") {
    fill(store, room_a, 8);
    fill(store, room_c, 3);
    auto list = store.conversations(10);
    REQUIRE(list.ok());
    REQUIRE(list->size() == 2);
    for (const auto& c : *list) CHECK(c.read_seq == 0);  // the list itself is per store, not per user
    REQUIRE(store.fill_read_seq("alice", *list).ok());
    for (const auto& c : *list) CHECK(c.read_seq == (c.room == room_a ? 7u : 2u));
  }
  SECTION("fill_read_seq takes more summaries than one lookup does, in chunks") {
    std::vector<livechat::conversation_summary> list(message_store::max_read_positions + 2);
    for (auto& c : list) c.room = room_b;
    const std::size_t last_of_first = message_store::max_read_positions - 1;
    list[last_of_first].room = room_c;                         // the last of the first lookup
    list[message_store::max_read_positions].room = room_a;     // the first of the second
    const std::size_t now = store.calls();
    REQUIRE(store.fill_read_seq("alice", list).ok());
    CHECK(store.calls() == now + 2);
    CHECK(list.front().read_seq == 0);
    CHECK(list[last_of_first].read_seq == 2);
    CHECK(list[message_store::max_read_positions].read_seq == 7);
    CHECK(list.back().read_seq == 0);
  }
  SECTION("no rooms: no query") {
    const std::size_t now = store.calls();
    auto none = store.read_positions("alice", {});
    REQUIRE(none.ok());
    CHECK(none->empty());
    CHECK(store.calls() == now);
  }
  SECTION("bad input is refused, a failing store fails") {
    CHECK(store.read_positions("", {room_a}).error() == errc::validation_error);
    CHECK(store.read_positions("alice", {room_a, "x"}).error() == errc::validation_error);
    std::vector<std::string> many(message_store::max_read_positions + 1, room_a);
    CHECK(store.read_positions("alice", many).error() == errc::validation_error);
    store.fail_after(0);
    CHECK(store.read_positions("alice", {room_a}).error() == errc::store_failure);
  }
}

TEMPLATE_TEST_CASE("store conformance: conversations", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

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
    s.updated_at = at(2500);
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
    CHECK(two.last_message->room == "conversation:two");
    CHECK(two.last_message->created_at == at(2000));
    CHECK(two.last_seq == 1);
    CHECK(two.session.status == livechat::session_status::claimed);
    CHECK(two.session.claimed_by->name == "Bob");
    CHECK(two.session.updated_at == at(2500));
    CHECK(two.session.version == 1);
    CHECK((*list)[0].session.version == 0);

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
      CHECK(store.conversations(SIZE_MAX)->size() == 3);
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

TEMPLATE_TEST_CASE("store conformance: fail_after injects store_failure",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
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
    CHECK(seqs_of(*page) == range(1, 3));  // an injected flush failure loses nothing
    CHECK(*store.read_position(room_a, "alice") == 0);

    auto next = store.append(request(room_a, "after", "alice", "c9"));
    REQUIRE(next.ok());
    CHECK_FALSE(next->duplicate);
    CHECK(next->message.seq == 4);
    CHECK(store.flush().ok());
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

TEMPLATE_TEST_CASE("store conformance: last_seq is the room's newest seq",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  CHECK(*store.last_seq(room_a) == 0);
  REQUIRE(store.save_session(room_a, livechat::session_state{}).ok());
  CHECK(*store.last_seq(room_a) == 0);

  fill(store, room_a, 4);
  fill(store, room_b, 1);
  REQUIRE(store.append(request(room_a, "again", "alice", "c1")).ok());
  REQUIRE(store.append(request(room_a, "again", "alice", "c1"))->duplicate);
  CHECK(*store.last_seq(room_a) == 5);
  CHECK(*store.last_seq(room_b) == 1);
  CHECK(*store.last_seq(room_a) == store.history(room_a, std::nullopt, 1)->last_seq);

  // Asking for nothing after the newest reads the count alone.
  const std::size_t calls = store.calls();
  CHECK(store.history(room_a, std::uint64_t{UINT64_MAX}, 1)->last_seq == 5);
  CHECK(store.calls() == calls + 1);

  auto bad = store.last_seq("nope");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == errc::validation_error);
  CHECK(store.calls() == calls + 1);

  store.fail_after(0);
  CHECK(store.last_seq(room_a).error() == errc::store_failure);
  CHECK(store.stats().failures == 2);
}


namespace {

livechat::history_query hq(std::optional<std::uint64_t> since, std::optional<std::uint64_t> before,
                           std::size_t limit, std::size_t max_bytes = SIZE_MAX) {
  livechat::history_query q;
  q.since_seq = since;
  q.before_seq = before;
  q.limit = limit;
  q.max_bytes = max_bytes;
  return q;
}

std::vector<std::string> rooms_of(const std::vector<livechat::conversation_summary>& list) {
  std::vector<std::string> out;
  for (const auto& c : list) out.push_back(c.room);
  return out;
}

/// Every page of `q` (limit `page_size`) from the first, with their rooms in order.
std::vector<std::string> walk(message_store& store, livechat::conversation_query q,
                              std::size_t* pages = nullptr) {
  std::vector<std::string> out;
  q.cursor.clear();
  std::size_t n = 0;
  for (;;) {
    auto page = store.list_conversations(q);
    REQUIRE(page.ok());
    REQUIRE(page->cursors.size() == page->conversations.size());
    ++n;
    REQUIRE(n < 100000);
    for (const auto& c : page->conversations) out.push_back(c.room);
    if (page->next_cursor.empty()) break;
    CHECK(page->next_cursor == page->cursors.back());
    q.cursor = page->next_cursor;
  }
  if (pages != nullptr) *pages = n;
  return out;
}

livechat::session_state claimed_by(const std::string& user, std::uint64_t version = 1) {
  livechat::session_state s;
  s.status = livechat::session_status::claimed;
  s.claimed_by = livechat::user_ref{user, user + " name"};
  s.updated_at = at(9000);
  s.version = version;
  return s;
}

}  // namespace

TEMPLATE_TEST_CASE("store conformance: history stops at the byte budget",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  fill(store, room_a, 10);  // "m1".."m10"
  auto all = store.history(room_a, std::nullopt, 50);
  REQUIRE(all.ok());
  const std::size_t one = livechat::raw_size(all->messages[0]);  // m1..m9 have the same size
  CHECK(one == livechat::raw_size(all->messages[8]));

  SECTION("since_seq: the oldest that fit, then has_more") {
    auto page = store.history(room_a, hq(std::uint64_t{0}, std::nullopt, 50, 3 * one));
    REQUIRE(page.ok());
    CHECK(seqs_of(*page) == range(1, 3));
    CHECK(page->has_more);
    CHECK(page->last_seq == 10);
    page = store.history(room_a, hq(std::uint64_t{3}, std::nullopt, 50, 3 * one + one - 1));
    CHECK(seqs_of(*page) == range(4, 6));
    CHECK(page->has_more);
  }

  SECTION("latest: the newest that fit, has_more") {
    auto page = store.history(room_a, hq(std::nullopt, std::nullopt, 50, 2 * one + 2));
    CHECK(seqs_of(*page) == range(9, 10));  // m10 is one byte longer
    CHECK(page->has_more);
  }

  SECTION("at least one message, however small the budget") {
    auto page = store.history(room_a, hq(std::uint64_t{0}, std::nullopt, 50, 1));
    CHECK(seqs_of(*page) == range(1, 1));
    CHECK(page->has_more);
    page = store.history(room_a, hq(std::nullopt, std::nullopt, 50, 0));
    CHECK(seqs_of(*page) == range(10, 10));
    CHECK(page->has_more);
  }

  SECTION("paging on with since_seq gets every message once") {
    std::vector<std::uint64_t> seen;
    std::uint64_t since = 0;
    for (int i = 0; i < 20; ++i) {
      auto page = store.history(room_a, hq(since, std::nullopt, 50, 2 * one));
      REQUIRE(page.ok());
      REQUIRE_FALSE(page->messages.empty());
      for (const auto& m : page->messages) seen.push_back(m.seq);
      since = page->messages.back().seq;
      if (!page->has_more) break;
    }
    CHECK(seen == range(1, 10));
  }

  SECTION("a budget that holds everything changes nothing") {
    auto page = store.history(room_a, hq(std::uint64_t{0}, std::nullopt, 50, 100 * one));
    CHECK(seqs_of(*page) == range(1, 10));
    CHECK_FALSE(page->has_more);
  }
}

TEMPLATE_TEST_CASE("store conformance: history with before_seq", LIVECHAT_STORE_CONFORMANCE_TAGS,
                   LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  fill(store, room_a, 30);

  auto page = store.history(room_a, hq(std::nullopt, std::uint64_t{21}, 5));
  REQUIRE(page.ok());
  CHECK(seqs_of(*page) == range(16, 20));
  CHECK(page->has_more);
  CHECK(page->last_seq == 30);

  page = store.history(room_a, hq(std::nullopt, std::uint64_t{4}, 5));
  CHECK(seqs_of(*page) == range(1, 3));
  CHECK_FALSE(page->has_more);

  page = store.history(room_a, hq(std::nullopt, std::uint64_t{1}, 5));
  CHECK(page->messages.empty());
  CHECK_FALSE(page->has_more);

  for (std::uint64_t beyond : {std::uint64_t{31}, std::uint64_t{1000}, UINT64_MAX}) {
    page = store.history(room_a, hq(std::nullopt, beyond, 5));
    CHECK(seqs_of(*page) == range(26, 30));
    CHECK(page->has_more);
  }

  // Paging back through the whole room, newest page first.
  std::vector<std::uint64_t> seen;
  std::optional<std::uint64_t> before;
  for (int i = 0; i < 20; ++i) {
    page = store.history(room_a, hq(std::nullopt, before, 7));
    REQUIRE(page.ok());
    const auto got = seqs_of(*page);
    seen.insert(seen.begin(), got.begin(), got.end());
    if (!page->has_more) break;
    before = page->messages.front().seq;
  }
  CHECK(seen == range(1, 30));

  CHECK(store.history(room_a, hq(std::uint64_t{1}, std::uint64_t{5}, 5)).error() ==
        errc::validation_error);
}

TEMPLATE_TEST_CASE("store conformance: the conversation list pages",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();

  // 40 rooms; groups of four share a created_at, so only the cursor's
  // tie-breaker keeps them apart.
  for (int i = 0; i < 40; ++i)
    REQUIRE(store.append(request("conversation:r" + std::to_string(i), "x", "alice", {},
                                 1000 + (i / 4) * 10))
                .ok());
  const auto everything = rooms_of(*store.conversations(SIZE_MAX));
  REQUIRE(everything.size() == 40);
  CHECK(everything.front() == "conversation:r39");

  SECTION("walking every page returns each conversation once, in list order") {
    for (std::size_t size : {std::size_t{1}, std::size_t{3}, std::size_t{4}, std::size_t{7},
                             std::size_t{40}, std::size_t{41}, std::size_t{500}}) {
      livechat::conversation_query q;
      q.limit = size;
      std::size_t pages = 0;
      CHECK(walk(store, q, &pages) == everything);
      CHECK(pages == (40 + size - 1) / size);  // no empty last page
    }
  }

  SECTION("cursor round trip: a page continues right after the cursor") {
    livechat::conversation_query q;
    q.limit = 6;
    auto first = store.list_conversations(q);
    REQUIRE(first.ok());
    CHECK(rooms_of(first->conversations) ==
          std::vector<std::string>(everything.begin(), everything.begin() + 6));
    REQUIRE_FALSE(first->next_cursor.empty());
    CHECK(livechat::parse_cursor(first->next_cursor).has_value());
    CHECK(livechat::format_cursor(*livechat::parse_cursor(first->next_cursor)) ==
          first->next_cursor);
    // Any row's cursor continues after that row.
    q.cursor = first->cursors[2];
    auto from_third = store.list_conversations(q);
    CHECK(rooms_of(from_third->conversations) ==
          std::vector<std::string>(everything.begin() + 3, everything.begin() + 9));
  }

  SECTION("a conversation that moves up between pages is not repeated") {
    livechat::conversation_query q;
    q.limit = 10;
    auto first = store.list_conversations(q);
    REQUIRE(store.append(request("conversation:r0", "again", "alice", {}, 99999)).ok());
    q.cursor = first->next_cursor;
    auto second = store.list_conversations(q);
    CHECK(rooms_of(second->conversations) ==
          std::vector<std::string>(everything.begin() + 10, everything.begin() + 20));
  }

  SECTION("bad cursors and limit 0 are refused") {
    livechat::conversation_query q;
    for (const char* bad : {"x", "1", "1.", ".1", "1.2.3", "1.-2", "01.2", "1.02", "-0.1", " 1.2",
                            "1.2 ", "+1.2", "1.9223372036854775808",
                            "99999999999999999999.1", "1e3.2"}) {
      INFO(bad);
      CHECK_FALSE(livechat::parse_cursor(bad).has_value());
      q.cursor = bad;
      CHECK(store.list_conversations(q).error() == errc::validation_error);
    }
    for (const char* good : {"0.0", "-5.3", "1700000000000.42", "9223372036854775807.1"})
      CHECK(livechat::parse_cursor(good).has_value());
    q.cursor.clear();
    q.limit = 0;
    CHECK(store.list_conversations(q).error() == errc::validation_error);
  }

  SECTION("a cursor past the end is an empty last page") {
    livechat::conversation_query q;
    q.cursor = "-9223372036854775807.0";
    auto page = store.list_conversations(q);
    REQUIRE(page.ok());
    CHECK(page->conversations.empty());
    CHECK(page->next_cursor.empty());
  }

  SECTION("the byte budget ends a page early; the cursor continues after it") {
    livechat::conversation_query q;
    q.limit = 100;
    const auto all = store.list_conversations(q);
    const std::size_t one = livechat::raw_size(all->conversations[0]);
    q.max_bytes = 5 * one + 1;
    auto page = store.list_conversations(q);
    REQUIRE(page.ok());
    REQUIRE(page->conversations.size() == 5);
    CHECK(page->next_cursor == page->cursors.back());
    CHECK(walk(store, q) == everything);
    q.max_bytes = 0;  // at least one per page
    CHECK(walk(store, q) == everything);
  }
}

TEMPLATE_TEST_CASE("store conformance: the conversation list filters",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  for (int i = 0; i < 30; ++i)
    REQUIRE(store.append(request("conversation:r" + std::to_string(i), "x", "alice", {}, 1000 + i))
                .ok());
  // r0..r9 claimed by bob (r0..r4 then closed), r10..r14 claimed by carol,
  // the rest open. A session saved for a room without messages is not listed.
  for (int i = 0; i < 15; ++i)
    REQUIRE(store.save_session("conversation:r" + std::to_string(i),
                               claimed_by(i < 10 ? "bob" : "carol"))
                .ok());
  for (int i = 0; i < 5; ++i) {
    auto s = claimed_by("bob", 2);
    s.status = livechat::session_status::closed;
    REQUIRE(store.save_session("conversation:r" + std::to_string(i), s).ok());
  }
  REQUIRE(store.save_session("conversation:empty", claimed_by("bob")).ok());

  auto rooms = [](int from, int to) {  // newest first: r{to} .. r{from}
    std::vector<std::string> out;
    for (int i = to; i >= from; --i) out.push_back("conversation:r" + std::to_string(i));
    return out;
  };
  auto joined = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  livechat::conversation_query q;
  q.limit = 4;
  q.status = livechat::session_status::open;
  CHECK(walk(store, q) == rooms(15, 29));
  q.status = livechat::session_status::claimed;
  CHECK(walk(store, q) == rooms(5, 14));
  q.status = livechat::session_status::closed;
  CHECK(walk(store, q) == rooms(0, 4));
  q.status.reset();
  q.claimed_by = "bob";
  CHECK(walk(store, q) == rooms(0, 9));
  q.status = livechat::session_status::claimed;
  CHECK(walk(store, q) == rooms(5, 9));
  q.status = livechat::session_status::open;
  CHECK(walk(store, q).empty());
  q.claimed_by = "nobody";
  q.status.reset();
  CHECK(walk(store, q).empty());

  SECTION("a change of session or a new message moves the room between lists") {
    REQUIRE(store.save_session("conversation:r12", livechat::session_state{}).ok());  // released
    REQUIRE(store.append(request("conversation:r3", "back", "alice", {}, 5000)).ok());
    q.claimed_by.clear();
    q.status = livechat::session_status::open;
    CHECK(walk(store, q) == joined(rooms(15, 29), {"conversation:r12"}));
    q.claimed_by = "bob";
    q.status = livechat::session_status::closed;
    CHECK(walk(store, q) ==
          joined({"conversation:r3"}, joined(rooms(4, 4), rooms(0, 2))));
    q.claimed_by = "carol";
    q.status.reset();
    CHECK(walk(store, q) == joined(rooms(13, 14), rooms(10, 11)));
    // A new message in a claimed room moves it to the top of every list
    // it is in, and of no other.
    REQUIRE(store.append(request("conversation:r11", "later", "alice", {}, 6000)).ok());
    CHECK(walk(store, q) == joined({"conversation:r11"}, joined(rooms(13, 14), rooms(10, 10))));
    q.status = livechat::session_status::claimed;
    CHECK(walk(store, q) == joined({"conversation:r11"}, joined(rooms(13, 14), rooms(10, 10))));
    q.claimed_by.clear();
    CHECK(walk(store, q) ==
          joined({"conversation:r11"}, joined(rooms(13, 14), joined(rooms(10, 10), rooms(5, 9)))));
    q.status = livechat::session_status::open;
    CHECK(walk(store, q) == joined(rooms(15, 29), {"conversation:r12"}));
  }
}

TEMPLATE_TEST_CASE("store conformance: 10,000 conversations walked page by page",
                   LIVECHAT_STORE_CONFORMANCE_TAGS "[paging]",
                   LIVECHAT_STORE_CONFORMANCE_BULK_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  constexpr int rooms = 10000;
  for (int i = 0; i < rooms; ++i) {
    REQUIRE(store.append(request("conversation:r" + std::to_string(i), "x", "alice", {},
                                 1000 + i / 3))
                .ok());
    if (i % 7 == 0) REQUIRE(store.save_session("conversation:r" + std::to_string(i), claimed_by("bob")).ok());
  }
  REQUIRE(store.flush().ok());

  for (bool filtered : {false, true}) {
    livechat::conversation_query q;
    q.limit = 100;
    if (filtered) q.status = livechat::session_status::claimed;
    std::set<std::string> seen;
    std::vector<double> ms;
    for (int pages = 0; pages < 1000; ++pages) {
      const auto start = std::chrono::steady_clock::now();
      auto page = store.list_conversations(q);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             start)
                       .count());
      REQUIRE(page.ok());
      for (const auto& c : page->conversations) CHECK(seen.insert(c.room).second);
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    CHECK(seen.size() == (filtered ? std::size_t{(rooms + 6) / 7} : std::size_t{rooms}));
    // Figures, not assertions: timing depends on the machine.
    if (std::getenv("LIVECHAT_PRINT_PAGE_TIMES") != nullptr) {
      std::vector<double> sorted = ms;
      std::sort(sorted.begin(), sorted.end());
      std::printf("%s %s: %zu pages, first %.3f ms, last %.3f ms, min %.3f, median %.3f, max %.3f\n",
                  harness<TestType>::name,
                  filtered ? "status=claimed" : "unfiltered", ms.size(), ms.front(), ms.back(),
                  sorted.front(), sorted[sorted.size() / 2], sorted.back());
    }
  }
}

// ------------------------------------------------------------- attachments

namespace {

livechat::attachment_record upload(std::string id, std::string owner = "alice",
                                   livechat::attachment_status status =
                                       livechat::attachment_status::ready) {
  livechat::attachment_record a;
  a.id = std::move(id);
  a.owner = std::move(owner);
  a.status = status;
  a.content_type = "image/png";
  a.name = "shot \xE3\x81\x82.png";
  a.created_at = at(5000);
  return a;
}

append_request file_message(std::string room, std::string attachment_id,
                            livechat::message_kind kind = livechat::message_kind::image) {
  append_request req = request(std::move(room), "shot.png", "U1");
  req.sender.type = livechat::sender_type::user;
  req.kind = kind;
  livechat::file_attachment f;
  f.id = std::move(attachment_id);
  req.attachment = f;
  return req;
}

}  // namespace

TEMPLATE_TEST_CASE("store conformance: attachments are stored with their bytes",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  const std::string bytes("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff", 17);
  auto a = upload("a1");
  a.duration_ms = 1234;
  a.size = 999;  // ignored for a ready upload: the size is the content's
  REQUIRE(store.put_attachment(a, bytes).ok());
  REQUIRE(store.flush().ok());

  auto found = store.find_attachment("a1");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  const auto& r = **found;
  CHECK(r.id == "a1");
  CHECK(r.owner == "alice");
  CHECK(r.status == livechat::attachment_status::ready);
  CHECK(r.content_type == "image/png");
  CHECK(r.size == bytes.size());
  CHECK(r.name == a.name);
  CHECK(r.duration_ms == std::optional<std::uint32_t>(1234));
  CHECK(r.created_at == at(5000));
  CHECK(r.room.empty());
  CHECK(r.seq == 0);
  auto content = store.attachment_content("a1");
  REQUIRE(content.ok());
  REQUIRE(content->has_value());
  CHECK(**content == bytes);

  CHECK_FALSE(store.find_attachment("nope")->has_value());
  CHECK_FALSE(store.attachment_content("nope")->has_value());
  CHECK_FALSE(store.find_attachment("../x")->has_value());  // not an id: nothing to find

  // The id is taken; a bad id, an owner missing, bytes on a pending one: refused.
  CHECK(store.put_attachment(upload("a1"), "other").error() == errc::validation_error);
  CHECK(store.put_attachment(upload("a/1"), "x").error() == errc::validation_error);
  CHECK(store.put_attachment(upload(std::string(65, 'a')), "x").error() == errc::validation_error);
  CHECK(store.put_attachment(upload("a2", ""), "x").error() == errc::validation_error);
  CHECK(store.put_attachment(upload("a3", "U1", livechat::attachment_status::pending), "x").error() ==
        errc::validation_error);
  CHECK(**store.attachment_content("a1") == bytes);

  // Above the bound: limit_exceeded and nothing stored.
  store.set_max_attachment_bytes(16);
  CHECK(store.put_attachment(upload("big"), bytes).error() == errc::limit_exceeded);
  CHECK_FALSE(store.find_attachment("big")->has_value());
  CHECK(store.put_attachment(upload("fits"), bytes.substr(0, 16)).ok());
  CHECK((*store.find_attachment("fits"))->size == 16);
}

TEMPLATE_TEST_CASE("store conformance: rich messages read back as stored",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  fill(store, room_a, 1);  // a text message keeps reading as text
  REQUIRE(store.put_attachment(upload("f1"), "12345").ok());

  auto sent = store.append(file_message(room_a, "f1"));
  REQUIRE(sent.ok());
  CHECK(sent->message.kind == livechat::message_kind::image);
  REQUIRE(std::holds_alternative<livechat::file_attachment>(sent->message.attachment));
  // The stored message shows the record, not what the request said.
  const auto& f = std::get<livechat::file_attachment>(sent->message.attachment);
  CHECK(f.id == "f1");
  CHECK(f.status == livechat::attachment_status::ready);
  CHECK(f.size == 5);
  CHECK(f.content_type == "image/png");
  CHECK(f.url.empty());

  auto sticker = request(room_a, "[sticker]");
  sticker.kind = livechat::message_kind::sticker;
  sticker.attachment = livechat::sticker_attachment{"446", "1988"};
  REQUIRE(store.append(sticker).ok());
  auto where = request(room_a, "Tower");
  where.kind = livechat::message_kind::location;
  where.attachment = livechat::location_attachment{"Tower", "4-2-8 Shibakoen", 35.6591080794,
                                                   -139.7037289291};
  REQUIRE(store.append(where).ok());
  REQUIRE(store.flush().ok());

  // A file message whose attachment does not exist, or a kind without its
  // metadata, is refused and stores nothing.
  CHECK(store.append(file_message(room_a, "missing")).error() == errc::validation_error);
  auto bare = request(room_a, "x");
  bare.kind = livechat::message_kind::sticker;
  CHECK(store.append(bare).error() == errc::validation_error);
  auto text_with = request(room_a, "x");
  text_with.attachment = livechat::sticker_attachment{"1", "2"};
  CHECK(store.append(text_with).error() == errc::validation_error);
  REQUIRE(store.flush().ok());
  CHECK(*store.last_seq(room_a) == 4);

  auto page = store.history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  REQUIRE(page->messages.size() == 4);
  CHECK(page->messages[0].kind == livechat::message_kind::text);
  CHECK(page->messages[0].attachment.index() == 0);
  CHECK(page->messages[1].kind == livechat::message_kind::image);
  const auto& hf = std::get<livechat::file_attachment>(page->messages[1].attachment);
  CHECK(hf.id == "f1");
  CHECK(hf.size == 5);
  CHECK(hf.name == upload("f1").name);
  CHECK(page->messages[2].kind == livechat::message_kind::sticker);
  CHECK(std::get<livechat::sticker_attachment>(page->messages[2].attachment).sticker_id == "1988");
  CHECK(page->messages[3].kind == livechat::message_kind::location);
  const auto& loc = std::get<livechat::location_attachment>(page->messages[3].attachment);
  CHECK(loc.address == "4-2-8 Shibakoen");
  CHECK(loc.latitude == 35.6591080794);
  CHECK(loc.longitude == -139.7037289291);

  // The record now names its first message.
  auto rec = store.find_attachment("f1");
  CHECK((*rec)->room == room_a);
  CHECK((*rec)->seq == 2);

  auto list = store.conversations(10);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].last_message->kind == livechat::message_kind::location);
}

TEMPLATE_TEST_CASE("store conformance: a pending attachment becomes ready or failed once",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  using livechat::attachment_status;
  auto p = upload("p1", "U1", attachment_status::pending);
  p.content_type.clear();
  REQUIRE(store.put_attachment(p, {}).ok());
  REQUIRE(store.put_attachment(upload("p2", "U1", attachment_status::pending), {}).ok());
  REQUIRE(store.append(file_message(room_a, "p1", livechat::message_kind::video)).ok());
  REQUIRE(store.append(file_message(room_a, "p2")).ok());
  CHECK_FALSE(store.attachment_content("p1")->has_value());  // not ready: no bytes
  CHECK(std::get<livechat::file_attachment>(store.history(room_a, std::nullopt, 50)->messages[0].attachment)
            .status == attachment_status::pending);

  const std::string video(3000, '\x01');
  auto done = store.finish_attachment("p1", attachment_status::ready, video, "video/mp4");
  REQUIRE(done.ok());
  CHECK(done->attachment.status == attachment_status::ready);
  CHECK(done->attachment.size == 3000);
  CHECK(done->attachment.content_type == "video/mp4");
  REQUIRE(done->message);
  CHECK(done->message->seq == 1);
  CHECK(done->message->kind == livechat::message_kind::video);
  const auto& f = std::get<livechat::file_attachment>(done->message->attachment);
  CHECK(f.status == attachment_status::ready);
  CHECK(f.size == 3000);
  CHECK(f.content_type == "video/mp4");

  auto failed = store.finish_attachment("p2", attachment_status::failed, {});
  REQUIRE(failed.ok());
  REQUIRE(failed->message);
  CHECK(failed->message->seq == 2);
  CHECK(std::get<livechat::file_attachment>(failed->message->attachment).status ==
        attachment_status::failed);
  CHECK(failed->attachment.content_type == "image/png");  // kept when none is given
  REQUIRE(store.flush().ok());

  auto page = store.history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  CHECK(std::get<livechat::file_attachment>(page->messages[0].attachment).status ==
        attachment_status::ready);
  CHECK(std::get<livechat::file_attachment>(page->messages[1].attachment).status ==
        attachment_status::failed);
  CHECK(**store.attachment_content("p1") == video);
  CHECK_FALSE(store.attachment_content("p2")->has_value());

  // Once only; unknown ids; bytes on a failure; pending is not an outcome.
  CHECK(store.finish_attachment("p1", attachment_status::failed, {}).error() ==
        errc::validation_error);
  CHECK(store.finish_attachment("zz", attachment_status::failed, {}).error() == errc::not_found);
  REQUIRE(store.put_attachment(upload("p3", "U1", attachment_status::pending), {}).ok());
  CHECK(store.finish_attachment("p3", attachment_status::failed, "x").error() ==
        errc::validation_error);
  CHECK(store.finish_attachment("p3", attachment_status::pending, {}).error() ==
        errc::validation_error);
  store.set_max_attachment_bytes(10);
  CHECK(store.finish_attachment("p3", attachment_status::ready, std::string(11, 'x')).error() ==
        errc::limit_exceeded);
  // Not yet carried by a message: the update has none to report.
  auto lone = store.finish_attachment("p3", attachment_status::ready, "0123456789");
  REQUIRE(lone.ok());
  CHECK_FALSE(lone->message);
  CHECK(store.flush().ok());
  CHECK((*store.find_attachment("p3"))->status == attachment_status::ready);
}

TEMPLATE_TEST_CASE("store conformance: pending attachments are listed, a failed one may still become ready",
                   LIVECHAT_STORE_CONFORMANCE_TAGS, LIVECHAT_STORE_CONFORMANCE_TYPES) {
  harness<TestType> h;
  auto& store = h.store();
  using livechat::attachment_status;
  CHECK(store.pending_attachments(10)->empty());
  for (const char* id : {"q3", "q1", "q2"}) {
    auto a = upload(id, "U1", attachment_status::pending);
    // q3 oldest, then q1 and q2 at once (ordered by id)
    a.created_at = std::string(id) == "q3" ? at(5000) : at(6000);
    REQUIRE(store.put_attachment(a, {}).ok());
  }
  REQUIRE(store.put_attachment(upload("r1"), "ready").ok());
  REQUIRE(store.append(file_message(room_a, "q1")).ok());
  REQUIRE(store.flush().ok());
  CHECK(*store.pending_attachments(10) == std::vector<std::string>{"q3", "q1", "q2"});
  CHECK(*store.pending_attachments(2) == std::vector<std::string>{"q3", "q1"});
  CHECK(store.pending_attachments(0)->empty());

  REQUIRE(store.finish_attachment("q1", attachment_status::failed, {}).ok());
  CHECK(*store.pending_attachments(10) == std::vector<std::string>{"q3", "q2"});
  // Failed stays failed once said; a retried fetch that succeeds makes it ready.
  CHECK(store.finish_attachment("q1", attachment_status::failed, {}).error() == errc::validation_error);
  auto retried = store.finish_attachment("q1", attachment_status::ready, "late", "image/jpeg");
  REQUIRE(retried.ok());
  CHECK(retried->attachment.status == attachment_status::ready);
  REQUIRE(retried->message);
  CHECK(std::get<livechat::file_attachment>(retried->message->attachment).status ==
        attachment_status::ready);
  CHECK(store.finish_attachment("q1", attachment_status::ready, "again").error() ==
        errc::validation_error);
  REQUIRE(store.flush().ok());
  CHECK(**store.attachment_content("q1") == "late");
}

#endif  // LIVECHAT_TESTS_STORE_CONFORMANCE_HPP
