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

TEST_CASE("room_sequencer: a room's other events wait for the message they were sent after",
          "[room_sequencer]") {
  sequencer s(3);
  const time_point t0{};
  const std::string room = "conversation:a";
  auto items = [](const std::vector<sequencer::delivery>& d) {
    std::vector<std::string> out;
    for (const auto& x : d) out.push_back(x.item);
    return out;
  };
  using strings = std::vector<std::string>;
  CHECK(s.offer_event(room, 0, "untracked", t0).empty());
  s.track(room, 3);
  CHECK(s.known(room) == 3);
  auto out = s.offer_event(room, 3, "after 3", t0);  // 3 was delivered: at once
  REQUIRE(out.size() == 1);
  CHECK(out[0].item == "after 3");
  CHECK_FALSE(out[0].message);
  CHECK_FALSE(out[0].held);

  // 5 comes before 4 and is held: an event sent after 5 waits for it, and
  // one stamped 3 that came after that event waits behind it (arrival order).
  CHECK(s.offer(room, 5, "m5", t0).empty());
  CHECK(s.known(room) == 5);
  CHECK(s.offer_event(room, 5, "after 5", t0).empty());
  CHECK(s.offer_event(room, 3, "then after 3", t0).empty());
  CHECK(s.waiting(room) == 2);
  out = s.offer(room, 4, "m4", t0 + 1ms);
  CHECK(items(out) == strings{"m4", "m5", "after 5", "then after 3"});
  REQUIRE(out.size() == 4);
  CHECK(out[2].held);
  CHECK_FALSE(out[2].message);
  CHECK(out[2].seq == 5);
  CHECK(s.waiting(room) == 0);
  CHECK(s.due(t0 + 1s, 150ms).empty());

  // An event whose message the broker lost opens the gap: filled after the wait.
  CHECK(s.offer_event(room, 6, "after 6", t0 + 2ms).empty());
  CHECK(s.due(t0 + 100ms, 150ms).empty());
  CHECK(s.due(t0 + 152ms, 150ms) == strings{room});
  out = s.fill(room, {{6, "m6 from the store"}}, t0 + 152ms);
  CHECK(items(out) == strings{"m6 from the store", "after 6"});
  CHECK(s.due(t0 + 1s, 150ms).empty());

  // Bounded: max_held (3) events wait at most; the oldest then goes at once,
  // and the room is due now.
  const time_point t1 = t0 + 2s;
  CHECK(s.offer_event(room, 9, "w1", t1).empty());
  CHECK(s.offer_event(room, 9, "w2", t1).empty());
  CHECK(s.offer_event(room, 9, "w3", t1).empty());
  CHECK(items(s.offer_event(room, 9, "w4", t1)) == strings{"w1"});
  CHECK(s.events_forced() == 1);
  CHECK(s.waiting(room) == 3);
  CHECK(s.due(t1, 150ms) == strings{room});
  // The store ends before 9 (a stamp from another lineage): they go, after 7.
  out = s.fill(room, {{7, "m7"}}, t1, false);
  CHECK(items(out) == strings{"m7"});
  CHECK(s.waiting(room) == 3);
  out = s.fill(room, {}, t1, true);
  CHECK(items(out) == strings{"w2", "w3", "w4"});
  CHECK(s.waiting(room) == 0);
  CHECK(s.due(t1 + 1s, 150ms).empty());
}

}  // namespace livechat_unit_room_sequencer
