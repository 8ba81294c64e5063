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

#include <livechat/detail/utf8.hpp>  // utf8_length
#include <livechat/error.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/limits.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat {

struct decode_error {
  errc code = errc::validation_error;
  std::string field;  ///< empty when the error names no field
  std::string message;
};

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

namespace detail {

/// The longest prefix of valid UTF-8 `s` with at most `n` code points
/// (cut before a lead byte, so the result stays valid UTF-8).
inline std::string_view cut_code_points(std::string_view s, std::size_t n) noexcept {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0u) != 0x80u && count++ == n) return s.substr(0, i);
  return s;
}

/// RapidJSON 1.1.0 decodes a lone low-surrogate escape (`"\uDC00"`) into
/// the bytes ED B0..BF xx, which are not UTF-8. Raw input bytes are
/// validated by the parser, so this pattern is the only way invalid UTF-8
/// reaches a decoded string.
inline bool has_encoded_surrogate(std::string_view s) noexcept {
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) == 0xEDu && static_cast<unsigned char>(s[i + 1]) >= 0xA0u)
      return true;
  return false;
}

/// True when every byte is below 0x80.
inline bool is_ascii(std::string_view s) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t bits = 0;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    bits |= w;
  }
  for (; n > 0; ++p, --n) bits |= static_cast<unsigned char>(*p);
  return (bits & 0x8080808080808080ull) == 0;
}

