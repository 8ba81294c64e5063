// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_SESSION_SETTINGS_HPP
#define LIVECHAT_CLIENT_SESSION_SETTINGS_HPP

// Every knob of client::session with its default, in one aggregate.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include <livechat/client/backoff.hpp>
#include <livechat/client/message_queue.hpp>

namespace livechat::client {

struct session_settings {
  std::string token;  ///< sent in `auth` on every connect
  backoff_settings backoff{};
  queue_settings queue{};
  /// connecting + authenticating longer than this → transport.close + reconnect.
  std::chrono::milliseconds connect_timeout{10'000};
  /// The ping interval until auth_success announces heartbeat_interval_ms.
  std::chrono::milliseconds default_heartbeat{25'000};
  /// This many pings in a row without any frame back → the connection is dead.
  unsigned missed_pongs_before_dead = 2;
  /// Default: 32 random hex digits (128 bits). Must give 1–64 characters.
  std::function<std::string()> make_client_msg_id;
  /// Client-side pacing of outgoing frames (a token bucket), kept below the
  /// server's default limit (40, refilled at 20/s) with room for pings: a
  /// reconnect that flushes 100 queued messages and rejoins many rooms
  /// should not run into `rate_limited` at all.
  double send_burst = 30.0;
  double send_per_second = 15.0;
  /// After a `rate_limited`, nothing is sent for this long (the server's
  /// bucket refills meanwhile) and the pace above is halved for the rest
  /// of the connection (never below 1 frame/s, burst 1), so a server with
  /// a lower limit than the pace is matched after a few refusals instead of
  /// closing the connection (1008) for too many of them. The refused frame
  /// is sent again if it had a `ref` (see `send`).
  std::chrono::milliseconds rate_limited_pause{1000};
  /// Confirmed messages kept per room in `room_view::messages` (the oldest go first).
  std::size_t max_history = 1000;
};

}  // namespace livechat::client

#endif
