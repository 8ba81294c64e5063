// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// client::detail::send_pacer on its own: the session's token bucket, the
// pause after rate_limited and the halved pace (the session tests check
// the same through frames against the server's limit).
#include <livechat/client/detail/send_pacer.hpp>

#include <catch2/catch.hpp>

#include <chrono>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_send_pacer {

using livechat::client::detail::send_pacer;
using namespace std::chrono_literals;

TEST_CASE("send_pacer: a burst, then the refill rate", "[send_pacer]") {
  send_pacer p(3.0, 2.0, 1000ms);
  const send_pacer::time_point t0{std::chrono::hours(1)};
  p.restart(t0);
  int sent = 0;
  p.refill(t0);
  while (p.ready()) {
    p.consume(t0);
    ++sent;
  }
  CHECK(sent == 3);
  p.refill(t0 + 400ms);
  CHECK_FALSE(p.ready());
  p.refill(t0 + 600ms);  // 2 per second: one more after 500 ms
  CHECK(p.ready());
  p.refill(t0 + 10s);
  CHECK(p.tokens() == Approx(3.0));  // never above the burst
}

TEST_CASE("send_pacer: rate_limited pauses and halves the pace until restart", "[send_pacer]") {
  send_pacer p(30.0, 16.0, 1000ms);
  const send_pacer::time_point t0{std::chrono::hours(1)};
  p.restart(t0);
  p.slow_down(t0);
  CHECK(p.paused(t0 + 999ms));
  CHECK(p.burst() == Approx(15.0));
  CHECK(p.per_second() == Approx(8.0));
  p.slow_down(t0 + 500ms);  // a refusal of a frame sent before the pause
  CHECK(p.per_second() == Approx(8.0));
  CHECK_FALSE(p.paused(t0 + 1000ms));
  CHECK_FALSE(p.paused_until());
  p.refill(t0 + 1000ms);
  CHECK(p.tokens() == Approx(1.0));  // one frame as the pause ends
  for (int i = 0; i < 10; ++i) p.slow_down(t0 + std::chrono::seconds(2 + 2 * i));
  CHECK(p.per_second() == Approx(1.0));  // never below 1 frame/s, burst 1
  CHECK(p.burst() == Approx(1.0));
  p.restart(t0 + 60s);
  CHECK(p.burst() == Approx(30.0));
  CHECK(p.per_second() == Approx(16.0));
  CHECK(p.tokens() == Approx(30.0));
  CHECK_FALSE(p.paused(t0 + 60s));
}

}  // namespace livechat_unit_send_pacer
