// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_CODEC_HPP
#define LIVECHAT_PROTOCOL_CODEC_HPP

// The JSON codec of PROTOCOL.md. Decoding a client frame yields the typed
// event or the error PROTOCOL.md asks for (code + field), split into an
// envelope part and a payload part so the hub can check authentication in
// between, as the validation order requires. Encoding writes one string.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/writer.h>

#include <livechat/error.hpp>
#include <livechat/protocol/decode_error.hpp>
#include <livechat/protocol/detail/json_writer.hpp>
#include <livechat/protocol/detail/parse_arena.hpp>
#include <livechat/protocol/detail/payload_reader.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/limits.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat {

// decode_error: protocol/decode_error.hpp; the payload reader:
// protocol/detail/payload_reader.hpp.

/// The outcome of decoding one client frame.
struct decoded_frame {
  /// Set when the envelope is bad: not JSON, no/invalid `type`, bad `ref`,
  /// `payload` not an object, unknown `type`. Answer it before anything else.
  std::optional<decode_error> envelope_error;
  /// Set when the envelope is fine but a payload field is not. Answer it
  /// only after the authentication check.
  std::optional<decode_error> payload_error;
  std::string type;                        ///< the raw `type`, when it was a string
  std::optional<client_event_type> kind;   ///< set when `type` is known
  std::optional<std::string> ref;          ///< set only when `ref` is valid
  client_event event;                      ///< valid only without errors

  bool ok() const noexcept { return !envelope_error && !payload_error; }
};


/// Decodes one client frame (PROTOCOL.md "Envelope" and the payload table).
/// Never throws on bad input; every failure is described in the result.
inline decoded_frame decode_client_frame(std::string_view frame, const codec_limits& limits = {}) {
  decoded_frame out;
  // A small stack arena serves typical frames without touching the heap.
  // Iterative parsing bounds stack use on deeply nested input.
  // A raw NUL never occurs in JSON text, and RapidJSON's in-memory stream
  // would stop at it and ignore what follows.
  if (std::char_traits<char>::find(frame.data(), frame.size(), '\0') != nullptr) {
    out.envelope_error = decode_error{errc::invalid_json, {}, "frame must be one JSON object"};
    return out;
  }
  detail::parse_arena arena;
  detail::arena_document doc = detail::make_document(arena);
  // Checking for pure ASCII (most frames) is a word-at-a-time scan.
  detail::parse_frame(doc, frame, detail::is_ascii(frame));
  if (doc.HasParseError() || !doc.IsObject()) {
    out.envelope_error = decode_error{errc::invalid_json, {}, "frame must be one JSON object"};
    return out;
  }

  // `ref` first, so that every later error can echo a valid one.
  auto ref_it = doc.FindMember("ref");
  std::optional<decode_error> ref_error;
  if (ref_it != doc.MemberEnd()) {
    const rapidjson::Value& r = ref_it->value;
    if (r.IsString() && detail::has_encoded_surrogate(detail::view(r))) {
      out.envelope_error = decode_error{errc::invalid_json, {}, "frame is not valid UTF-8 JSON"};
      return out;
    }
    if (r.IsString() && detail::utf8_length(detail::view(r)) <= limits.max_ref_length)
      out.ref = std::string(detail::view(r));
    else
      ref_error = decode_error{errc::validation_error, "ref",
                               "ref must be a string of at most " +
                                   std::to_string(limits.max_ref_length) + " characters"};
  }

  auto type_it = doc.FindMember("type");
  if (type_it == doc.MemberEnd() || !type_it->value.IsString()) {
    out.envelope_error = decode_error{errc::validation_error, "type", "type must be a string"};
    return out;
  }
  // The `type` of a refused frame is echoed as `request_type`: an escaped
  // lone surrogate in it would make that reply invalid UTF-8, which no text
  // frame may carry (the transport drops it, so the client got no answer).
  if (detail::has_encoded_surrogate(detail::view(type_it->value))) {
    out.envelope_error = decode_error{errc::invalid_json, {}, "frame is not valid UTF-8 JSON"};
    return out;
  }
  out.type = std::string(detail::view(type_it->value));
  if (ref_error) {
    out.envelope_error = std::move(ref_error);
    return out;
  }

  auto payload_it = doc.FindMember("payload");
  const rapidjson::Value* payload = nullptr;
  if (payload_it != doc.MemberEnd()) {
    if (!payload_it->value.IsObject()) {
      out.envelope_error = decode_error{errc::validation_error, "payload", "payload must be an object"};
      return out;
    }
    payload = &payload_it->value;
  }

  out.kind = parse_client_event_type(out.type);
  if (!out.kind) {
    out.envelope_error = decode_error{errc::unknown_type, {}, "unknown event type"};
    return out;
  }

  detail::payload_reader reader(payload, limits);
  out.event = detail::read_payload(*out.kind, reader, limits);
  if (reader.bad_encoding()) {
    out.envelope_error = decode_error{errc::invalid_json, {}, "frame is not valid UTF-8 JSON"};
    return out;
  }
  out.payload_error = std::move(reader.error());
  return out;
}

