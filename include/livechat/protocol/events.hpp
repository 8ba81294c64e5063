// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_EVENTS_HPP
#define LIVECHAT_PROTOCOL_EVENTS_HPP

// Every event of PROTOCOL.md as a type. Client events form a std::variant
// (what the server decodes); each server event carries its wire name in
// `type_name` (what the server encodes).

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>

namespace livechat {

// ---------------------------------------------------------------- client → server
namespace client_events {
struct auth { static constexpr std::string_view type_name = "auth"; std::string token; };
struct join_room {
  static constexpr std::string_view type_name = "join_room";
  std::string room;
  std::optional<std::uint64_t> since_seq;
  std::optional<std::string> epoch;
};
struct leave_room { static constexpr std::string_view type_name = "leave_room"; std::string room; };
struct watch_inbox { static constexpr std::string_view type_name = "watch_inbox"; };
struct unwatch_inbox { static constexpr std::string_view type_name = "unwatch_inbox"; };
struct send_message {
  static constexpr std::string_view type_name = "send_message";
  std::string room;
  std::string text;  ///< already trimmed; empty only with an attachment_id (then: the file name)
  std::optional<std::string> client_msg_id;
  std::optional<std::string> attachment_id{};  ///< an upload of the sender's (POST /api/v1/attachments)
};
struct typing_start { static constexpr std::string_view type_name = "typing_start"; std::string room; };
struct typing_stop { static constexpr std::string_view type_name = "typing_stop"; std::string room; };
struct claim_session { static constexpr std::string_view type_name = "claim_session"; std::string room; };
struct release_session { static constexpr std::string_view type_name = "release_session"; std::string room; };
struct close_session { static constexpr std::string_view type_name = "close_session"; std::string room; };
struct mark_read {
  static constexpr std::string_view type_name = "mark_read";
  std::string room;
  std::uint64_t seq = 0;
};
struct ping { static constexpr std::string_view type_name = "ping"; };
}  // namespace client_events

/// Index order matches `client_event`'s alternatives. `count` is not an
/// event: it sizes tables indexed by the type (hub_stats::events_in).
enum class client_event_type {
  auth, join_room, leave_room, watch_inbox, unwatch_inbox, send_message, typing_start,
  typing_stop, claim_session, release_session, close_session, mark_read, ping,
  count
};

using client_event = std::variant<client_events::auth, client_events::join_room,
    client_events::leave_room, client_events::watch_inbox, client_events::unwatch_inbox,
    client_events::send_message, client_events::typing_start, client_events::typing_stop,
    client_events::claim_session, client_events::release_session,
    client_events::close_session, client_events::mark_read, client_events::ping>;

static_assert(std::variant_size_v<client_event> == static_cast<std::size_t>(client_event_type::count),
              "client_event_type and client_event must list the same events");

inline std::optional<client_event_type> parse_client_event_type(std::string_view s) noexcept {
  static constexpr std::string_view names[] = {
      client_events::auth::type_name,          client_events::join_room::type_name,
      client_events::leave_room::type_name,    client_events::watch_inbox::type_name,
      client_events::unwatch_inbox::type_name, client_events::send_message::type_name,
      client_events::typing_start::type_name,  client_events::typing_stop::type_name,
      client_events::claim_session::type_name, client_events::release_session::type_name,
      client_events::close_session::type_name, client_events::mark_read::type_name,
      client_events::ping::type_name};
  static_assert(std::size(names) == static_cast<std::size_t>(client_event_type::count));
  for (std::size_t i = 0; i < std::size(names); ++i)
    if (names[i] == s) return static_cast<client_event_type>(i);
  return std::nullopt;
}

// ---------------------------------------------------------------- server → client
namespace server_events {
struct auth_success {
  static constexpr std::string_view type_name = "auth_success";
  livechat::identity identity;
  std::string connection_id;
  int protocol = 1;
  std::uint32_t heartbeat_interval_ms = 25000;
  system_time server_time{};
};
struct presence_update {
  static constexpr std::string_view type_name = "presence_update";
  std::vector<presence_entry> online;
};
struct presence_diff {
  static constexpr std::string_view type_name = "presence_diff";
  std::vector<presence_entry> online;
  std::vector<std::string> offline;
};
struct inbox_update {
  static constexpr std::string_view type_name = "inbox_update";
  std::vector<conversation_summary> conversations;
  std::vector<presence_entry> online;
};
struct inbox_unwatched { static constexpr std::string_view type_name = "inbox_unwatched"; };
struct conversation_update {
  static constexpr std::string_view type_name = "conversation_update";
  std::string room;
  std::string conversation_id;
  session_state session;
  std::vector<user_ref> members;
  std::vector<message> messages;
  std::uint64_t last_seq = 0;
  bool has_more = false;
  std::string epoch;
  bool recovered = false;
  std::uint64_t read_seq = 0;  ///< the receiving user's read position (0: none)
  std::optional<customer_profile> customer;  ///< conversation rooms
};
struct new_message {
  static constexpr std::string_view type_name = "new_message";
  livechat::message message;
};
struct message_sent {
  static constexpr std::string_view type_name = "message_sent";
  std::optional<std::string> client_msg_id;
  livechat::message message;
  bool duplicate = false;
};
struct conversation_activity {
  static constexpr std::string_view type_name = "conversation_activity";
  std::string room;
  std::string conversation_id;
  livechat::message last_message;
  session_state session;
  std::optional<customer_profile> customer;
};
struct typing {
  static constexpr std::string_view type_name = "typing";
  std::string room;
  std::string user_id;
  std::string name;
  bool is_typing = false;
};
struct operator_joined {
  static constexpr std::string_view type_name = "operator_joined";
  std::string room;
  std::string user_id;
  std::string name;
};
struct operator_left {
  static constexpr std::string_view type_name = "operator_left";
  std::string room;
  std::string user_id;
  std::string name;
};
struct room_left { static constexpr std::string_view type_name = "room_left"; std::string room; };
struct session_claimed {
  static constexpr std::string_view type_name = "session_claimed";
  std::string room;
  session_state session;
};
struct session_released {
  static constexpr std::string_view type_name = "session_released";
  std::string room;
  session_state session;
};
struct session_closed {
  static constexpr std::string_view type_name = "session_closed";
  std::string room;
  session_state session;
};
struct read_receipt {
  static constexpr std::string_view type_name = "read_receipt";
  std::string room;
  std::string user_id;
  std::uint64_t seq = 0;
};
struct pong { static constexpr std::string_view type_name = "pong"; system_time server_time{}; };
struct error {
  static constexpr std::string_view type_name = "error";
  errc code = errc::internal;
  std::string message;                      ///< for humans
  std::optional<std::string> request_type;  ///< the `type` that failed, when known
  std::optional<std::string> field;         ///< offending payload or envelope key
};
/// A file attachment's content arrived (`ready`) or could not be fetched
/// (`failed`): to the message's room and the inbox watchers.
struct attachment_updated {
  static constexpr std::string_view type_name = "attachment_updated";
  std::string room;
  std::string message_id;
  std::uint64_t seq = 0;
  file_attachment attachment;
};
}  // namespace server_events

}  // namespace livechat

#endif
