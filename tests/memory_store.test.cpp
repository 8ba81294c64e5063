// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// memory_store: the MessageStore contract (store_conformance.hpp), then
// what only the in-memory store has: a fixed epoch for tests, a new epoch
// per instance, and how its injected failures count calls.
#include <livechat/store/memory_store.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace {

using livechat::memory_store;

template <class T>
struct harness;

template <>
struct harness<memory_store> {
  static constexpr const char* name = "memory_store";
  memory_store s;
  memory_store& store() { return s; }
};

}  // namespace

#define LIVECHAT_STORE_CONFORMANCE_TYPES memory_store
#define LIVECHAT_STORE_CONFORMANCE_BULK_TYPES memory_store
#define LIVECHAT_STORE_CONFORMANCE_TAGS "[store]"
#include "store_conformance.hpp"

// === What only memory_store has ==============================================

TEST_CASE("memory_store: a fixed epoch for tests names every id", "[store]") {
  memory_store store("feedbeef");
  CHECK(store.epoch() == "feedbeef");
  CHECK(*store.epoch(room_a) == "feedbeef");
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string& room = i % 3 == 0 ? room_a : room_b;
    auto r = store.append(request(room, "x"));
    REQUIRE(r.ok());
    CHECK(r->message.id.rfind("feedbeef-", 0) == 0);
    ids.insert(r->message.id);
  }
  CHECK(ids.size() == 100);
}

TEST_CASE("memory_store: every instance is a new history with a new epoch", "[store]") {
  std::set<std::string> epochs;
  for (int i = 0; i < 50; ++i) epochs.insert(memory_store().epoch());
  CHECK(epochs.size() == 50);
}

TEST_CASE("memory_store: fail_after counts hook calls, history makes one or two", "[store]") {
  memory_store store("e");
  fill(store, room_a, 3);
  REQUIRE(store.calls() == 3);

  SECTION("a page reads the newest seq, then the messages") {
    REQUIRE(store.history(room_a, std::nullopt, 50).ok());
    CHECK(store.calls() == 5);
    REQUIRE(store.last_seq(room_a).ok());
    CHECK(store.calls() == 6);
  }

  SECTION("a page with nothing to read reads the newest seq alone") {
    REQUIRE(store.history(room_a, std::uint64_t{3}, 50).ok());
    REQUIRE(store.history("conversation:nobody", std::nullopt, 50).ok());
    CHECK(store.calls() == 5);
  }

  SECTION("a failure while reading the messages fails the page once") {
    store.fail_after(1);
    auto page = store.history(room_a, std::nullopt, 50);
    REQUIRE_FALSE(page.ok());
    CHECK(page.error() == errc::store_failure);
    CHECK(store.calls() == 5);
    CHECK(store.stats().failures == 1);
    store.clear_failure();
    CHECK(seqs_of(*store.history(room_a, std::nullopt, 50)) == range(1, 3));
  }
}
