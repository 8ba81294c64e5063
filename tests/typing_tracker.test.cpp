// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/presence/typing_tracker.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_typing_tracker {

namespace {

using time_point = std::chrono::steady_clock::time_point;
using tracker = livechat::typing_tracker<int, time_point>;
using namespace std::chrono_literals;

const time_point t0 = time_point{} + 1000s;
const std::string room_a = "conversation:a";
const std::string room_b = "conversation:b";

std::vector<std::string> rooms_and_users(std::vector<tracker::entry> entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.room + "/" + e.user_id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("typing_tracker start reports only a new typist", "[typing_tracker]") {
  tracker t;
  CHECK(t.size() == 0);
  CHECK_FALSE(t.is_typing(room_a, "alice"));
  CHECK(t.start(room_a, "alice", "Alice", 1, t0 + 3s));
  CHECK(t.is_typing(room_a, "alice"));
  CHECK(t.size() == 1);
  CHECK_FALSE(t.start(room_a, "alice", "Alice", 1, t0 + 4s));
  CHECK_FALSE(t.start(room_a, "alice", "Alice", 2, t0 + 5s));  // another tab of the same user
  CHECK(t.size() == 1);
  CHECK(t.start(room_a, "bob", "Bob", 3, t0 + 3s));
  CHECK(t.size() == 2);

  SECTION("after stop, start is new again") {
    CHECK(t.stop(room_a, "alice"));
    CHECK(t.start(room_a, "alice", "Alice", 1, t0 + 6s));
  }
  SECTION("after expiry, start is new again") {
    CHECK(t.expire(t0 + 5s).size() == 2);
    CHECK(t.size() == 0);
    CHECK(t.start(room_a, "alice", "Alice", 1, t0 + 8s));
  }
}

TEST_CASE("typing_tracker expires at the deadline, not before", "[typing_tracker]") {
  tracker t;
  t.start(room_a, "alice", "Alice", 7, t0 + 3s);

  CHECK(t.expire(t0).empty());
  CHECK(t.expire(t0 + 3s - 1ns).empty());
  CHECK(t.is_typing(room_a, "alice"));

  auto out = t.expire(t0 + 3s);
  REQUIRE(out.size() == 1);
  CHECK(out[0].room == room_a);
  CHECK(out[0].user_id == "alice");
  CHECK(out[0].name == "Alice");
  CHECK(out[0].connection == 7);
  CHECK_FALSE(t.is_typing(room_a, "alice"));
  CHECK(t.size() == 0);
  // Gone for good: expiring again returns nothing.
  CHECK(t.expire(t0 + 10s).empty());

  SECTION("a late expire still returns the entry once") {
    t.start(room_a, "alice", "Alice", 7, t0 + 20s);
    CHECK(t.expire(t0 + 1h).size() == 1);
    CHECK(t.expire(t0 + 2h).empty());
  }
}

TEST_CASE("typing_tracker restart extends the deadline", "[typing_tracker]") {
  tracker t;
  t.start(room_a, "alice", "Alice", 1, t0 + 3s);
  // typing_start again 2 s later: the 3 s count again from there.
  CHECK_FALSE(t.start(room_a, "alice", "Alice", 1, t0 + 5s));
  CHECK(t.expire(t0 + 3s).empty());
  CHECK(t.expire(t0 + 5s - 1ms).empty());
  CHECK(t.is_typing(room_a, "alice"));
  CHECK(t.expire(t0 + 5s).size() == 1);
  CHECK_FALSE(t.is_typing(room_a, "alice"));

  SECTION("a restart takes the latest connection and name") {
    t.start(room_a, "bob", "Bob", 1, t0 + 10s);
    t.start(room_a, "bob", "Bobby", 2, t0 + 11s);
    auto out = t.expire(t0 + 11s);
    REQUIRE(out.size() == 1);
    CHECK(out[0].name == "Bobby");
    CHECK(out[0].connection == 2);
  }
}

TEST_CASE("typing_tracker stop and stop_if", "[typing_tracker]") {
  tracker t;
  t.start(room_a, "alice", "Alice", 1, t0 + 3s);

  SECTION("stop: true only when typing") {
    CHECK(t.stop(room_a, "alice"));
    CHECK_FALSE(t.is_typing(room_a, "alice"));
    CHECK_FALSE(t.stop(room_a, "alice"));
    CHECK_FALSE(t.stop(room_a, "nobody"));
    CHECK_FALSE(t.stop(room_b, "alice"));
    CHECK(t.expire(t0 + 1h).empty());  // a stopped entry never expires later
  }

  SECTION("stop_if with the wrong connection does not stop") {
    CHECK_FALSE(t.stop_if(room_a, "alice", 2));
    CHECK(t.is_typing(room_a, "alice"));
    CHECK_FALSE(t.stop_if(room_b, "alice", 1));
    CHECK_FALSE(t.stop_if(room_a, "bob", 1));
    CHECK(t.is_typing(room_a, "alice"));
    CHECK(t.stop_if(room_a, "alice", 1));
    CHECK_FALSE(t.is_typing(room_a, "alice"));
    CHECK_FALSE(t.stop_if(room_a, "alice", 1));
  }

  SECTION("stop_if follows the connection that typed last") {
    t.start(room_a, "alice", "Alice", 2, t0 + 4s);  // the other tab takes over
    CHECK_FALSE(t.stop_if(room_a, "alice", 1));      // the first tab closing does not end it
    CHECK(t.is_typing(room_a, "alice"));
    CHECK(t.stop_if(room_a, "alice", 2));
    CHECK_FALSE(t.is_typing(room_a, "alice"));
  }
}

TEST_CASE("typing_tracker rooms and users are independent", "[typing_tracker]") {
  tracker t;
  CHECK(t.start(room_a, "alice", "Alice", 1, t0 + 3s));
  CHECK(t.start(room_b, "alice", "Alice", 1, t0 + 6s));  // same user, other room: new
  CHECK(t.start(room_a, "bob", "Bob", 2, t0 + 4s));
  CHECK(t.size() == 3);

  CHECK(t.stop(room_a, "alice"));
  CHECK(t.is_typing(room_b, "alice"));
  CHECK(t.is_typing(room_a, "bob"));

  CHECK(t.expire(t0 + 3s).empty());
  CHECK(rooms_and_users(t.expire(t0 + 4s)) == std::vector<std::string>{room_a + "/bob"});
  CHECK(t.is_typing(room_b, "alice"));
  CHECK(rooms_and_users(t.expire(t0 + 6s)) == std::vector<std::string>{room_b + "/alice"});
  CHECK(t.size() == 0);

  SECTION("one expire returns every due entry across rooms") {
    t.start(room_a, "alice", "Alice", 1, t0 + 10s);
    t.start(room_b, "alice", "Alice", 1, t0 + 11s);
    t.start(room_b, "bob", "Bob", 2, t0 + 12s);
    t.start(room_a, "carol", "Carol", 3, t0 + 20s);
    CHECK(rooms_and_users(t.expire(t0 + 12s)) ==
          std::vector<std::string>{room_a + "/alice", room_b + "/alice", room_b + "/bob"});
    CHECK(t.size() == 1);
    CHECK(t.is_typing(room_a, "carol"));
  }
}

}  // namespace livechat_unit_typing_tracker
