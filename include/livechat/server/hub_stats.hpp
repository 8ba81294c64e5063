// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_HUB_STATS_HPP
#define LIVECHAT_SERVER_HUB_STATS_HPP

// The hub's counters, apart from the hub: a metrics page reads them without
// knowing the hub's Transport or Clock.

#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <variant>

#include <livechat/protocol/events.hpp>

namespace livechat::server {

/// Counters for metrics. Indexes: `client_event_type` for events in.
struct hub_stats {
  static constexpr std::size_t event_types = static_cast<std::size_t>(client_event_type::count);

  std::uint64_t frames_in = 0;   ///< every incoming frame, refused ones included
  std::uint64_t frames_out = 0;  ///< frames handed to the transport
  std::array<std::uint64_t, event_types> events_in{};  ///< decoded events by client_event_type
  std::array<std::uint64_t, 14> errors_out{};  ///< `error` events by errc (1..13)
  std::uint64_t messages_stored = 0;
  std::uint64_t closes_slow_consumer = 0;
  /// `typing` and `presence_diff` frames not sent to a connection above
  /// `hub_config::soft_unsent_bytes` (one per skipped recipient).
  std::uint64_t events_skipped_backpressure = 0;
};
// handle_frame indexes events_in by the decoded type: one slot per event.
static_assert(std::tuple_size_v<decltype(hub_stats::events_in)> == std::variant_size_v<client_event>,
              "hub_stats::events_in needs one counter per client event type");

}  // namespace livechat::server

#endif
