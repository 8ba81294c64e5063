// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_ROOM_VIEW_HPP
#define LIVECHAT_CLIENT_ROOM_VIEW_HPP

// What client::session shows of one room: its confirmed history, the
// messages sent and not yet confirmed, its session and its members.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <livechat/client/message_queue.hpp>  // client::time_point
#include <livechat/protocol/model.hpp>

namespace livechat::client {

/// A message sent but not yet confirmed, shown optimistically in its room.
struct pending_message {
  std::string client_msg_id;
  std::string text;
  time_point enqueued_at{};
};

/// What the session knows about one room.
struct room_view {
  std::string name;
  std::string epoch;  ///< the history lineage; empty until the first conversation_update
  std::uint64_t last_seq = 0;            ///< the newest seq applied (given to on_message)
  std::vector<message> messages;         ///< confirmed, seq order, no duplicates (last max_history)
  std::vector<pending_message> pending;  ///< optimistic entries, in send order
  std::optional<session_state> session;  ///< the highest version seen
  std::vector<user_ref> members;         ///< `members`, then operator_joined / operator_left
  bool loaded = false;                   ///< a conversation_update was applied at least once
};

}  // namespace livechat::client

#endif