/// A frame's `type` as an `error` echoes it in `request_type`: cut to
/// `limits.max_request_type_length` code points (PROTOCOL.md HTTP notes).
inline std::string request_type_echo(std::string_view type, const codec_limits& limits = {}) {
  return std::string(detail::cut_code_points(type, limits.max_request_type_length));
}

/// What a frame refused by the rate limit tells about itself: its `ref`
/// and `type`, set (both) only when the frame is a JSON object with a
/// valid `ref` and a string `type`.
struct frame_envelope {
  std::optional<std::string> ref;
  std::optional<std::string> request_type;  ///< `type`, cut as `request_type_echo` does
};

namespace detail {

/// SAX handler keeping the first top-level `ref` and `type` and skipping
/// everything else, so reading an envelope builds no DOM and copies no
/// payload. A root that is not an object stops the parse.
class envelope_handler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, envelope_handler> {
 public:
  enum class seen { no, string, other };
  seen ref = seen::no;
  seen type = seen::no;
  std::string ref_value;
  std::string type_value;

  bool Default() { return value(); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 0) return false;
    if (depth_ == 1) {
      if (current_ == member::ref && ref == seen::no) {
        ref = seen::string;
        ref_value.assign(s, n);
      } else if (current_ == member::type && type == seen::no) {
        type = seen::string;
        type_value.assign(s, n);
      }
    }
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) {
      const std::string_view k(s, n);
      current_ = k == "ref" ? member::ref : k == "type" ? member::type : member::other;
    }
    return true;
  }
  bool StartObject() {
    if (depth_ != 0 && !value()) return false;
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth_;
    return true;
  }
  bool StartArray() {
    if (!value()) return false;
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }

 private:
  enum class member { other, ref, type };
  /// A non-string value; false (stop) at the root, where only an object is allowed.
  bool value() {
    if (depth_ == 0) return false;
    if (depth_ == 1) {
      // First occurrence wins, as FindMember does in decode_client_frame.
      if (current_ == member::ref && ref == seen::no) ref = seen::other;
      if (current_ == member::type && type == seen::no) type = seen::other;
    }
    return true;
  }
  std::size_t depth_ = 0;
  member current_ = member::other;
};

}  // namespace detail

