// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/rooms/room_registry.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_room_registry {

namespace {

using registry = livechat::room_registry<int>;

const std::string room_a = "conversation:a";
const std::string room_b = "conversation:b";
const std::string room_c = "conversation:c";

std::vector<int> sorted_members(const registry& r, const std::string& room) {
  std::vector<int> m = r.members(room);
  std::sort(m.begin(), m.end());
  return m;
}

/// Every handle in `expected` is a member, at a consistent position, and the
/// member list holds exactly `expected` (in any order, no duplicates).
void check_members(const registry& r, const std::string& room, std::vector<int> expected) {
  std::sort(expected.begin(), expected.end());
  INFO("room: " << room);
  CHECK(sorted_members(r, room) == expected);
  for (int h : expected) {
    INFO("handle: " << h);
    CHECK(r.is_member(room, h));
  }
}

std::map<std::string, std::pair<std::string, std::uint32_t>> tally(const registry& r,
                                                                   const std::string& room) {
  std::map<std::string, std::pair<std::string, std::uint32_t>> out;
  for (const auto& [user, t] : r.users(room)) out[user] = {t.name, t.connections};
  return out;
}

/// A handle type that is not an integer, with its own hash.
struct conn {
  std::string id;
  friend bool operator==(const conn& a, const conn& b) { return a.id == b.id; }
};
struct conn_hash {
  std::size_t operator()(const conn& c) const noexcept { return std::hash<std::string>()(c.id); }
};

}  // namespace

TEST_CASE("room_registry join is idempotent", "[room_registry]") {
  registry r;
  auto first = r.join(room_a, 1, "alice", "Alice");
  CHECK(first.joined);
  CHECK(first.first_of_user);
  auto again = r.join(room_a, 1, "alice", "Alice");
  CHECK_FALSE(again.joined);
  CHECK_FALSE(again.first_of_user);
  check_members(r, room_a, {1});
  CHECK(r.members(room_a).size() == 1);
  CHECK(r.users(room_a).at("alice").connections == 1);
  CHECK(r.rooms_of(1) == 1);
  CHECK(r.room_count() == 1);

  // One leave undoes the single membership.
  auto left = r.leave(room_a, 1, "alice");
  CHECK(left.left);
  CHECK(left.last_of_user);
  CHECK_FALSE(r.is_member(room_a, 1));
  CHECK(r.room_count() == 0);
  CHECK_FALSE(r.leave(room_a, 1, "alice").left);
}

TEST_CASE("room_registry first_of_user / last_of_user", "[room_registry]") {
  registry r;
  // Handles 1 and 2 are two tabs of alice, 3 is bob.
  CHECK(r.join(room_a, 1, "alice", "Alice").first_of_user);
  auto second_tab = r.join(room_a, 2, "alice", "Alice");
  CHECK(second_tab.joined);
  CHECK_FALSE(second_tab.first_of_user);
  CHECK(r.join(room_a, 3, "bob", "Bob").first_of_user);
  CHECK(r.users(room_a).at("alice").connections == 2);
  CHECK(r.users(room_a).at("bob").connections == 1);

  SECTION("alice's first tab leaves, then bob, then alice's second tab") {
    auto l1 = r.leave(room_a, 1, "alice");
    CHECK(l1.left);
    CHECK_FALSE(l1.last_of_user);
    CHECK(r.users(room_a).at("alice").connections == 1);
    auto l3 = r.leave(room_a, 3, "bob");
    CHECK(l3.left);
    CHECK(l3.last_of_user);
    CHECK(r.users(room_a).count("bob") == 0);
    auto l2 = r.leave(room_a, 2, "alice");
    CHECK(l2.left);
    CHECK(l2.last_of_user);
    CHECK(r.room_count() == 0);
  }

  SECTION("a tab that re-joins after the user's last leave is first again") {
    CHECK_FALSE(r.leave(room_a, 2, "alice").last_of_user);
    CHECK(r.leave(room_a, 1, "alice").last_of_user);
    CHECK(r.join(room_a, 1, "alice", "Alice").first_of_user);
    CHECK_FALSE(r.join(room_a, 2, "alice", "Alice").first_of_user);
  }

  SECTION("per room: the same user is first in each room") {
    CHECK(r.join(room_b, 2, "alice", "Alice").first_of_user);
    CHECK_FALSE(r.join(room_b, 1, "alice", "Alice").first_of_user);
    CHECK(r.leave(room_a, 1, "alice").left);
    CHECK_FALSE(r.leave(room_b, 1, "alice").last_of_user);
    CHECK(r.leave(room_b, 2, "alice").last_of_user);
    CHECK(r.leave(room_a, 2, "alice").last_of_user);
  }
}

