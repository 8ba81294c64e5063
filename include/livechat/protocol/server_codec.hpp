// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_SERVER_CODEC_HPP
#define LIVECHAT_PROTOCOL_SERVER_CODEC_HPP

// The client's half of the codec: decoding server → client frames into the
// typed events of events.hpp, and encoding client → server events.
// protocol/codec.hpp is the server's half (decode client frames, encode
// server events); each side needs the mirror image of the other.
//
// Each payload's fields are read by detail/server_reader.hpp.
// The decoder trusts nothing: a frame from a buggy or hostile server, or one
// cut short by a proxy, comes back as an error naming the bad field, never
// as an exception or a half-filled event the caller could act on.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include <livechat/error.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/detail/parse_arena.hpp>
#include <livechat/protocol/detail/server_reader.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat {

/// Index order matches `server_event`'s alternatives.
enum class server_event_type {
  auth_success, presence_update, presence_diff, inbox_update, inbox_unwatched,
  conversation_update, new_message, message_sent, conversation_activity, typing,
  operator_joined, operator_left, room_left, session_claimed, session_released,
  session_closed, read_receipt, pong, error, attachment_updated
};

using server_event = std::variant<server_events::auth_success, server_events::presence_update,
    server_events::presence_diff, server_events::inbox_update, server_events::inbox_unwatched,
    server_events::conversation_update, server_events::new_message, server_events::message_sent,
    server_events::conversation_activity, server_events::typing, server_events::operator_joined,
    server_events::operator_left, server_events::room_left, server_events::session_claimed,
    server_events::session_released, server_events::session_closed, server_events::read_receipt,
    server_events::pong, server_events::error, server_events::attachment_updated>;

inline std::optional<server_event_type> parse_server_event_type(std::string_view s) noexcept {
  namespace se = server_events;
  static constexpr std::string_view names[] = {
      se::auth_success::type_name,     se::presence_update::type_name,
      se::presence_diff::type_name,    se::inbox_update::type_name,
      se::inbox_unwatched::type_name,  se::conversation_update::type_name,
      se::new_message::type_name,      se::message_sent::type_name,
      se::conversation_activity::type_name, se::typing::type_name,
      se::operator_joined::type_name,  se::operator_left::type_name,
      se::room_left::type_name,        se::session_claimed::type_name,
      se::session_released::type_name, se::session_closed::type_name,
      se::read_receipt::type_name,     se::pong::type_name,
      se::error::type_name,            se::attachment_updated::type_name};
  for (std::size_t i = 0; i < std::size(names); ++i)
    if (names[i] == s) return static_cast<server_event_type>(i);
  return std::nullopt;
}

/// The errc of a PROTOCOL.md error code string; nullopt for a code this
/// version does not know (a newer server may add some).
inline std::optional<errc> parse_wire_code(std::string_view s) noexcept {
  for (int i = static_cast<int>(errc::invalid_json); i <= static_cast<int>(errc::internal); ++i)
    if (wire_code(static_cast<errc>(i)) == s) return static_cast<errc>(i);
  return std::nullopt;
}

/// The outcome of decoding one server frame.
struct decoded_server_frame {
  /// Set when the frame is unusable: not a JSON object (`invalid_json`), no
  /// string `type` or a bad field (`validation_error` naming the field,
  /// e.g. `"message.seq"`), or a `type` this version does not know
  /// (`unknown_type`; `kind` is then empty and a client may ignore it).
  std::optional<decode_error> error;
  std::string type;                       ///< the raw `type`, when it was a string
  std::optional<server_event_type> kind;  ///< set when `type` is known
  std::optional<std::string> ref;         ///< the echoed `ref`, when a string
  std::optional<system_time> timestamp;   ///< the envelope's, when valid
  server_event event;                     ///< valid only when `ok()`

  bool ok() const noexcept { return !error; }
};

