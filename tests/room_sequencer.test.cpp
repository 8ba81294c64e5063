// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <livechat/clock.hpp>
#include <livechat/cluster/room_sequencer.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_room_sequencer {

namespace {

using time_point = livechat::manual_clock::time_point;
using sequencer = livechat::cluster::room_sequencer<std::string, time_point>;
using namespace std::chrono_literals;

std::vector<std::uint64_t> seqs(const std::vector<sequencer::delivery>& d) {
  std::vector<std::uint64_t> out;
  for (const auto& x : d) out.push_back(x.seq);
  return out;
}

}  // namespace

TEST_CASE("room_sequencer: in order, held back, duplicates, untracked", "[room_sequencer]") {
  sequencer s;
  const time_point t0{};
  const std::string room = "conversation:a";
  CHECK(s.offer(room, 1, "m1", t0).empty());  // not tracked: nothing to deliver here
  s.track(room, 3);                           // history shown up to 3
  CHECK(s.next_seq(room) == 4);
  CHECK(s.offer(room, 3, "old", t0).empty());  // already shown
  CHECK(seqs(s.offer(room, 4, "m4", t0)) == std::vector<std::uint64_t>{4});
  CHECK(s.offer(room, 6, "m6", t0).empty());  // skips 5: held
  CHECK(s.held(room) == 1);
  CHECK(s.offer(room, 7, "m7", t0 + 1ms).empty());
  auto out = s.offer(room, 5, "m5", t0 + 2ms);
  CHECK(seqs(out) == std::vector<std::uint64_t>{5, 6, 7});
  REQUIRE(out.size() == 3);
  CHECK(out[0].item == "m5");
  CHECK_FALSE(out[0].held);
  CHECK(out[1].held);
  CHECK(out[1].held_since == t0);
  CHECK(out[2].item == "m7");
  CHECK(s.held(room) == 0);
  CHECK(s.offer(room, 6, "again", t0).empty());  // a duplicate
  s.track(room, 100);  // tracked already: keeps its state
  CHECK(s.next_seq(room) == 8);
  s.untrack(room);
  CHECK_FALSE(s.tracked(room));
}

TEST_CASE("room_sequencer: a gap is due after the wait, and the store fills it", "[room_sequencer]") {
  sequencer s(3);
  const time_point t0{};
  const std::string room = "conversation:b";
  s.track(room, 0);
  CHECK(s.offer(room, 3, "m3-from-broker", t0).empty());
  CHECK(s.due(t0 + 100ms, 150ms).empty());
  CHECK(s.due(t0 + 150ms, 150ms) == std::vector<std::string>{room});
  // The store has 1..4 (4 arrived there before the broker brought it).
  std::vector<std::pair<std::uint64_t, std::string>> store = {
      {1, "m1-store"}, {2, "m2-store"}, {3, "m3-store"}, {4, "m4-store"}};
  auto out = s.fill(room, store, t0 + 150ms);
  CHECK(seqs(out) == std::vector<std::uint64_t>{1, 2, 3, 4});
  REQUIRE(out.size() == 4);
  CHECK(out[2].item == "m3-from-broker");  // the held one keeps its item (who not to send it to)
  CHECK(out[2].held);
  CHECK(out[3].item == "m4-store");
  CHECK(s.due(t0 + 10s, 150ms).empty());
  CHECK(s.offer(room, 4, "m4-late", t0).empty());  // came from the store first

  // A store page with a hole delivers up to the hole only, and the gap stays open.
  CHECK(s.offer(room, 7, "m7", t0 + 1s).empty());
  out = s.fill(room, {{5, "m5"}, {7, "m7-store"}}, t0 + 1s);
  CHECK(seqs(out) == std::vector<std::uint64_t>{5});
  CHECK(s.held(room) == 1);
  CHECK(s.due(t0 + 1s + 150ms, 150ms) == std::vector<std::string>{room});

  // More held than max_held: due at once.
  s.offer(room, 9, "m9", t0 + 2s);
  s.offer(room, 10, "m10", t0 + 2s);
  CHECK(s.due(t0 + 2s, 1h) == std::vector<std::string>{room});
}

}  // namespace livechat_unit_room_sequencer