inline bool is_trim_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_trim_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_trim_space(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string_view view(const rapidjson::Value& v) noexcept {
  return {v.GetString(), v.GetStringLength()};
}

/// Reads the payload fields of one event type, recording the first error.
class payload_reader {
 public:
  payload_reader(const rapidjson::Value* payload, const codec_limits& limits)
      : payload_(payload), limits_(limits) {}

  std::optional<decode_error>& error() { return error_; }
  bool bad_encoding() const noexcept { return bad_encoding_; }

  /// A string value we keep; flags undecodable surrogates (invalid_json).
  std::string_view checked(const rapidjson::Value& v) {
    std::string_view s = view(v);
    if (has_encoded_surrogate(s)) bad_encoding_ = true;
    return s;
  }

  const rapidjson::Value* find(const char* name) const {
    if (payload_ == nullptr) return nullptr;
    auto it = payload_->FindMember(name);
    return it == payload_->MemberEnd() ? nullptr : &it->value;
  }

  void fail(const char* field, std::string message) {
    if (!error_) error_ = decode_error{errc::validation_error, field, std::move(message)};
  }

  std::string room() {
    const rapidjson::Value* v = find("room");
    if (v == nullptr) return fail("room", "room is required"), std::string();
    if (!v->IsString()) return fail("room", "room must be a string"), std::string();
    if (!is_valid_room(view(*v)))
      return fail("room", "room must be conversation:{id} with id matching [A-Za-z0-9_.@:-]{1,128}"),
             std::string();
    return std::string(view(*v));
  }

  std::optional<std::uint64_t> optional_uint(const char* name) {
    const rapidjson::Value* v = find(name);
    if (v == nullptr || v->IsNull()) return std::nullopt;
    if (!v->IsUint64()) return fail(name, std::string(name) + " must be an integer >= 0"), std::nullopt;
    return v->GetUint64();
  }

  std::uint64_t required_uint(const char* name) {
    const rapidjson::Value* v = find(name);
    if (v == nullptr || v->IsNull()) return fail(name, std::string(name) + " is required"), 0;
    return optional_uint(name).value_or(0);
  }

  std::optional<std::string> optional_string(const char* name, std::size_t max_code_points) {
    const rapidjson::Value* v = find(name);
    if (v == nullptr || v->IsNull()) return std::nullopt;
    if (!v->IsString()) return fail(name, std::string(name) + " must be a string"), std::nullopt;
    const std::string_view value = checked(*v);
    const std::size_t n = utf8_length(value);
    if (n == 0 || n > max_code_points)
      return fail(name, std::string(name) + " must be 1-" + std::to_string(max_code_points) +
                            " characters"),
             std::nullopt;
    return std::string(value);
  }

  std::string text() {
    const rapidjson::Value* v = find("text");
    if (v == nullptr) return fail("text", "text is required"), std::string();
    if (!v->IsString()) return fail("text", "text must be a string"), std::string();
    std::string_view t = trim(checked(*v));
    const std::size_t n = utf8_length(t);
    if (n == 0) return fail("text", "text is empty"), std::string();
    if (n > limits_.max_text_length)
      return fail("text", "text is longer than " + std::to_string(limits_.max_text_length) +
                              " characters"),
             std::string();
    return std::string(t);
  }

 private:
  const rapidjson::Value* payload_;
  const codec_limits& limits_;
  std::optional<decode_error> error_;
  bool bad_encoding_ = false;
};

inline client_event read_payload(client_event_type kind, payload_reader& r,
                                 const codec_limits& limits) {
  namespace ce = client_events;
  switch (kind) {
    case client_event_type::auth: {
      const rapidjson::Value* v = r.find("token");
      if (v == nullptr || !v->IsString()) r.fail("token", "token must be a string");
      return ce::auth{v != nullptr && v->IsString() ? std::string(r.checked(*v)) : std::string()};
    }
    case client_event_type::join_room: {
      ce::join_room e;
      e.room = r.room();
      e.since_seq = r.optional_uint("since_seq");
      const rapidjson::Value* ep = r.find("epoch");
      if (ep != nullptr && !ep->IsNull()) {
        if (!ep->IsString())
          r.fail("epoch", "epoch must be a string");
        else
          e.epoch = std::string(r.checked(*ep));  // any string; a foreign one just does not match
      }
      return e;
    }
    case client_event_type::leave_room: return ce::leave_room{r.room()};
    case client_event_type::watch_inbox: return ce::watch_inbox{};
    case client_event_type::unwatch_inbox: return ce::unwatch_inbox{};
    case client_event_type::send_message: {
      ce::send_message e;
      e.room = r.room();
      e.text = r.text();
      e.client_msg_id = r.optional_string("client_msg_id", limits.max_client_msg_id_length);
      return e;
    }
    case client_event_type::typing_start: return ce::typing_start{r.room()};
    case client_event_type::typing_stop: return ce::typing_stop{r.room()};
    case client_event_type::claim_session: return ce::claim_session{r.room()};
    case client_event_type::release_session: return ce::release_session{r.room()};
    case client_event_type::close_session: return ce::close_session{r.room()};
    case client_event_type::mark_read: {
      ce::mark_read e;
      e.room = r.room();
      e.seq = r.required_uint("seq");
      return e;
    }
    case client_event_type::ping:
    case client_event_type::count: break;  // count: never parsed
  }
  return ce::ping{};
}

}  // namespace detail

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
  char value_buffer[4096];
  char parse_buffer[1024];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof value_buffer);
  rapidjson::MemoryPoolAllocator<> parse_alloc(parse_buffer, sizeof parse_buffer);
  using document = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                              rapidjson::MemoryPoolAllocator<>>;
  document doc(&value_alloc, sizeof parse_buffer, &parse_alloc);
  // Validating UTF-8 costs about two thirds of a bare parse; pure ASCII
  // (most frames) needs none, and checking for it is a word-at-a-time scan.
  if (detail::is_ascii(frame))
    doc.Parse<rapidjson::kParseIterativeFlag>(frame.data(), frame.size());
  else
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(frame.data(),
                                                                                     frame.size());
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
  char stack_buffer[1024];
  rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>> reader(
      &stack_alloc, sizeof stack_buffer);
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

/// RapidJSON output stream appending to a std::string (no second copy).
struct string_output {
  using Ch = char;
  std::string& out;
  void Put(char c) { out.push_back(c); }
  void Flush() {}
};

using json_writer = rapidjson::Writer<string_output>;