namespace detail {

/// operator_joined and operator_left: room, user_id, name.
template <class E>
E read_operator_event(const rapidjson::Value& p, server_reader& r) {
  return E{r.string(p, "", "room"), r.string(p, "", "user_id"), r.string(p, "", "name")};
}
/// session_claimed, _released and _closed: room and session.
template <class E>
E read_session_event(const rapidjson::Value& p, server_reader& r) {
  return E{r.string(p, "", "room"), r.required_session(p)};
}

inline server_event read_server_payload(server_event_type kind, const rapidjson::Value& p,
                                        server_reader& r) {
  namespace se = server_events;
  switch (kind) {
    case server_event_type::auth_success: {
      se::auth_success e;
      e.identity.user_id = r.string(p, "", "user_id");
      e.identity.name = r.string(p, "", "name");
      const std::string role = r.string(p, "", "role");
      if (auto ro = parse_user_role(role))
        e.identity.role = *ro;
      else
        r.fail("role", "role must be operator or admin");
      e.connection_id = r.string(p, "", "connection_id");
      const rapidjson::Value* proto = r.member(p, "", "protocol", true);
      if (proto != nullptr && !proto->IsInt()) r.fail("protocol", "protocol must be an integer");
      if (proto != nullptr && proto->IsInt()) e.protocol = proto->GetInt();
      e.heartbeat_interval_ms = r.uint32(p, "", "heartbeat_interval_ms");
      e.server_time = r.time(p, "", "server_time");
      return e;
    }
    case server_event_type::presence_update:
      return se::presence_update{r.presence_list(p, "online")};
    case server_event_type::presence_diff: {
      se::presence_diff e;
      e.online = r.presence_list(p, "online");
      e.offline = r.list<std::string>(
          p, "", "offline",
          [&r](const rapidjson::Value& v, const std::string& path) {
            if (!v.IsString()) return r.fail(path, "must be a string"), std::string();
            return std::string(view(v));
          },
          false);
      return e;
    }
    case server_event_type::inbox_update: {
      se::inbox_update e;
      e.conversations = r.list<conversation_summary>(
          p, "", "conversations", [&r](const rapidjson::Value& v, const std::string& path) {
            return r.read_summary(v, path);
          });
      e.online = r.presence_list(p, "online");
      return e;
    }
    case server_event_type::inbox_unwatched: return se::inbox_unwatched{};
    case server_event_type::conversation_update: {
      se::conversation_update e;
      e.room = r.string(p, "", "room");
      e.conversation_id = r.string(p, "", "conversation_id");
      e.session = r.required_session(p);
      e.members = r.list<user_ref>(p, "", "members",
                                   [&r](const rapidjson::Value& v, const std::string& path) {
                                     return r.read_user_ref(v, path);
                                   });
      e.messages = r.list<message>(p, "", "messages",
                                   [&r](const rapidjson::Value& v, const std::string& path) {
                                     return r.read_message(v, path);
                                   });
      e.last_seq = r.uint(p, "", "last_seq");
      e.has_more = r.boolean(p, "", "has_more");
      e.epoch = r.string(p, "", "epoch");
      e.recovered = r.boolean(p, "", "recovered");
      e.read_seq = r.optional_uint(p, "", "read_seq");
      e.customer = r.optional_customer(p, "");
      return e;
    }
    case server_event_type::new_message: return se::new_message{r.required_message(p, "message")};
    case server_event_type::message_sent: {
      se::message_sent e;
      e.client_msg_id = r.optional_string(p, "", "client_msg_id");
      e.message = r.required_message(p, "message");
      e.duplicate = r.boolean(p, "", "duplicate");
      return e;
    }
    case server_event_type::conversation_activity: {
      se::conversation_activity e;
      e.room = r.string(p, "", "room");
      e.conversation_id = r.string(p, "", "conversation_id");
      e.last_message = r.required_message(p, "last_message");
      e.session = r.required_session(p);
      e.customer = r.optional_customer(p, "");
      return e;
    }
    case server_event_type::typing: {
      se::typing e;
      e.room = r.string(p, "", "room");
      e.user_id = r.string(p, "", "user_id");
      e.name = r.string(p, "", "name");
      e.is_typing = r.boolean(p, "", "is_typing");
      return e;
    }
    case server_event_type::operator_joined: return read_operator_event<se::operator_joined>(p, r);
    case server_event_type::operator_left: return read_operator_event<se::operator_left>(p, r);
    case server_event_type::room_left: return se::room_left{r.string(p, "", "room")};
    case server_event_type::session_claimed: return read_session_event<se::session_claimed>(p, r);
    case server_event_type::session_released: return read_session_event<se::session_released>(p, r);
    case server_event_type::session_closed: return read_session_event<se::session_closed>(p, r);
    case server_event_type::read_receipt:
      return se::read_receipt{r.string(p, "", "room"), r.string(p, "", "user_id"),
                              r.uint(p, "", "seq")};
    case server_event_type::pong: return se::pong{r.time(p, "", "server_time")};
    case server_event_type::error: {
      se::error e;
      const std::string code = r.string(p, "", "code");
      // A code this version does not know still is an error: keep it as internal.
      e.code = parse_wire_code(code).value_or(errc::internal);
      e.message = r.string(p, "", "message");
      e.request_type = r.optional_string(p, "", "request_type");
      e.field = r.optional_string(p, "", "field");
      return e;
    }
    case server_event_type::attachment_updated: {
      se::attachment_updated e;
      e.room = r.string(p, "", "room");
      e.message_id = r.string(p, "", "message_id");
      e.seq = r.uint(p, "", "seq");
      if (const rapidjson::Value* a = r.object(p, "", "attachment"))
        e.attachment = r.read_file_attachment(*a, "attachment");
      return e;
    }
  }
  return se::inbox_unwatched{};
}

}  // namespace detail

