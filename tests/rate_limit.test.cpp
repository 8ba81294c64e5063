// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/rate_limit.hpp>

#include <chrono>

#include <catch2/catch.hpp>

#include <livechat/clock.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_rate_limit {

// The arithmetic is tested in token_bucket.test.cpp; this is the public surface
// as a per-user limiter uses it.
TEST_CASE("rate_limit: admit the burst, say how long to wait, drop when full", "[rate_limit]") {
  using namespace std::chrono_literals;
  using time_point = livechat::manual_clock::time_point;
  const livechat::token_rate rate{2, 4};  // 2 at once, one more every 250 ms
  const time_point t0{};
  livechat::token_bucket<time_point> b(rate.burst, t0);
  CHECK(b.try_take(t0, rate));
  CHECK(b.try_take(t0, rate));
  CHECK_FALSE(b.try_take(t0, rate));
  CHECK(b.seconds_to_token(rate) == Approx(0.25));
  CHECK_FALSE(b.full_at(t0 + 250ms, rate));
  CHECK(b.try_take(t0 + 250ms, rate));
  CHECK(b.full_at(t0 + 750ms, rate));
}

}  // namespace livechat_unit_rate_limit
