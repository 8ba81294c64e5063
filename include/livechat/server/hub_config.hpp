// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_HUB_CONFIG_HPP
#define LIVECHAT_SERVER_HUB_CONFIG_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <livechat/protocol/limits.hpp>

namespace livechat::server {

/// Every limit of PROTOCOL.md with its default. Copy, change a field, pass
/// it to the hub.
struct hub_config {
  /// Close with 4001 when no `auth` succeeded this long after open.
  std::chrono::milliseconds auth_timeout{10'000};
  /// Close with 1001 when nothing arrived for this long (clients ping at
  /// `heartbeat_interval_ms`, so a live client never hits it).
  std::chrono::milliseconds idle_timeout{60'000};
  /// `typing` false is sent by itself this long after the last typing_start.
  std::chrono::milliseconds typing_timeout{3'000};
  /// Announced in `auth_success`; what clients should ping at.
  std::uint32_t heartbeat_interval_ms = 25'000;
  /// A 101st room on one connection → limit_exceeded.
  std::size_t max_rooms_per_connection = 100;
  /// Token bucket per connection, counting every incoming frame.
  double rate_burst = 40.0;
  double rate_per_second = 20.0;
  /// More refused frames than this within `refused_window` → close 1008.
  std::size_t max_refused_frames = 100;
  std::chrono::milliseconds refused_window{10'000};
  /// Unsent outgoing bytes above this when the next frame is due → close
  /// 1013 (slow consumer). The client resumes with since_seq and loses
  /// nothing. Checked before each send, so a single larger frame (a big
  /// recovery page) is still sent whole.
  std::size_t max_unsent_bytes = 1024 * 1024;
  /// Unsent outgoing bytes above this (and not above max_unsent_bytes):
  /// the connection is behind, so the events whose loss a later event
  /// repairs, `typing` and `presence_diff`, are skipped for it and counted
  /// in `hub_stats::events_skipped_backpressure`. Messages, replies, errors
  /// and session events are never skipped. A watcher that missed a diff
  /// gets a fresh `presence_update` once it is below the mark again. Costs
  /// one more `Transport::buffered_amount` call per recipient of those
  /// events (every frame already costs one, for the hard mark). 0: never
  /// skip.
  std::size_t soft_unsent_bytes = 256 * 1024;
  /// Authenticated connections (tabs) one user may hold at a time; the
  /// next `auth` of that user is answered `limit_exceeded` and closed with
  /// 1008. Bounds what one leaked or hostile token can hold. 0: unlimited.
  std::size_t max_connections_per_user = 20;
  /// Messages in `conversation_update` without since_seq, and the cap with it.
  std::size_t history_page = 50;
  std::size_t recovery_limit = 500;
  /// Conversations in `inbox_update`.
  std::size_t inbox_limit = 100;
  /// Every page of messages (`conversation_update`, REST history) and of
  /// conversations (`inbox_update`, REST list) stops before its encoded
  /// items pass this, keeping at least one (PROTOCOL.md, 1 MiB).
  std::size_t max_page_bytes = 1024 * 1024;
  /// false: every write is committed (`store.flush()`) before the event
  /// that made it is answered. true: writes are grouped into one commit
  /// per event-loop turn; the embedder calls `hub.commit()` when the turn
  /// ends (see `set_commit_request`). Either way nothing is acknowledged
  /// or broadcast before its commit; grouping trades a little latency for
  /// far fewer syncs under load. With a store whose `flush()` does nothing
  /// (memory_store) leave it off: it would only hold each turn's sends back.
  bool group_commit = false;
  /// Text, ref and client_msg_id limits of the decoder.
  codec_limits codec{};
};

}  // namespace livechat::server

#endif
