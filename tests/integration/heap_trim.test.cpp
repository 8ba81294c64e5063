// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The example server's heap_trimmer (examples/server/heap_trim.hpp): when
// the tick trims, driven with chosen times. It lives with the integration
// tests because it is the server's code, not the library's.
#include "../../examples/server/heap_trim.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

namespace {

using trim_clock = livechat_server::heap_trimmer::clock;
constexpr auto trim_tick = std::chrono::milliseconds(100);  // the server's tick

// Ticks `n` times from `t`, one tick apart, with `churn_per_tick` opens or
// closes before each; returns the time after the last.
trim_clock::time_point heap_trim_ticks(livechat_server::heap_trimmer& h, trim_clock::time_point t, int n,
                                       int churn_per_tick) {
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < churn_per_tick; ++c) h.note_churn();
    t += trim_tick;
    h.tick(t);
  }
  return t;
}

}  // namespace

TEST_CASE("heap_trimmer never trims an idle server or one without churn", "[heap_trim]") {
  livechat_server::heap_trimmer h;
  heap_trim_ticks(h, trim_clock::time_point{} + std::chrono::hours(1), 200, 0);
  CHECK(h.trims() == 0);
}

TEST_CASE("heap_trimmer trims once a burst of churn is over", "[heap_trim]") {
  livechat_server::heap_trimmer h;
  auto t = trim_clock::time_point{} + std::chrono::hours(1);
  t = heap_trim_ticks(h, t, 5, 10);  // a burst of 50 connects over 5 ticks
  CHECK(h.trims() == 0);             // not while it lasts
  t = heap_trim_ticks(h, t, 1, 0);   // the first quiet tick
  CHECK(h.trims() == 1);
  heap_trim_ticks(h, t, 100, 0);  // nothing new: no second trim
  CHECK(h.trims() == 1);
}

TEST_CASE("heap_trimmer trims at most every 200 ms", "[heap_trim]") {
  livechat_server::heap_trimmer h;
  auto t = trim_clock::time_point{} + std::chrono::hours(1);
  t = heap_trim_ticks(h, t, 3, 1);
  t = heap_trim_ticks(h, t, 1, 0);
  REQUIRE(h.trims() == 1);
  // Another short burst right after: its quiet tick comes 200 ms after the
  // trim, not before.
  h.note_churn();
  t += std::chrono::milliseconds(50);
  h.tick(t);  // churn in this tick
  t += std::chrono::milliseconds(50);
  h.tick(t);  // quiet, but 100 ms after the trim
  CHECK(h.trims() == 1);
  t += std::chrono::milliseconds(100);
  h.tick(t);  // quiet and 200 ms after
  CHECK(h.trims() == 2);
}

TEST_CASE("heap_trimmer under churn that never pauses trims every 10 s", "[heap_trim]") {
  livechat_server::heap_trimmer h;
  const auto start = trim_clock::time_point{} + std::chrono::hours(1);
  // 30 s of churn in every tick, counted from the first tick (at 0.1 s):
  // trims at 10.1 and 20.1 s.
  heap_trim_ticks(h, start, 300, 1);
  CHECK(h.trims() == 2);
}