/// Reads only the envelope of `frame` (one SAX pass, no DOM, the payload
/// is not validated): what a `rate_limited` answer echoes (PROTOCOL.md
/// Envelope). Never throws on bad input; a frame that is not a JSON
/// object, or whose `ref` is invalid or `type` not a string, gives neither.
inline frame_envelope read_envelope(std::string_view frame, const codec_limits& limits = {}) {
  frame_envelope out;
  // As in decode_client_frame: the in-memory stream would stop at a NUL.
  if (std::char_traits<char>::find(frame.data(), frame.size(), '\0') != nullptr) return out;
  // The reader's stack from the stack too (detail/parse_arena.hpp says why
  // the buffer must be larger than the capacity asked for).
  char stack_buffer[detail::parse_arena::stack_bytes];
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>> reader(
      &stack_alloc, detail::parse_arena::document_stack);
  rapidjson::MemoryStream ms(frame.data(), frame.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  detail::envelope_handler h;
  const bool parsed =
      detail::is_ascii(frame)
          ? !reader.Parse<rapidjson::kParseIterativeFlag>(is, h).IsError()
          : !reader.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(is, h)
                 .IsError();
  using seen = detail::envelope_handler::seen;
  if (!parsed || h.ref != seen::string || h.type != seen::string) return out;
  // The same rules as decode_client_frame: an escaped lone surrogate is
  // not UTF-8, and a reply carrying it could not be sent.
  if (detail::has_encoded_surrogate(h.ref_value) || detail::has_encoded_surrogate(h.type_value) ||
      detail::utf8_length(h.ref_value) > limits.max_ref_length)
    return out;
  out.ref = std::move(h.ref_value);
  out.request_type = request_type_echo(h.type_value, limits);
  return out;
}

// ------------------------------------------------------------------ encoding

namespace detail {
// The writers of the model types: protocol/detail/json_writer.hpp.

namespace se = server_events;

inline void write_fields(json_writer& w, const se::auth_success& e) {
  key(w, "user_id"); write_string(w, e.identity.user_id);
  key(w, "name"); write_string(w, e.identity.name);
  key(w, "role"); write_string(w, to_string(e.identity.role));
  key(w, "connection_id"); write_string(w, e.connection_id);
  key(w, "protocol"); w.Int(e.protocol);
  key(w, "heartbeat_interval_ms"); w.Uint(e.heartbeat_interval_ms);
  key(w, "server_time"); write_time(w, e.server_time);
}
inline void write_fields(json_writer& w, const se::presence_update& e) {
  key(w, "online"); write_array(w, e.online);
}
inline void write_fields(json_writer& w, const se::presence_diff& e) {
  key(w, "online"); write_array(w, e.online);
  key(w, "offline"); write_array(w, e.offline);
}
inline void write_fields(json_writer& w, const se::inbox_update& e) {
  key(w, "conversations"); write_array(w, e.conversations);
  key(w, "online"); write_array(w, e.online);
}
inline void write_fields(json_writer&, const se::inbox_unwatched&) {}
inline void write_fields(json_writer& w, const se::conversation_update& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "conversation_id"); write_string(w, e.conversation_id);
  key(w, "session"); write(w, e.session);
  key(w, "members"); write_array(w, e.members);
  key(w, "messages"); write_array(w, e.messages);
  key(w, "last_seq"); w.Uint64(e.last_seq);
  key(w, "has_more"); w.Bool(e.has_more);
  key(w, "epoch"); write_string(w, e.epoch);
  key(w, "recovered"); w.Bool(e.recovered);
  key(w, "read_seq"); w.Uint64(e.read_seq);
  if (e.customer) {
    key(w, "customer"); write(w, *e.customer);
  }
}
inline void write_fields(json_writer& w, const se::new_message& e) {
  key(w, "message"); write(w, e.message);
}
inline void write_fields(json_writer& w, const se::message_sent& e) {
  write_optional(w, "client_msg_id", e.client_msg_id);
  key(w, "message"); write(w, e.message);
  key(w, "duplicate"); w.Bool(e.duplicate);
}
inline void write_fields(json_writer& w, const se::conversation_activity& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "conversation_id"); write_string(w, e.conversation_id);
  key(w, "last_message"); write(w, e.last_message);
  key(w, "session"); write(w, e.session);
  if (e.customer) {
    key(w, "customer"); write(w, *e.customer);
  }
}
inline void write_fields(json_writer& w, const se::typing& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "user_id"); write_string(w, e.user_id);
  key(w, "name"); write_string(w, e.name);
  key(w, "is_typing"); w.Bool(e.is_typing);
}
template <class E>
void write_operator_fields(json_writer& w, const E& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "user_id"); write_string(w, e.user_id);
  key(w, "name"); write_string(w, e.name);
}
inline void write_fields(json_writer& w, const se::operator_joined& e) { write_operator_fields(w, e); }
inline void write_fields(json_writer& w, const se::operator_left& e) { write_operator_fields(w, e); }
inline void write_fields(json_writer& w, const se::room_left& e) {
  key(w, "room"); write_string(w, e.room);
}
template <class E>
void write_session_fields(json_writer& w, const E& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "session"); write(w, e.session);
}
inline void write_fields(json_writer& w, const se::session_claimed& e) { write_session_fields(w, e); }
inline void write_fields(json_writer& w, const se::session_released& e) { write_session_fields(w, e); }
inline void write_fields(json_writer& w, const se::session_closed& e) { write_session_fields(w, e); }
inline void write_fields(json_writer& w, const se::read_receipt& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "user_id"); write_string(w, e.user_id);
  key(w, "seq"); w.Uint64(e.seq);
}
inline void write_fields(json_writer& w, const se::pong& e) {
  key(w, "server_time"); write_time(w, e.server_time);
}
inline void write_fields(json_writer& w, const se::error& e) {
  key(w, "code"); write_string(w, wire_code(e.code));
  key(w, "message"); write_string(w, e.message);
  write_optional(w, "request_type", e.request_type);
  write_optional(w, "field", e.field);
}