TEST_CASE("room_registry swap-and-pop keeps every index right", "[room_registry]") {
  registry r;
  const std::vector<int> all = {10, 11, 12, 13, 14};
  for (int h : all) REQUIRE(r.join(room_a, h, "u" + std::to_string(h), "U").joined);
  // The same handles in another room, joined in another order, so that
  // each handle has different positions in the two rooms.
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    REQUIRE(r.join(room_b, *it, "u" + std::to_string(*it), "U").joined);
  REQUIRE(r.members(room_a) == all);  // join appends

  // Removes `h` from room_a, then removes every remaining handle one by one
  // (in the order `order` gives), checking the member list after each step.
  auto drain = [&](int first, bool forward) {
    std::vector<int> expected = all;
    auto remove = [&](int h) {
      INFO("leaving: " << h);
      auto out = r.leave(room_a, h, "u" + std::to_string(h));
      CHECK(out.left);
      CHECK(out.last_of_user);
      CHECK_FALSE(r.is_member(room_a, h));
      expected.erase(std::find(expected.begin(), expected.end(), h));
      check_members(r, room_a, expected);
      // room_b is untouched by room_a's swaps.
      check_members(r, room_b, all);
    };
    remove(first);
    while (!expected.empty()) {
      // Take the handle from the current member list so that positions
      // produced by earlier swaps are exercised.
      std::vector<int> current = r.members(room_a);
      REQUIRE_FALSE(current.empty());
      remove(forward ? current.front() : current[current.size() / 2]);
    }
    CHECK(r.members(room_a).empty());
    CHECK(r.users(room_a).empty());
    CHECK(r.room_count() == 1);
    // And room_b still drains correctly too.
    for (int h : all) {
      CHECK(r.leave(room_b, h, "u" + std::to_string(h)).left);
    }
    CHECK(r.room_count() == 0);
  };

  SECTION("remove the first") { drain(10, true); }
  SECTION("remove the first, then drain from the middle") { drain(10, false); }
  SECTION("remove a middle one") { drain(12, true); }
  SECTION("remove a middle one, then drain from the middle") { drain(12, false); }
  SECTION("remove the last") { drain(14, true); }
  SECTION("remove the last, then drain from the middle") { drain(14, false); }

  SECTION("leave_all after swaps uses the updated index") {
    REQUIRE(r.leave(room_a, 10, "u10").left);  // 14 moves to index 0 in room_a
    REQUIRE(r.leave(room_b, 14, "u14").left);  // 10 moves to index 0 in room_b
    auto out = r.leave_all(14, "u14");
    REQUIRE(out.size() == 1);
    CHECK(out[0].first == room_a);
    check_members(r, room_a, {11, 12, 13});
    out = r.leave_all(10, "u10");
    REQUIRE(out.size() == 1);
    CHECK(out[0].first == room_b);
    check_members(r, room_b, {11, 12, 13});
    for (int h : {11, 12, 13}) CHECK(r.leave_all(h, "u" + std::to_string(h)).size() == 2);
    CHECK(r.room_count() == 0);
  }
}