/// Decodes one server → client frame (PROTOCOL.md "Server → client events").
/// Unknown top-level and payload fields are ignored; a missing `payload` is
/// read as `{}` (so events without fields decode, and the others report
/// their first missing field). Never throws on bad input.
inline decoded_server_frame decode_server_frame(std::string_view frame) {
  decoded_server_frame out;
  auto fail = [&](errc code, std::string field, std::string message) {
    out.error = decode_error{code, std::move(field), std::move(message)};
    return std::move(out);
  };
  if (std::char_traits<char>::find(frame.data(), frame.size(), '\0') != nullptr)
    return fail(errc::invalid_json, {}, "frame must be one JSON object");
  detail::parse_arena arena;
  detail::arena_document doc = detail::make_document(arena);
  detail::parse_frame(doc, frame, detail::is_ascii(frame));
  if (doc.HasParseError() || !doc.IsObject())
    return fail(errc::invalid_json, {}, "frame must be one JSON object");

  auto type_it = doc.FindMember("type");
  if (type_it == doc.MemberEnd() || !type_it->value.IsString())
    return fail(errc::validation_error, "type", "type must be a string");
  out.type = std::string(detail::view(type_it->value));

  auto ref_it = doc.FindMember("ref");
  if (ref_it != doc.MemberEnd() && ref_it->value.IsString() &&
      !detail::has_encoded_surrogate(detail::view(ref_it->value)))
    out.ref = std::string(detail::view(ref_it->value));
  auto ts_it = doc.FindMember("timestamp");
  if (ts_it != doc.MemberEnd() && ts_it->value.IsString())
    out.timestamp = parse_timestamp(detail::view(ts_it->value));

  out.kind = parse_server_event_type(out.type);
  if (!out.kind) return fail(errc::unknown_type, {}, "unknown event type " + out.type);

  const rapidjson::Value empty(rapidjson::kObjectType);
  const rapidjson::Value* payload = &empty;
  auto payload_it = doc.FindMember("payload");
  if (payload_it != doc.MemberEnd()) {
    if (!payload_it->value.IsObject())
      return fail(errc::validation_error, "payload", "payload must be an object");
    payload = &payload_it->value;
  }
  detail::server_reader reader;
  out.event = detail::read_server_payload(*out.kind, *payload, reader);
  out.error = std::move(reader.error());
  return out;
}

// ------------------------------------------------------------ client events

namespace detail {

namespace ce = client_events;

inline void write_client_fields(json_writer& w, const ce::auth& e) {
  key(w, "token"); write_string(w, e.token);
}
inline void write_client_fields(json_writer& w, const ce::join_room& e) {
  key(w, "room"); write_string(w, e.room);
  if (e.since_seq) {
    key(w, "since_seq"); w.Uint64(*e.since_seq);
  }
  write_optional(w, "epoch", e.epoch);
}
inline void write_client_fields(json_writer& w, const ce::send_message& e) {
  key(w, "room"); write_string(w, e.room);
  if (!e.text.empty() || !e.attachment_id) {
    key(w, "text"); write_string(w, e.text);
  }
  write_optional(w, "client_msg_id", e.client_msg_id);
  write_optional(w, "attachment_id", e.attachment_id);
}
inline void write_client_fields(json_writer& w, const ce::mark_read& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "seq"); w.Uint64(e.seq);
}
inline void write_client_fields(json_writer&, const ce::watch_inbox&) {}
inline void write_client_fields(json_writer&, const ce::unwatch_inbox&) {}
inline void write_client_fields(json_writer&, const ce::ping&) {}
/// Every other client event carries only `room`.
template <class E>
auto write_client_fields(json_writer& w, const E& e) -> decltype(void(e.room)) {
  key(w, "room"); write_string(w, e.room);
}

}  // namespace detail

/// Encodes a client event as one frame: `{"type","payload"[,"ref"]}`.
/// Clients omit `timestamp` (the server ignores it).
template <class Event>
std::string encode_client_event(const Event& event,
                                std::optional<std::string_view> ref = std::nullopt) {
  return detail::write_frame(
      Event::type_name, [&](detail::json_writer& w) { detail::write_client_fields(w, event); },
      nullptr, ref, 128);
}

/// The same for any alternative of `client_event`.
inline std::string encode_client_event(const client_event& event,
                                       std::optional<std::string_view> ref = std::nullopt) {
  return std::visit([&](const auto& e) { return encode_client_event(e, ref); }, event);
}

}  // namespace livechat

#endif
