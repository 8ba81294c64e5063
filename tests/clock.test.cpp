// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/clock.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <type_traits>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_clock {

using namespace std::chrono_literals;

TEST_CASE("manual_clock moves only when told", "[clock]") {
  SECTION("the default origin") {
    livechat::manual_clock clock;
    CHECK(clock.now() == livechat::manual_clock::time_point{});
    CHECK(clock.system_now().time_since_epoch().count() == 1764102265123);
    CHECK(livechat::format_timestamp(clock.system_now()) == "2025-11-25T20:24:25.123Z");
  }

  SECTION("advance moves now() and system_now() together") {
    const livechat::system_time origin{std::chrono::milliseconds(1000000)};
    livechat::manual_clock clock(origin);
    const auto t0 = clock.now();
    CHECK(clock.system_now() == origin);
    CHECK(clock.now() == t0);  // no drift on its own

    clock.advance(1500ms);
    CHECK(clock.now() - t0 == 1500ms);
    CHECK(clock.system_now() - origin == 1500ms);

    clock.advance(3s);
    CHECK(clock.now() - t0 == 4500ms);
    CHECK(clock.system_now() == origin + 4500ms);

    clock.advance(0ms);
    CHECK(clock.now() - t0 == 4500ms);
  }

  SECTION("sub-millisecond steps accumulate") {
    livechat::manual_clock clock(livechat::system_time{});
    clock.advance(600us);
    CHECK(clock.system_now().time_since_epoch().count() == 0);
    clock.advance(600us);
    CHECK(clock.system_now().time_since_epoch().count() == 1);
    CHECK(clock.now().time_since_epoch() == 1200us);
  }

  SECTION("usable through the Clock requirements") {
    auto elapsed = [](auto& c, auto d) {
      const auto start = c.now();
      c.advance(d);
      return c.now() - start;
    };
    livechat::manual_clock clock;
    CHECK(elapsed(clock, 25s) == 25s);
  }
}

TEST_CASE("default_clock reads the real clocks", "[clock]") {
  const livechat::default_clock clock;

  const auto wall = std::chrono::system_clock::now();
  const livechat::system_time ours = clock.system_now();
  const auto diff = ours - std::chrono::time_point_cast<std::chrono::milliseconds>(wall);
  CHECK(diff >= -1s);
  CHECK(diff <= 1s);

  const auto a = clock.now();
  const auto b = clock.now();
  CHECK(b >= a);  // steady
  static_assert(std::is_same<livechat::default_clock::time_point,
                             std::chrono::steady_clock::time_point>::value,
                "timers need a monotonic clock");
}

// ------------------------------------------------------------------ is_clock_v

namespace {

struct no_time_point {
  std::chrono::steady_clock::time_point now() const { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct no_now {
  using time_point = std::chrono::steady_clock::time_point;
  livechat::system_time system_now() const { return {}; }
};

struct no_system_now {
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() const { return {}; }
};

struct now_returns_another_type {
  using time_point = std::chrono::steady_clock::time_point;
  std::chrono::system_clock::time_point now() const { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct non_const_now {
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct custom_clock {
  using time_point = std::chrono::time_point<std::chrono::steady_clock, std::chrono::milliseconds>;
  time_point now() const { return {}; }
  livechat::system_time system_now() const { return {}; }
};

struct system_now_returns_an_int {
  using time_point = std::chrono::steady_clock::time_point;
  time_point now() const { return {}; }
  int system_now() const { return 0; }
};

}  // namespace

// Checked at compile time: a failure here stops the build with this line.
static_assert(livechat::is_clock_v<livechat::default_clock>);
static_assert(livechat::is_clock_v<livechat::manual_clock>);
static_assert(!livechat::is_clock_v<int>);

TEST_CASE("is_clock_v", "[clock]") {
  using livechat::is_clock_v;
  SECTION("the library's clocks") {
    CHECK(is_clock_v<livechat::default_clock>);
    CHECK(is_clock_v<livechat::manual_clock>);
    CHECK(is_clock_v<custom_clock>);
  }
  SECTION("not clocks") {
    CHECK_FALSE(is_clock_v<int>);
    CHECK_FALSE(is_clock_v<void>);
    CHECK_FALSE(is_clock_v<std::chrono::steady_clock::time_point>);
    CHECK_FALSE(is_clock_v<no_time_point>);
    CHECK_FALSE(is_clock_v<no_now>);
    CHECK_FALSE(is_clock_v<no_system_now>);
    CHECK_FALSE(is_clock_v<now_returns_another_type>);
    CHECK_FALSE(is_clock_v<non_const_now>);
    CHECK_FALSE(is_clock_v<system_now_returns_an_int>);
  }
}

}  // namespace livechat_unit_clock