TEST_CASE("room_registry leave of a non-member", "[room_registry]") {
  registry r;
  r.join(room_a, 1, "alice", "Alice");
  r.join(room_b, 2, "bob", "Bob");

  SECTION("unknown handle") {
    auto out = r.leave(room_a, 99, "zed");
    CHECK_FALSE(out.left);
    CHECK_FALSE(out.last_of_user);
  }
  SECTION("known handle, other room") {
    auto out = r.leave(room_b, 1, "alice");
    CHECK_FALSE(out.left);
    CHECK_FALSE(out.last_of_user);
  }
  SECTION("unknown room") {
    CHECK_FALSE(r.leave("conversation:none", 1, "alice").left);
  }
  SECTION("a handle of a user who is in the room through another tab") {
    auto out = r.leave(room_a, 3, "alice");
    CHECK_FALSE(out.left);
    CHECK_FALSE(out.last_of_user);
  }
  // Nothing changed.
  check_members(r, room_a, {1});
  check_members(r, room_b, {2});
  CHECK(r.users(room_a).at("alice").connections == 1);
  CHECK(r.users(room_b).at("bob").connections == 1);
  CHECK(r.rooms_of(1) == 1);
  CHECK(r.rooms_of(2) == 1);
  CHECK(r.room_count() == 2);
}

