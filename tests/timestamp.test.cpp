// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <livechat/protocol/timestamp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_timestamp {

namespace {

using livechat::format_timestamp;
using livechat::parse_timestamp;
using livechat::system_time;

system_time at(std::int64_t ms) { return system_time(std::chrono::milliseconds(ms)); }

// 2026-11-25T20:24:25.123Z, PROTOCOL.md's example instant.
constexpr std::int64_t protocol_example_ms = 1795638265123;

}  // namespace

TEST_CASE("format_timestamp", "[timestamp]") {
  SECTION("the Unix epoch") { CHECK(format_timestamp(at(0)) == "1970-01-01T00:00:00.000Z"); }

  SECTION("PROTOCOL.md's example instant") {
    CHECK(format_timestamp(at(protocol_example_ms)) == "2026-11-25T20:24:25.123Z");
    // A year earlier (the manual_clock's default origin).
    CHECK(format_timestamp(at(1764102265123)) == "2025-11-25T20:24:25.123Z");
  }

  SECTION("milliseconds are zero-padded") {
    CHECK(format_timestamp(at(1)) == "1970-01-01T00:00:00.001Z");
    CHECK(format_timestamp(at(10)) == "1970-01-01T00:00:00.010Z");
    CHECK(format_timestamp(at(86399999)) == "1970-01-01T23:59:59.999Z");
    CHECK(format_timestamp(at(86400000)) == "1970-01-02T00:00:00.000Z");
  }

  SECTION("negative times count back from 1970") {
    CHECK(format_timestamp(at(-1)) == "1969-12-31T23:59:59.999Z");
    CHECK(format_timestamp(at(-1000)) == "1969-12-31T23:59:59.000Z");
    CHECK(format_timestamp(at(-86400000)) == "1969-12-31T00:00:00.000Z");
    CHECK(format_timestamp(at(-86400001)) == "1969-12-30T23:59:59.999Z");
    CHECK(format_timestamp(at(-62135596800000)) == "0001-01-01T00:00:00.000Z");
  }

  SECTION("leap days") {
    CHECK(format_timestamp(at(1709208000000)) == "2024-02-29T12:00:00.000Z");
    CHECK(format_timestamp(at(1709251199999)) == "2024-02-29T23:59:59.999Z");
    CHECK(format_timestamp(at(1709251200000)) == "2024-03-01T00:00:00.000Z");
    CHECK(format_timestamp(at(951782400000)) == "2000-02-29T00:00:00.000Z");  // 400-year rule
    CHECK(format_timestamp(at(951868800000)) == "2000-03-01T00:00:00.000Z");
  }

  SECTION("the last representable instant") {
    CHECK(format_timestamp(at(253402300799999)) == "9999-12-31T23:59:59.999Z");
  }

  SECTION("years outside 0000-9999 are clamped") {
    const std::string late = format_timestamp(at(253402300800000));  // 10000-01-01
    CHECK(late.size() == 24);
    CHECK(late.substr(0, 11) == "9999-12-31T");
    CHECK(late.back() == 'Z');
    const std::string far = format_timestamp(at(INT64_MAX / 2));
    CHECK(far.substr(0, 11) == "9999-12-31T");

    const std::string early = format_timestamp(at(-62167219200001));  // -0001-12-31
    CHECK(early.size() == 24);
    CHECK(early.substr(0, 11) == "0000-01-01T");
    CHECK(format_timestamp(at(-62167219200000)) == "0000-01-01T00:00:00.000Z");
  }
}

TEST_CASE("format_timestamp_to writes the same 24 bytes, and nothing past them", "[timestamp]") {
  for (const std::int64_t ms : {std::int64_t{0}, std::int64_t{1}, protocol_example_ms,
                                std::int64_t{-1}, std::int64_t{253402300800000}}) {
    char buf[livechat::timestamp_length + 1];
    buf[livechat::timestamp_length] = '#';
    livechat::format_timestamp_to(at(ms), buf);
    CHECK(std::string(buf, livechat::timestamp_length) == format_timestamp(at(ms)));
    CHECK(buf[livechat::timestamp_length] == '#');
  }
  char buf[livechat::timestamp_length];
  livechat::format_timestamp_to(at(protocol_example_ms), buf);
  CHECK(std::string(buf, sizeof buf) == "2026-11-25T20:24:25.123Z");
}

