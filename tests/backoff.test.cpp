// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <livechat/client/backoff.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_backoff {

using livechat::client::backoff;
using livechat::client::backoff_settings;
using namespace std::chrono_literals;

namespace {
/// A seeded uniform [0,1) source, so every run draws the same delays.
backoff::random_source seeded(std::uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}
}  // namespace

TEST_CASE("backoff without jitter gives the exact exponential sequence, capped", "[backoff]") {
  backoff_settings s;
  s.jitter = false;
  backoff b(s);
  std::vector<long long> got;
  for (int i = 0; i < 10; ++i) got.push_back(b.next_delay().value().count());
  CHECK(got == std::vector<long long>{500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000, 20000});
  CHECK(b.attempts() == 10);
  // Far beyond the cap (2^1000 overflows a double to inf): still the cap.
  for (int i = 0; i < 1100; ++i) (void)b.next_delay();
  CHECK(b.next_delay().value() == 20000ms);
}

TEST_CASE("backoff with jitter stays between 0 and min(cap, base*factor^n) for every attempt", "[backoff]") {
  backoff_settings s;
  s.base = 300ms;
  s.cap = 7000ms;
  s.factor = 3.0;
  backoff b(s, seeded(42));
  for (std::uint32_t n = 0; n < 40; ++n) {
    const double bound = std::min(7000.0, 300.0 * std::pow(3.0, n));
    const auto d = b.next_delay().value().count();
    INFO("attempt " << n);
    CHECK(d >= 0);
    CHECK(static_cast<double>(d) <= bound);
    CHECK(b.bound(n) == static_cast<std::int64_t>(bound));
  }
}

TEST_CASE("full jitter: mean about half the bound, values spread over the range", "[backoff]") {
  backoff_settings s;
  s.base = 1000ms;
  s.cap = 1000ms;  // every attempt has the same bound
  backoff b(s, seeded(7));
  const int draws = 10000;
  double sum = 0;
  std::vector<int> buckets(10, 0);
  long long lo = 1000, hi = 0;
  for (int i = 0; i < draws; ++i) {
    const long long d = b.next_delay().value().count();
    sum += static_cast<double>(d);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    ++buckets[static_cast<std::size_t>(std::min<long long>(d / 100, 9))];
  }
  const double mean = sum / draws;
  CHECK(mean > 480.0);
  CHECK(mean < 520.0);
  CHECK(lo <= 5);
  CHECK(hi >= 995);
  for (int c : buckets) CHECK(c > 800);  // ~1000 each when uniform
}

TEST_CASE("backoff jitter with the default random source stays in range and varies", "[backoff]") {
  backoff b;  // base 500, cap 20000, jitter on, std::random_device seed
  std::vector<long long> first;
  for (int i = 0; i < 50; ++i) {
    b.reset();
    first.push_back(b.next_delay().value().count());
  }
  for (auto d : first) {
    CHECK(d >= 0);
    CHECK(d <= 500);
  }
  std::sort(first.begin(), first.end());
  CHECK(std::unique(first.begin(), first.end()) - first.begin() > 10);
}

TEST_CASE("backoff clamps a random source that leaves the unit interval", "[backoff]") {
  backoff_settings s;
  s.base = 100ms;
  SECTION("1.0 and above") {
    backoff b(s, [] { return 1.5; });
    CHECK(b.next_delay().value() == 100ms);
  }
  SECTION("negative and NaN") {
    backoff b(s, [] { return std::nan(""); });
    CHECK(b.next_delay().value() == 0ms);
    backoff c(s, [] { return -3.0; });
    CHECK(c.next_delay().value() == 0ms);
  }
}

TEST_CASE("backoff max_attempts gives up, reset starts over", "[backoff]") {
  backoff_settings s;
  s.jitter = false;
  s.max_attempts = 3;
  backoff b(s);
  CHECK(b.next_delay() == std::optional<std::chrono::milliseconds>(500ms));
  CHECK(b.next_delay() == std::optional<std::chrono::milliseconds>(1000ms));
  CHECK(b.next_delay() == std::optional<std::chrono::milliseconds>(2000ms));
  CHECK_FALSE(b.next_delay().has_value());
  CHECK_FALSE(b.next_delay().has_value());
  CHECK(b.attempts() == 3);
  b.reset();
  CHECK(b.attempts() == 0);
  CHECK(b.next_delay() == std::optional<std::chrono::milliseconds>(500ms));
  CHECK(b.settings().max_attempts == std::optional<std::uint32_t>(3));
}

TEST_CASE("backoff tolerates odd settings", "[backoff]") {
  backoff_settings s;
  s.jitter = false;
  SECTION("factor below 1 is 1: a constant delay") {
    s.factor = 0.5;
    backoff b(s);
    CHECK(b.next_delay().value() == 500ms);
    CHECK(b.next_delay().value() == 500ms);
  }
  SECTION("cap below base: the cap wins") {
    s.cap = 200ms;
    backoff b(s);
    CHECK(b.next_delay().value() == 200ms);
  }
  SECTION("zero base: zero delays, even with jitter") {
    s.base = 0ms;
    s.jitter = true;
    backoff b(s, [] { return 0.9; });
    CHECK(b.next_delay().value() == 0ms);
    CHECK(b.next_delay().value() == 0ms);
  }
  SECTION("max_attempts 0 never hands out a delay") {
    s.max_attempts = 0;
    backoff b(s);
    CHECK_FALSE(b.next_delay().has_value());
  }
}

}  // namespace livechat_unit_backoff
