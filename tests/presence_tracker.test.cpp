// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/presence/presence_tracker.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_presence_tracker {

namespace {

using livechat::presence_entry;
using livechat::presence_tracker;

void check_entry(const presence_entry& e, const std::string& user_id, const std::string& name,
                 std::uint32_t connections) {
  CHECK(e.user_id == user_id);
  CHECK(e.name == name);
  CHECK(e.connections == connections);
}

std::vector<std::string> ids(const std::vector<presence_entry>& online) {
  std::vector<std::string> out;
  for (const auto& e : online) out.push_back(e.user_id);
  return out;
}

}  // namespace

TEST_CASE("presence_tracker counts connections per user", "[presence_tracker]") {
  presence_tracker p;
  CHECK(p.user_count() == 0);
  CHECK(p.online().empty());
  CHECK_FALSE(p.is_online("alice"));
  CHECK(p.connections_of("alice") == 0);

  SECTION("connect counts up, disconnect counts down, offline at zero") {
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 1);
    CHECK(p.is_online("alice"));
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 2);
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 3);
    CHECK(p.connections_of("alice") == 3);
    CHECK(p.user_count() == 1);

    check_entry(p.disconnect("alice"), "alice", "Alice", 2);
    check_entry(p.disconnect("alice"), "alice", "Alice", 1);
    CHECK(p.is_online("alice"));
    check_entry(p.disconnect("alice"), "alice", "Alice", 0);
    CHECK_FALSE(p.is_online("alice"));
    CHECK(p.connections_of("alice") == 0);
    CHECK(p.user_count() == 0);
    CHECK(p.online().empty());
  }

  SECTION("users are independent") {
    p.connect("alice", "Alice");
    p.connect("bob", "Bob");
    p.connect("bob", "Bob");
    CHECK(p.user_count() == 2);
    check_entry(p.disconnect("alice"), "alice", "Alice", 0);
    CHECK_FALSE(p.is_online("alice"));
    CHECK(p.is_online("bob"));
    CHECK(p.connections_of("bob") == 2);
    CHECK(p.user_count() == 1);
  }

  SECTION("disconnect of an unknown user changes nothing") {
    p.connect("bob", "Bob");
    presence_entry e = p.disconnect("ghost");
    CHECK(e.user_id == "ghost");
    CHECK(e.connections == 0);
    CHECK_FALSE(p.is_online("ghost"));
    CHECK(p.user_count() == 1);
    CHECK(ids(p.online()) == std::vector<std::string>{"bob"});
    // Once more after going offline: still nothing, no underflow.
    p.disconnect("bob");
    check_entry(p.disconnect("bob"), "bob", "", 0);
    CHECK(p.user_count() == 0);
    CHECK(p.connect("bob", "Bob").connections == 1);
  }

  SECTION("coming back after going offline starts at 1") {
    p.connect("alice", "Alice");
    p.disconnect("alice");
    check_entry(p.connect("alice", "Alice"), "alice", "Alice", 1);
  }
}

TEST_CASE("presence_tracker online() is sorted by user id in byte order", "[presence_tracker]") {
  presence_tracker p;
  const std::string e_acute = "\xC3\xA9";  // U+00E9, bytes C3 A9: after every ASCII byte
  for (const std::string& id : {std::string("a"), e_acute, std::string("_"), std::string("B"),
                                std::string("ab"), std::string("A"), std::string("0"),
                                std::string("b"), std::string("Z")}) {
    p.connect(id, "name of " + id);
  }
  p.connect("a", "name of a");  // a second tab

  const std::vector<std::string> expected = {"0", "A", "B", "Z", "_", "a", "ab", "b", e_acute};
  std::vector<presence_entry> online = p.online();
  CHECK(ids(online) == expected);
  REQUIRE(online.size() == expected.size());
  for (const auto& e : online) {
    CHECK(e.name == "name of " + e.user_id);
    CHECK(e.connections == (e.user_id == "a" ? 2u : 1u));
  }

  p.disconnect("B");
  CHECK(ids(p.online()) == std::vector<std::string>{"0", "A", "Z", "_", "a", "ab", "b", e_acute});
}

TEST_CASE("presence_tracker keeps the name of the latest connect", "[presence_tracker]") {
  presence_tracker p;
  check_entry(p.connect("alice", "Alice"), "alice", "Alice", 1);
  check_entry(p.connect("alice", "Alice Liddell"), "alice", "Alice Liddell", 2);
  REQUIRE(p.online().size() == 1);
  CHECK(p.online()[0].name == "Alice Liddell");
  // Disconnecting does not bring back an older name.
  check_entry(p.disconnect("alice"), "alice", "Alice Liddell", 1);
  CHECK(p.online()[0].name == "Alice Liddell");
  // A new name after going offline.
  p.disconnect("alice");
  check_entry(p.connect("alice", "A."), "alice", "A.", 1);
}

}  // namespace livechat_unit_presence_tracker