TEST_CASE("format_timestamp: the kept last millisecond is never stale", "[timestamp]") {
  // Repeated, alternating and neighbouring instants, then another thread.
  const std::int64_t a = protocol_example_ms, b = protocol_example_ms + 1;
  for (const std::int64_t ms : {a, a, b, a, b, b, std::int64_t{0}, a})
    CHECK(format_timestamp(at(ms)) ==
          (ms == a ? "2026-11-25T20:24:25.123Z"
                   : ms == b ? "2026-11-25T20:24:25.124Z" : "1970-01-01T00:00:00.000Z"));
  std::string other;
  std::thread t([&] { other = format_timestamp(at(b)); });
  t.join();
  CHECK(other == "2026-11-25T20:24:25.124Z");
  CHECK(format_timestamp(at(a)) == "2026-11-25T20:24:25.123Z");
}

TEST_CASE("parse_timestamp", "[timestamp]") {
  SECTION("known instants") {
    CHECK(parse_timestamp("1970-01-01T00:00:00.000Z") == at(0));
    CHECK(parse_timestamp("2026-11-25T20:24:25.123Z") == at(protocol_example_ms));
    CHECK(parse_timestamp("1969-12-31T23:59:59.999Z") == at(-1));
    CHECK(parse_timestamp("2024-02-29T12:00:00.000Z") == at(1709208000000));
    CHECK(parse_timestamp("9999-12-31T23:59:59.999Z") == at(253402300799999));
    CHECK(parse_timestamp("0000-01-01T00:00:00.000Z") == at(-62167219200000));
  }

  SECTION("round-trips with format_timestamp") {
    const std::int64_t samples[] = {0,
                                    1,
                                    -1,
                                    999,
                                    86399999,
                                    protocol_example_ms,
                                    1764102265123,
                                    1709208000000,
                                    951782400000,
                                    -62135596800000,
                                    -62167219200000,
                                    253402300799999,
                                    4102444800000};
    for (std::int64_t ms : samples) {
      const std::string s = format_timestamp(at(ms));
      INFO(s);
      auto back = parse_timestamp(s);
      REQUIRE(back.has_value());
      CHECK(back->time_since_epoch().count() == ms);
      CHECK(format_timestamp(*back) == s);
    }
    // Every day of four years (one leap year), at an odd time of day.
    for (std::int64_t day = 19000; day < 19000 + 4 * 366; ++day) {
      const std::int64_t ms = day * 86400000 + 45296789;
      auto back = parse_timestamp(format_timestamp(at(ms)));
      REQUIRE(back.has_value());
      REQUIRE(back->time_since_epoch().count() == ms);
    }
  }

  SECTION("rejects anything but the exact format") {
    const char* bad[] = {
        "",
        "2026-11-25T20:24:25.123",        // missing Z
        "2026-11-25T20:24:25.123z",       // lowercase z
        "2026-11-25T20:24:25.123+00:00",  // an offset instead of Z
        "2026-11-25T20:24:25Z",           // no milliseconds
        "2026-11-25T20:24:25.1234Z",      // too many digits
        "2026-11-25T20:24:25.12Z",        // too few digits
        "2026-11-25 20:24:25.123Z",       // space instead of T
        "2026/11/25T20:24:25.123Z",
        "26-11-25T20:24:25.123Z",
        " 2026-11-25T20:24:25.123Z",
        "2026-11-25T20:24:25.123Z ",
        "2023-02-29T00:00:00.000Z",       // not a leap year
        "1900-02-29T00:00:00.000Z",       // century, not a leap year
        "2026-04-31T00:00:00.000Z",       // April has 30 days
        "2026-13-01T00:00:00.000Z",
        "2026-00-01T00:00:00.000Z",
        "2026-11-00T00:00:00.000Z",
        "2026-11-32T00:00:00.000Z",
        "2026-11-25T24:00:00.000Z",       // hour 24
        "2026-11-25T20:60:00.000Z",
        "2026-11-25T20:24:60.000Z",       // no leap seconds
        "2026-1a-25T20:24:25.123Z",       // letters
        "abcd-ef-ghTij:kl:mn.opqZ",
        "2026-11-25T2O:24:25.123Z",
        "2026-11-25T20:24:25.l23Z",
        "-026-11-25T20:24:25.123Z",
        "+026-11-25T20:24:25.123Z",
    };
    for (const char* s : bad) {
      INFO(s);
      CHECK_FALSE(parse_timestamp(s).has_value());
    }
  }

  SECTION("accepts the last day of each month") {
    CHECK(parse_timestamp("2024-02-29T00:00:00.000Z").has_value());
    CHECK(parse_timestamp("2000-02-29T00:00:00.000Z").has_value());
    CHECK(parse_timestamp("2026-04-30T00:00:00.000Z").has_value());
    CHECK(parse_timestamp("2026-12-31T23:59:59.999Z").has_value());
  }
}

TEST_CASE("to_system_time truncates to milliseconds", "[timestamp]") {
  using namespace std::chrono;
  const system_clock::time_point t{microseconds(1500999)};
  CHECK(livechat::to_system_time(t) == at(1500));
}

}  // namespace livechat_unit_timestamp