inline void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
inline void key(json_writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
inline void write_time(json_writer& w, system_time t) { write_string(w, format_timestamp(t)); }

inline void write(json_writer& w, const user_ref& u) {
  w.StartObject();
  key(w, "user_id"); write_string(w, u.user_id);
  key(w, "name"); write_string(w, u.name);
  w.EndObject();
}

inline void write(json_writer& w, const message& m) {
  w.StartObject();
  key(w, "id"); write_string(w, m.id);
  key(w, "room"); write_string(w, m.room);
  key(w, "seq"); w.Uint64(m.seq);
  key(w, "sender");
  w.StartObject();
  key(w, "type"); write_string(w, to_string(m.sender.type));
  key(w, "id"); write_string(w, m.sender.id);
  key(w, "name"); write_string(w, m.sender.name);
  w.EndObject();
  key(w, "text"); write_string(w, m.text);
  key(w, "created_at"); write_time(w, m.created_at);
  if (!m.client_msg_id.empty()) {
    key(w, "client_msg_id"); write_string(w, m.client_msg_id);
  }
  w.EndObject();
}

inline void write(json_writer& w, const session_state& s) {
  w.StartObject();
  key(w, "status"); write_string(w, to_string(s.status));
  key(w, "claimed_by");
  if (s.claimed_by) write(w, *s.claimed_by); else w.Null();
  key(w, "updated_at"); write_time(w, s.updated_at);
  key(w, "version"); w.Uint64(s.version);
  w.EndObject();
}

inline void write(json_writer& w, const presence_entry& p) {
  w.StartObject();
  key(w, "user_id"); write_string(w, p.user_id);
  key(w, "name"); write_string(w, p.name);
  key(w, "connections"); w.Uint(p.connections);
  w.EndObject();
}

inline void write(json_writer& w, const conversation_summary& c) {
  w.StartObject();
  key(w, "room"); write_string(w, c.room);
  key(w, "conversation_id"); write_string(w, c.conversation_id);
  key(w, "last_message");
  if (c.last_message) write(w, *c.last_message); else w.Null();
  key(w, "last_seq"); w.Uint64(c.last_seq);
  key(w, "session"); write(w, c.session);
  w.EndObject();
}

inline void write(json_writer& w, const std::string& s) { write_string(w, s); }

template <class T>
void write_array(json_writer& w, const std::vector<T>& items) {
  w.StartArray();
  for (const auto& i : items) write(w, i);
  w.EndArray();
}

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
}
inline void write_fields(json_writer& w, const se::new_message& e) {
  key(w, "message"); write(w, e.message);
}
inline void write_fields(json_writer& w, const se::message_sent& e) {
  if (e.client_msg_id) {
    key(w, "client_msg_id"); write_string(w, *e.client_msg_id);
  }
  key(w, "message"); write(w, e.message);
  key(w, "duplicate"); w.Bool(e.duplicate);
}
inline void write_fields(json_writer& w, const se::conversation_activity& e) {
  key(w, "room"); write_string(w, e.room);
  key(w, "conversation_id"); write_string(w, e.conversation_id);
  key(w, "last_message"); write(w, e.last_message);
  key(w, "session"); write(w, e.session);
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
  if (e.request_type) {
    key(w, "request_type"); write_string(w, *e.request_type);
  }
  if (e.field) {
    key(w, "field"); write_string(w, *e.field);
  }
}

}  // namespace detail

/// Encodes a server event as one frame: `{"type","payload","timestamp"[,"ref"]}`.
/// `ref` is written only when given (the echo of a client's valid `ref`).
template <class Event>
std::string encode(const Event& event, system_time timestamp,
                   std::optional<std::string_view> ref = std::nullopt) {
  std::string out;
  out.reserve(256);
  detail::string_output stream{out};
  detail::json_writer w(stream);
  w.StartObject();
  detail::key(w, "type");
  detail::write_string(w, Event::type_name);
  detail::key(w, "payload");
  w.StartObject();
  detail::write_fields(w, event);
  w.EndObject();
  detail::key(w, "timestamp");
  detail::write_time(w, timestamp);
  if (ref) {
    detail::key(w, "ref");
    detail::write_string(w, *ref);
  }
  w.EndObject();
  return out;
}

}  // namespace livechat

#endif