inline void write_fields(json_writer& w, const se::attachment_updated& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "message_id"); write_string(w, e.message_id);
  key(w, "seq"); w.Uint64(e.seq);
  key(w, "attachment"); write(w, e.attachment);
}

}  // namespace detail

/// Encodes a server event as one frame: `{"type","payload","timestamp"[,"ref"]}`.
/// `ref` is written only when given (the echo of a client's valid `ref`).
template <class Event>
std::string encode(const Event& event, system_time timestamp,
                   std::optional<std::string_view> ref = std::nullopt) {
  return detail::write_frame(
      Event::type_name, [&](detail::json_writer& w) { detail::write_fields(w, event); },
      &timestamp, ref, 256);
}

/// The `message` object of `new_message` and `message_sent`, encoded once
/// for both frames of a stored message (the sender's acknowledgement and
/// the room's broadcast): pass it to encode_new_message and
/// encode_message_sent, which write the same bytes as encode() would.
inline std::string encode_message_object(const message& m) {
  std::string out;
  // Keys, punctuation, seq and timestamp take ~150 bytes: with the
  // strings (escapes aside) one block holds a text message.
  out.reserve(192 + m.id.size() + m.room.size() + m.sender.id.size() + m.sender.name.size() +
              m.text.size() + m.client_msg_id.size());
  detail::string_output stream{out};
  detail::json_writer w(stream);
  detail::write(w, m);
  stream.finish();
  return out;
}

/// encode(server_events::new_message{m}, timestamp), with `m` already
/// encoded by encode_message_object.
inline std::string encode_new_message(std::string_view message_json, system_time timestamp) {
  return detail::write_frame(
      server_events::new_message::type_name,
      [&](detail::json_writer& w) {
        detail::key(w, "message");
        w.raw_value(message_json, rapidjson::kObjectType);
      },
      &timestamp, std::nullopt, message_json.size() + 96);
}

/// encode(server_events::message_sent{client_msg_id, m, duplicate},
/// timestamp, ref), with `m` already encoded by encode_message_object.
inline std::string encode_message_sent(const std::optional<std::string>& client_msg_id,
                                       std::string_view message_json, bool duplicate,
                                       system_time timestamp,
                                       std::optional<std::string_view> ref = std::nullopt) {
  return detail::write_frame(
      server_events::message_sent::type_name,
      [&](detail::json_writer& w) {
        if (client_msg_id) {
          detail::key(w, "client_msg_id");
          detail::write_string(w, *client_msg_id);
        }
        detail::key(w, "message");
        w.raw_value(message_json, rapidjson::kObjectType);
        detail::key(w, "duplicate");
        w.Bool(duplicate);
      },
      &timestamp, ref, message_json.size() + 160);
}

/// encode(server_events::presence_update{list}, timestamp), with `list`
/// already encoded as its JSON array (presence_tracker::online_json).
inline std::string encode_presence_update(std::string_view online_json, system_time timestamp) {
  return detail::write_frame(
      server_events::presence_update::type_name,
      [&](detail::json_writer& w) {
        detail::key(w, "online");
        w.raw_value(online_json, rapidjson::kArrayType);
      },
      &timestamp, std::nullopt, online_json.size() + 96);
}

/// encode(server_events::inbox_update{conversations, list}, timestamp,
/// ref), with `list` already encoded as its JSON array.
inline std::string encode_inbox_update(const std::vector<conversation_summary>& conversations,
                                       std::string_view online_json, system_time timestamp,
                                       std::optional<std::string_view> ref = std::nullopt) {
  return detail::write_frame(
      server_events::inbox_update::type_name,
      [&](detail::json_writer& w) {
        detail::key(w, "conversations");
        detail::write_array(w, conversations);
        detail::key(w, "online");
        w.raw_value(online_json, rapidjson::kArrayType);
      },
      &timestamp, ref, online_json.size() + 256 * conversations.size() + 160);
}

}  // namespace livechat

#endif
