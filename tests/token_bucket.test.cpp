// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>

#include <livechat/clock.hpp>
#include <livechat/detail/token_bucket.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_token_bucket {

using livechat::detail::token_rate;
using bucket = livechat::detail::token_bucket<livechat::manual_clock::time_point>;
using namespace std::chrono_literals;

namespace {
const livechat::manual_clock::time_point t0{};
}  // namespace

TEST_CASE("token_bucket: a full bucket admits its burst, then refuses", "[token_bucket]") {
  const token_rate rate{3, 2};
  bucket b(rate.burst, t0);
  CHECK(b.try_take(t0, rate));
  CHECK(b.try_take(t0, rate));
  CHECK(b.try_take(t0, rate));
  CHECK_FALSE(b.try_take(t0, rate));
  CHECK(b.tokens() == 0.0);  // a refused take takes nothing
  CHECK_FALSE(b.try_take(t0, rate));
  CHECK(b.tokens() == 0.0);
}

TEST_CASE("token_bucket: refills at the rate, never past the burst", "[token_bucket]") {
  const token_rate rate{3, 2};
  bucket b(0, t0);
  CHECK_FALSE(b.try_take(t0 + 250ms, rate));  // half a token
  CHECK(b.tokens() == Approx(0.5));
  CHECK(b.try_take(t0 + 500ms, rate));  // one whole token
  CHECK(b.tokens() == Approx(0.0));
  b.refill(t0 + 1h, rate);
  CHECK(b.tokens() == 3.0);
}

TEST_CASE("token_bucket: a time before the last refill changes nothing", "[token_bucket]") {
  const token_rate rate{5, 1};
  bucket b(1, t0 + 10s);  // starts in the future: a pause
  b.refill(t0, rate);
  CHECK(b.tokens() == 1.0);
  CHECK(b.try_take(t0 + 9s, rate));
  CHECK_FALSE(b.try_take(t0 + 9s, rate));  // nothing added before the pause ends
  CHECK(b.tokens() == 0.0);
  b.refill(t0 + 12s, rate);
  CHECK(b.tokens() == 2.0);
}

TEST_CASE("token_bucket: take goes into debt, and refills pay it back", "[token_bucket]") {
  const token_rate rate{2, 1};
  bucket b(0, t0);
  b.take(t0, rate);
  CHECK(b.tokens() == -1.0);
  CHECK_FALSE(b.try_take(t0 + 1s, rate));
  CHECK(b.seconds_to_token(rate) == Approx(1.0));
  CHECK(b.try_take(t0 + 2s, rate));
}

TEST_CASE("token_bucket: a smaller burst applies at the next refill", "[token_bucket]") {
  bucket b(4, t0);
  b.refill(t0 + 1s, token_rate{2, 1});
  CHECK(b.tokens() == 2.0);
}

TEST_CASE("token_bucket: full_at answers without changing the bucket", "[token_bucket]") {
  const token_rate rate{2, 1};
  bucket b(rate.burst, t0);
  CHECK(b.full_at(t0, rate));
  REQUIRE(b.try_take(t0, rate));
  CHECK_FALSE(b.full_at(t0 + 999ms, rate));
  CHECK(b.full_at(t0 + 1s, rate));
  CHECK(b.tokens() == 1.0);
  CHECK_FALSE(b.full_at(t0 - 1s, rate));  // earlier than the last refill: nothing added
}

TEST_CASE("token_bucket: seconds until the next whole token", "[token_bucket]") {
  const token_rate rate{1, 0.25};  // one token every 4 s
  bucket b(rate.burst, t0);
  CHECK(b.seconds_to_token(rate) == 0.0);
  REQUIRE(b.try_take(t0, rate));
  CHECK(b.seconds_to_token(rate) == Approx(4.0));
  CHECK_FALSE(b.try_take(t0 + 1s, rate));
  CHECK(b.seconds_to_token(rate) == Approx(3.0));
}

TEST_CASE("token_bucket: works with any chrono time_point", "[token_bucket]") {
  using steady = std::chrono::steady_clock;
  const token_rate rate{1, 10};
  livechat::detail::token_bucket<steady::time_point> b(rate.burst, steady::time_point{});
  CHECK(b.try_take(steady::time_point{}, rate));
  CHECK_FALSE(b.try_take(steady::time_point{} + 50ms, rate));
  CHECK(b.try_take(steady::time_point{} + 100ms, rate));
}

}  // namespace livechat_unit_token_bucket