TEST_CASE("room_registry leave_all returns each room with its outcome", "[room_registry]") {
  registry r;
  // Handle 1 (alice) is in a (alone), b (with alice's other tab 2), c (with bob's 3).
  r.join(room_a, 1, "alice", "Alice");
  r.join(room_b, 1, "alice", "Alice");
  r.join(room_b, 2, "alice", "Alice");
  r.join(room_c, 3, "bob", "Bob");
  r.join(room_c, 1, "alice", "Alice");
  REQUIRE(r.rooms_of(1) == 3);

  auto out = r.leave_all(1, "alice");
  std::sort(out.begin(), out.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  REQUIRE(out.size() == 3);
  CHECK(out[0].first == room_a);
  CHECK(out[0].second.left);
  CHECK(out[0].second.last_of_user);
  CHECK(out[1].first == room_b);
  CHECK(out[1].second.left);
  CHECK_FALSE(out[1].second.last_of_user);
  CHECK(out[2].first == room_c);
  CHECK(out[2].second.left);
  CHECK(out[2].second.last_of_user);

  CHECK(r.rooms_of(1) == 0);
  for (const auto& room : {room_a, room_b, room_c}) CHECK_FALSE(r.is_member(room, 1));
  CHECK(r.members(room_a).empty());
  check_members(r, room_b, {2});
  check_members(r, room_c, {3});
  CHECK(r.users(room_c).count("alice") == 0);
  CHECK(r.users(room_b).at("alice").connections == 1);
  CHECK(r.room_count() == 2);

  SECTION("again, and for an unknown handle: nothing") {
    CHECK(r.leave_all(1, "alice").empty());
    CHECK(r.leave_all(42, "nobody").empty());
    CHECK(r.room_count() == 2);
  }
  SECTION("the handle can join again afterwards") {
    CHECK(r.join(room_a, 1, "alice", "Alice").joined);
    CHECK(r.rooms_of(1) == 1);
  }
}

TEST_CASE("room_registry rooms_of, room_count and reclaiming empty rooms", "[room_registry]") {
  registry r;
  CHECK(r.room_count() == 0);
  CHECK(r.rooms_of(1) == 0);
  CHECK(r.members(room_a).empty());
  CHECK(r.users(room_a).empty());
  CHECK_FALSE(r.is_member(room_a, 1));

  r.join(room_a, 1, "alice", "Alice");
  r.join(room_b, 1, "alice", "Alice");
  r.join(room_b, 2, "bob", "Bob");
  CHECK(r.rooms_of(1) == 2);
  CHECK(r.rooms_of(2) == 1);
  CHECK(r.room_count() == 2);

  r.leave(room_a, 1, "alice");
  CHECK(r.room_count() == 1);  // a is empty and gone
  CHECK(r.members(room_a).empty());
  CHECK(r.users(room_a).empty());
  CHECK(r.rooms_of(1) == 1);

  r.leave(room_b, 1, "alice");
  CHECK(r.room_count() == 1);
  CHECK(r.rooms_of(1) == 0);
  r.leave(room_b, 2, "bob");
  CHECK(r.room_count() == 0);
  CHECK(r.members(room_b).empty());
  CHECK(r.users(room_b).empty());

  // A reclaimed room starts afresh.
  auto j = r.join(room_b, 2, "bob", "Bob");
  CHECK(j.joined);
  CHECK(j.first_of_user);
  CHECK(r.users(room_b).at("bob").connections == 1);
}

TEST_CASE("room_registry users() tallies names and connections", "[room_registry]") {
  registry r;
  r.join(room_a, 1, "alice", "Alice");
  r.join(room_a, 2, "bob", "Bob");
  r.join(room_a, 3, "alice", "Alice (tab 2)");
  auto t = tally(r, room_a);
  REQUIRE(t.size() == 2);
  CHECK(t["alice"].second == 2);
  CHECK(t["bob"] == std::make_pair(std::string("Bob"), std::uint32_t{1}));
  // The latest join's name is the one shown (as presence_tracker does).
  CHECK(t["alice"].first == "Alice (tab 2)");

  r.leave(room_a, 1, "alice");
  t = tally(r, room_a);
  CHECK(t["alice"].second == 1);
  r.leave(room_a, 3, "alice");
  t = tally(r, room_a);
  CHECK(t.count("alice") == 0);
  CHECK(t.size() == 1);
}

TEST_CASE("room_registry with a custom handle type and hash", "[room_registry]") {
  livechat::room_registry<conn, conn_hash> r;
  CHECK(r.join(room_a, conn{"x"}, "alice", "Alice").joined);
  CHECK_FALSE(r.join(room_a, conn{"x"}, "alice", "Alice").joined);
  CHECK(r.join(room_a, conn{"y"}, "bob", "Bob").first_of_user);
  CHECK(r.members(room_a).size() == 2);
  CHECK(r.is_member(room_a, conn{"y"}));
  CHECK(r.leave(room_a, conn{"x"}, "alice").last_of_user);
  REQUIRE(r.members(room_a).size() == 1);
  CHECK(r.members(room_a)[0].id == "y");
  CHECK(r.leave_all(conn{"y"}, "bob").size() == 1);
  CHECK(r.room_count() == 0);
}

namespace {

/// The obvious model: room -> handle -> user, and room -> user -> (name, count).
struct registry_model {
  std::map<std::string, std::map<int, std::string>> members;
  std::map<std::string, std::map<std::string, std::pair<std::string, std::uint32_t>>> users;

  registry::join_outcome join(const std::string& room, int h, const std::string& user,
                              const std::string& name) {
    auto& m = members[room];
    if (m.count(h) != 0) return {false, false};
    m[h] = user;
    auto& u = users[room][user];
    u.first = name;
    return {true, ++u.second == 1};
  }

  registry::leave_outcome leave(const std::string& room, int h) {
    auto r = members.find(room);
    if (r == members.end() || r->second.count(h) == 0) return {false, false};
    const std::string user = r->second[h];
    r->second.erase(h);
    registry::leave_outcome out{true, false};
    auto& room_users = users[room];
    if (--room_users[user].second == 0) {
      room_users.erase(user);
      out.last_of_user = true;
    }
    if (r->second.empty()) {
      members.erase(r);
      users.erase(room);
    }
    return out;
  }

  std::map<std::string, registry::leave_outcome> leave_all(int h) {
    std::map<std::string, registry::leave_outcome> out;
    std::vector<std::string> rooms;
    for (const auto& [room, m] : members)
      if (m.count(h) != 0) rooms.push_back(room);
    for (const auto& room : rooms) out[room] = leave(room, h);
    return out;
  }

  std::size_t rooms_of(int h) const {
    std::size_t n = 0;
    for (const auto& [room, m] : members) n += m.count(h);
    return n;
  }
};

/// Empty when `r` matches `m` for `room`; else a description of the mismatch.
/// is_member is checked for every expected member, and with `handles` > 0
/// also for every handle 0..handles-1 (members or not).
std::string compare_room(const registry& r, const registry_model& m, const std::string& room,
                         int handles) {
  std::ostringstream why;
  std::vector<int> expected;
  auto it = m.members.find(room);
  if (it != m.members.end())
    for (const auto& [h, user] : it->second) expected.push_back(h);
  std::vector<int> actual = r.members(room);
  std::sort(actual.begin(), actual.end());
  if (actual != expected) {
    why << "members(" << room << ") differ";
    return why.str();
  }
  std::map<std::string, std::pair<std::string, std::uint32_t>> expected_users;
  auto u = m.users.find(room);
  if (u != m.users.end()) expected_users = u->second;
  if (tally(r, room) != expected_users) {
    why << "users(" << room << ") differ";
    return why.str();
  }
  for (int h : expected) {
    if (!r.is_member(room, h)) {
      why << "is_member(" << room << ", " << h << ") is false";
      return why.str();
    }
  }
  for (int h = 0; h < handles; ++h) {
    const bool expected_member = it != m.members.end() && it->second.count(h) != 0;
    if (r.is_member(room, h) != expected_member) {
      why << "is_member(" << room << ", " << h << ") != " << expected_member;
      return why.str();
    }
  }
  return {};
}

std::string compare_handle(const registry& r, const registry_model& m, int h) {
  if (r.rooms_of(h) == m.rooms_of(h)) return {};
  std::ostringstream why;
  why << "rooms_of(" << h << ") " << r.rooms_of(h) << " != " << m.rooms_of(h);
  return why.str();
}

/// Empty when `r` matches `m` everywhere; else a description of the first mismatch.
std::string compare(const registry& r, const registry_model& m, const std::vector<std::string>& rooms,
                    int handles) {
  if (r.room_count() != m.members.size()) {
    std::ostringstream why;
    why << "room_count " << r.room_count() << " != " << m.members.size();
    return why.str();
  }
  for (const auto& room : rooms)
    if (std::string why = compare_room(r, m, room, handles); !why.empty()) return why;
  for (int h = 0; h < handles; ++h)
    if (std::string why = compare_handle(r, m, h); !why.empty()) return why;
  return {};
}

}  // namespace

TEST_CASE("room_registry matches a reference model under random operations",
          "[room_registry][random]") {
  constexpr int handles = 50;
  constexpr int room_total = 20;
  constexpr int user_total = 10;
  constexpr int operations = 20000;

  std::vector<std::string> rooms;
  for (int i = 0; i < room_total; ++i) rooms.push_back("conversation:r" + std::to_string(i));
  auto user_of = [](int h) { return "u" + std::to_string(h % user_total); };

  registry r;
  registry_model m;
  std::mt19937 rng(20261125u);
  std::uniform_int_distribution<int> pick_handle(0, handles - 1);
  std::uniform_int_distribution<int> pick_room(0, room_total - 1);
  std::uniform_int_distribution<int> pick_percent(0, 99);
  std::uniform_int_distribution<int> pick_name(0, 2);

  // Each op is checked in plain code and reported with one assertion only when
  // something differs: 20,000 ops x a dozen Catch assertions would dominate
  // the run time, above all under the sanitizers.
  auto outcome_mismatch = [](bool got_a, bool want_a, bool got_b, bool want_b) {
    std::ostringstream why;
    if (got_a != want_a || got_b != want_b)
      why << "outcome {" << got_a << ", " << got_b << "} != model {" << want_a << ", " << want_b
          << "}";
    return why.str();
  };

  std::size_t joins = 0, leaves = 0, leave_alls = 0, missed_leaves = 0, reclaimed = 0;
  for (int op = 0; op < operations; ++op) {
    // Alternate join-heavy and leave-heavy phases so rooms fill up and empty out.
    const int join_percent = (op / 2000) % 2 == 0 ? 65 : 25;
    const int dice = pick_percent(rng);
    const int h = pick_handle(rng);
    const std::string& room = rooms[static_cast<std::size_t>(pick_room(rng))];
    const std::string user = user_of(h);
    std::ostringstream what;
    std::string mismatch;
    std::vector<std::string> touched{room};
    int touched_handle = h;

    if (dice < join_percent) {
      const std::string name = "N" + user + "-" + std::to_string(pick_name(rng));
      what << "join(" << room << ", " << h << ", " << user << ", " << name << ")";
      auto got = r.join(room, h, user, name);
      auto want = m.join(room, h, user, name);
      ++joins;
      mismatch = outcome_mismatch(got.joined, want.joined, got.first_of_user, want.first_of_user);
    } else if (dice < 95) {
      // Half of the leaves target a real member of the room.
      int target = h;
      auto it = m.members.find(room);
      if (it != m.members.end() && pick_percent(rng) < 50) {
        auto pos = it->second.begin();
        std::advance(pos, static_cast<long>(static_cast<std::size_t>(pick_handle(rng)) %
                                            it->second.size()));
        target = pos->first;
      }
      touched_handle = target;
      const std::string target_user = user_of(target);
      what << "leave(" << room << ", " << target << ", " << target_user << ")";
      const std::size_t rooms_before = m.members.size();
      auto got = r.leave(room, target, target_user);
      auto want = m.leave(room, target);
      ++leaves;
      if (!want.left) ++missed_leaves;
      if (m.members.size() < rooms_before) ++reclaimed;
      mismatch = outcome_mismatch(got.left, want.left, got.last_of_user, want.last_of_user);
    } else {
      what << "leave_all(" << h << ", " << user << ")";
      auto got = r.leave_all(h, user);
      auto want = m.leave_all(h);
      ++leave_alls;
      touched.clear();
      for (const auto& [rm, out] : want) touched.push_back(rm);
      std::map<std::string, registry::leave_outcome> got_map;
      for (const auto& [rm, out] : got) {
        if (got_map.count(rm) != 0) mismatch = "room " + rm + " returned twice";
        got_map[rm] = out;
      }
      if (mismatch.empty() && got_map.size() != want.size()) mismatch = "wrong number of rooms";
      for (const auto& [rm, out] : want) {
        if (!mismatch.empty()) break;
        auto g = got_map.find(rm);
        if (g == got_map.end()) {
          mismatch = "room " + rm + " missing";
        } else {
          mismatch = outcome_mismatch(g->second.left, out.left, g->second.last_of_user,
                                      out.last_of_user);
          if (!mismatch.empty()) mismatch = "room " + rm + ": " + mismatch;
        }
      }
    }

    // After every op: the room count, the rooms and the handle it touched (a
    // swap-and-pop slip shows in the touched room at once); every 200 ops,
    // and at the end, everything.
    if (mismatch.empty() && r.room_count() != m.members.size()) mismatch = "room_count differs";
    for (const std::string& rm : touched) {
      if (!mismatch.empty()) break;
      mismatch = compare_room(r, m, rm, 0);
      const bool member = m.members.count(rm) != 0 && m.members.at(rm).count(touched_handle) != 0;
      if (mismatch.empty() && r.is_member(rm, touched_handle) != member)
        mismatch = "is_member of the touched handle differs";
    }
    if (mismatch.empty()) mismatch = compare_handle(r, m, touched_handle);
    if (mismatch.empty() && op % 200 == 199) mismatch = compare(r, m, rooms, handles);
    if (!mismatch.empty()) FAIL("op " << op << ": " << what.str() << ": " << mismatch);
  }
  CHECK(compare(r, m, rooms, handles).empty());

  // The run exercised what it is meant to exercise.
  CHECK(joins > 5000);
  CHECK(leaves > 5000);
  CHECK(leave_alls > 500);
  CHECK(missed_leaves > 100);
  CHECK(reclaimed > 10);

  // Drain everything: the registry ends empty.
  for (int h = 0; h < handles; ++h) {
    r.leave_all(h, user_of(h));
    m.leave_all(h);
  }
  CHECK(compare(r, m, rooms, handles).empty());
  CHECK(r.room_count() == 0);
}

}  // namespace livechat_unit_room_registry
