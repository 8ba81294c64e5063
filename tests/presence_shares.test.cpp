// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <livechat/clock.hpp>
#include <livechat/cluster/presence_shares.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_presence_shares {

namespace {

using time_point = livechat::manual_clock::time_point;
using livechat::cluster::presence_delta;
using namespace std::chrono_literals;

std::string str(const std::vector<presence_delta>& d) {
  std::string out;
  for (const auto& x : d) out += x.user_id + (x.delta > 0 ? "+" : "") + std::to_string(x.delta) + " ";
  return out;
}

}  // namespace

TEST_CASE("presence_shares: deltas per change, whole shares, leases", "[presence_shares]") {
  livechat::cluster::presence_shares<time_point> p;
  const time_point t0{};
  CHECK(str(p.set("a", {"alice", "Alice", 1}, t0)) == "alice+1 ");
  CHECK(str(p.set("a", {"alice", "Alice", 3}, t0)) == "alice+2 ");
  CHECK(str(p.set("a", {"alice", "Alice", 3}, t0)).empty());  // no change, no delta
  CHECK(str(p.set("b", {"alice", "Alice", 1}, t0)) == "alice+1 ");
  // A renewal lists bob and no longer alice.
  CHECK(str(p.replace("a", {{"bob", "Bob", 2}}, t0 + 1s)) == "bob+2 alice-3 ");
  CHECK(p.node_count() == 2);

  // b was last heard at t0, a at t0 + 1s: with a 1.5 s lease only b expires.
  std::vector<std::string> gone;
  CHECK(str(p.expire(t0 + 1500ms, 1500ms, &gone)) == "alice-1 ");
  CHECK(gone == std::vector<std::string>{"b"});
  CHECK_FALSE(p.knows("b"));
  // After this node's own outage every lease restarts.
  p.renew_all(t0 + 10s);
  CHECK(p.expire(t0 + 11s, 1500ms).empty());
  CHECK(str(p.drop("a")) == "bob-2 ");
  CHECK(p.node_count() == 0);
  CHECK(p.drop("a").empty());
}

TEST_CASE("presence_shares: the rooms the other nodes' users are in, gone with their node",
          "[presence_shares]") {
  livechat::cluster::presence_shares<time_point> p;
  const time_point t0{};
  const std::string x = "conversation:x", y = "conversation:y";
  auto members = [&](const std::string& room) {
    std::string out;
    for (const auto& [id, name] : p.members(room)) out += id + ":" + name + " ";
    return out;
  };
  p.set("a", {"alice", "Alice", 1, {y, x, x}}, t0);
  p.set("b", {"alice", "Alice", 1, {x}}, t0);
  p.set("b", {"bob", "Bob", 2, {x}}, t0);
  CHECK(members(x) == "alice:Alice bob:Bob ");
  CHECK(members(y) == "alice:Alice ");
  CHECK(members("conversation:z").empty());
  // Alice leaves y on A: no presence change, one membership change.
  CHECK(str(p.set("a", {"alice", "Alice", 1, {x}}, t0)).empty());
  CHECK(members(y).empty());
  CHECK(p.room_count() == 1);
  // B's whole share without bob: bob leaves x too.
  CHECK(str(p.replace("b", {{"alice", "Alice", 1, {x}}}, t0 + 1ms)) == "bob-2 ");
  CHECK(members(x) == "alice:Alice ");
  // A's lease runs out: alice stays in x through B until B says bye.
  p.expire(t0 + 1000ms, 1000ms);
  CHECK_FALSE(p.knows("a"));
  CHECK(members(x) == "alice:Alice ");
  p.drop("b");
  CHECK(members(x).empty());
  CHECK(p.room_count() == 0);
  // A user whose count drops to 0 leaves every room.
  p.set("c", {"carol", "Carol", 1, {x, y}}, t0);
  p.set("c", {"carol", "Carol", 0, {x, y}}, t0);
  CHECK(p.room_count() == 0);
}

}  // namespace livechat_unit_presence_shares
