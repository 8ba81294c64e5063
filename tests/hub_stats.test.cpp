// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstddef>

#include <livechat/error.hpp>
#include <livechat/server/hub_stats.hpp>

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_hub_stats {

using livechat::server::hub_stats;

TEST_CASE("hub_stats starts at zero", "[hub_stats]") {
  const hub_stats s;
  CHECK(s.frames_in == 0);
  CHECK(s.frames_out == 0);
  CHECK(s.messages_stored == 0);
  CHECK(s.closes_slow_consumer == 0);
  CHECK(s.events_skipped_backpressure == 0);
  for (auto n : s.events_in) CHECK(n == 0);
  for (auto n : s.errors_out) CHECK(n == 0);
}

TEST_CASE("hub_stats has a slot for every event type and every wire error code", "[hub_stats]") {
  STATIC_REQUIRE(hub_stats::event_types ==
                 static_cast<std::size_t>(livechat::client_event_type::count));
  // errors_out is indexed by the errc value; the wire codes are 1..internal.
  STATIC_REQUIRE(std::tuple_size_v<decltype(hub_stats::errors_out)> ==
                 static_cast<std::size_t>(livechat::errc::internal) + 1);
}

}  // namespace livechat_unit_hub_stats
