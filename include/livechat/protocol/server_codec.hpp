// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_SERVER_CODEC_HPP
#define LIVECHAT_PROTOCOL_SERVER_CODEC_HPP

// The client's half of the codec: decoding server → client frames into the
// typed events of events.hpp, and encoding client → server events.
// protocol/codec.hpp is the server's half (decode client frames, encode
// server events); each side needs the mirror image of the other.
//
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

/// Reads server payload fields, recording the first error with its path.
class server_reader {
 public:
  std::optional<decode_error>& error() { return error_; }

  void fail(const std::string& field, std::string message) {
    if (!error_) error_ = decode_error{errc::validation_error, field, std::move(message)};
  }

  static std::string path(std::string_view prefix, const char* name) {
    std::string p(prefix);
    if (!p.empty()) p += '.';
    return p += name;
  }

  const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view prefix,
                                 const char* name, bool required) {
    auto it = obj.FindMember(name);
    if (it == obj.MemberEnd() || (it->value.IsNull() && !required)) {
      if (required) fail(path(prefix, name), std::string(name) + " is required");
      return nullptr;
    }
    return &it->value;
  }

  std::string string(const rapidjson::Value& obj, std::string_view prefix, const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return {};
    if (!v->IsString())
      return fail(path(prefix, name), std::string(name) + " must be a string"), std::string();
    return checked(*v, prefix, name);
  }

  std::optional<std::string> optional_string(const rapidjson::Value& obj, std::string_view prefix,
                                             const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, false);
    if (v == nullptr) return std::nullopt;
    if (!v->IsString())
      return fail(path(prefix, name), std::string(name) + " must be a string"), std::nullopt;
    return checked(*v, prefix, name);
  }

  std::uint64_t uint(const rapidjson::Value& obj, std::string_view prefix, const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return 0;
    if (!v->IsUint64())
      return fail(path(prefix, name), std::string(name) + " must be an integer >= 0"), 0;
    return v->GetUint64();
  }

  /// 0 when absent (a field an older server does not send).
  std::uint64_t optional_uint(const rapidjson::Value& obj, std::string_view prefix,
                              const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, false);
    if (v == nullptr) return 0;
    if (!v->IsUint64())
      return fail(path(prefix, name), std::string(name) + " must be an integer >= 0"), 0;
    return v->GetUint64();
  }

  std::uint32_t uint32(const rapidjson::Value& obj, std::string_view prefix, const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return 0;
    if (!v->IsUint())
      return fail(path(prefix, name), std::string(name) + " must be a 32-bit integer >= 0"), 0;
    return v->GetUint();
  }

  bool boolean(const rapidjson::Value& obj, std::string_view prefix, const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return false;
    if (!v->IsBool())
      return fail(path(prefix, name), std::string(name) + " must be a boolean"), false;
    return v->GetBool();
  }

  system_time time(const rapidjson::Value& obj, std::string_view prefix, const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return {};
    std::optional<system_time> t;
    if (v->IsString()) t = parse_timestamp(view(*v));
    if (!t)
      return fail(path(prefix, name), std::string(name) + " must be a timestamp"), system_time{};
    return *t;
  }

  const rapidjson::Value* object(const rapidjson::Value& obj, std::string_view prefix,
                                 const char* name, bool required = true) {
    const rapidjson::Value* v = member(obj, prefix, name, required);
    if (v == nullptr) return nullptr;
    if (!v->IsObject())
      return fail(path(prefix, name), std::string(name) + " must be an object"), nullptr;
    return v;
  }

  const rapidjson::Value* array(const rapidjson::Value& obj, std::string_view prefix,
                                const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return nullptr;
    if (!v->IsArray())
      return fail(path(prefix, name), std::string(name) + " must be an array"), nullptr;
    return v;
  }

  /// Each element of array `name`, read with `read(element, path)`; the
  /// elements must be objects unless `objects` is false.
  template <class T, class Read>
  std::vector<T> list(const rapidjson::Value& obj, std::string_view prefix, const char* name,
                      Read&& read, bool objects = true) {
    std::vector<T> out;
    const rapidjson::Value* a = array(obj, prefix, name);
    if (a == nullptr) return out;
    out.reserve(a->Size());
    rapidjson::SizeType i = 0;
    for (const auto& e : a->GetArray()) {
      const std::string p = path(prefix, name) + "[" + std::to_string(i++) + "]";
      if (objects && !e.IsObject()) {
        fail(p, "must be an object");
        return out;
      }
      out.push_back(read(e, p));
      if (error_) return out;
    }
    return out;
  }

  user_ref read_user_ref(const rapidjson::Value& v, std::string_view p) {
    return user_ref{string(v, p, "user_id"), string(v, p, "name")};
  }

  message read_message(const rapidjson::Value& v, std::string_view p) {
    message m;
    m.id = string(v, p, "id");
    m.room = string(v, p, "room");
    m.seq = uint(v, p, "seq");
    if (const rapidjson::Value* s = object(v, p, "sender")) {
      const std::string sp = path(p, "sender");
      const std::string type = string(*s, sp, "type");
      if (auto t = parse_sender_type(type))
        m.sender.type = *t;
      else if (!error_)
        fail(path(sp, "type"), "type must be operator, user or system");
      m.sender.id = string(*s, sp, "id");
      m.sender.name = string(*s, sp, "name");
    }
    m.text = string(v, p, "text");
    m.created_at = time(v, p, "created_at");
    m.client_msg_id = optional_string(v, p, "client_msg_id").value_or(std::string());
    read_rich(v, p, m);
    return m;
  }

  /// `kind` and `attachment` (PROTOCOL.md "Rich messages"). A kind this
  /// version does not know reads as text, so its fallback `text` shows.
  void read_rich(const rapidjson::Value& v, std::string_view p, message& m) {
    const std::optional<std::string> kind = optional_string(v, p, "kind");
    if (!kind) return;
    m.kind = parse_message_kind(*kind).value_or(message_kind::text);
    if (m.kind == message_kind::text) return;
    const rapidjson::Value* a = object(v, p, "attachment", has_file(m.kind));
    if (a == nullptr) return;
    const std::string ap = path(p, "attachment");
    if (has_file(m.kind)) {
      m.attachment = read_file_attachment(*a, ap);
    } else if (m.kind == message_kind::sticker) {
      m.attachment = sticker_attachment{string(*a, ap, "package_id"), string(*a, ap, "sticker_id")};
    } else {
      location_attachment l;
      l.title = optional_string(*a, ap, "title").value_or(std::string());
      l.address = optional_string(*a, ap, "address").value_or(std::string());
      l.latitude = number(*a, ap, "latitude");
      l.longitude = number(*a, ap, "longitude");
      m.attachment = std::move(l);
    }
  }

  file_attachment read_file_attachment(const rapidjson::Value& v, std::string_view p) {
    file_attachment a;
    a.id = string(v, p, "id");
    const std::string status = string(v, p, "status");
    if (auto s = parse_attachment_status(status))
      a.status = *s;
    else if (!error_)
      fail(path(p, "status"), "status must be pending, ready or failed");
    a.content_type = string(v, p, "content_type");
    a.size = uint(v, p, "size");
    a.name = string(v, p, "name");
    a.url = optional_string(v, p, "url").value_or(std::string());
    if (member(v, p, "duration_ms", false) != nullptr) a.duration_ms = uint32(v, p, "duration_ms");
    return a;
  }

  double number(const rapidjson::Value& obj, std::string_view prefix, const char* name) {
    const rapidjson::Value* v = member(obj, prefix, name, true);
    if (v == nullptr) return 0;
    if (!v->IsNumber()) return fail(path(prefix, name), std::string(name) + " must be a number"), 0;
    return v->GetDouble();
  }

  session_state read_session(const rapidjson::Value& v, std::string_view p) {
    session_state s;
    const std::string status = string(v, p, "status");
    if (auto st = parse_session_status(status))
      s.status = *st;
    else if (!error_)
      fail(path(p, "status"), "status must be open, claimed or closed");
    if (const rapidjson::Value* by = object(v, p, "claimed_by", false))
      s.claimed_by = read_user_ref(*by, path(p, "claimed_by"));
    s.updated_at = time(v, p, "updated_at");
    s.version = uint(v, p, "version");
    return s;
  }

  presence_entry read_presence(const rapidjson::Value& v, std::string_view p) {
    presence_entry e;
    e.user_id = string(v, p, "user_id");
    e.name = string(v, p, "name");
    e.connections = uint32(v, p, "connections");
    return e;
  }

  /// `customer` of a summary or an event, when present (older servers: absent).
  std::optional<customer_profile> optional_customer(const rapidjson::Value& v, std::string_view p) {
    const rapidjson::Value* o = object(v, p, "customer", false);
    if (o == nullptr) return std::nullopt;
    const std::string cp = path(p, "customer");
    customer_profile c;
    c.id = string(*o, cp, "id");
    c.name = string(*o, cp, "name");
    c.picture_url = optional_string(*o, cp, "picture_url").value_or(std::string());
    return c;
  }

  conversation_summary read_summary(const rapidjson::Value& v, std::string_view p) {
    conversation_summary c;
    c.room = string(v, p, "room");
    c.conversation_id = string(v, p, "conversation_id");
    if (const rapidjson::Value* m = object(v, p, "last_message", false))
      c.last_message = read_message(*m, path(p, "last_message"));
    c.last_seq = uint(v, p, "last_seq");
    if (const rapidjson::Value* s = object(v, p, "session"))
      c.session = read_session(*s, path(p, "session"));
    c.read_seq = optional_uint(v, p, "read_seq");
    c.customer = optional_customer(v, p);
    return c;
  }

  message required_message(const rapidjson::Value& obj, const char* name) {
    const rapidjson::Value* m = object(obj, "", name);
    return m != nullptr ? read_message(*m, name) : message{};
  }

  session_state required_session(const rapidjson::Value& obj) {
    const rapidjson::Value* s = object(obj, "", "session");
    return s != nullptr ? read_session(*s, "session") : session_state{};
  }

  std::vector<presence_entry> presence_list(const rapidjson::Value& obj, const char* name) {
    return list<presence_entry>(obj, "", name,
                                [this](const rapidjson::Value& e, const std::string& p) {
                                  return read_presence(e, p);
                                });
  }

 private:
  /// RapidJSON decodes a lone low-surrogate escape into bytes that are not
  /// UTF-8 (see codec.hpp); such a string is refused rather than passed on.
  std::string checked(const rapidjson::Value& v, std::string_view prefix, const char* name) {
    const std::string_view s = view(v);
    if (has_encoded_surrogate(s)) return fail(path(prefix, name), "not valid UTF-8"), std::string();
    return std::string(s);
  }

  std::optional<decode_error> error_;
};

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
    case server_event_type::operator_joined:
      return se::operator_joined{r.string(p, "", "room"), r.string(p, "", "user_id"),
                                 r.string(p, "", "name")};
    case server_event_type::operator_left:
      return se::operator_left{r.string(p, "", "room"), r.string(p, "", "user_id"),
                               r.string(p, "", "name")};
    case server_event_type::room_left: return se::room_left{r.string(p, "", "room")};
    case server_event_type::session_claimed:
      return se::session_claimed{r.string(p, "", "room"), r.required_session(p)};
    case server_event_type::session_released:
      return se::session_released{r.string(p, "", "room"), r.required_session(p)};
    case server_event_type::session_closed:
      return se::session_closed{r.string(p, "", "room"), r.required_session(p)};
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
  rapidjson::Document doc;
  if (detail::is_ascii(frame))
    doc.Parse<rapidjson::kParseIterativeFlag>(frame.data(), frame.size());
  else
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(frame.data(),
                                                                                     frame.size());
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
  if (e.epoch) {
    key(w, "epoch"); write_string(w, *e.epoch);
  }
}
inline void write_client_fields(json_writer& w, const ce::send_message& e) {
  key(w, "room"); write_string(w, e.room);
  if (!e.text.empty() || !e.attachment_id) {
    key(w, "text"); write_string(w, e.text);
  }
  if (e.client_msg_id) {
    key(w, "client_msg_id"); write_string(w, *e.client_msg_id);
  }
  if (e.attachment_id) {
    key(w, "attachment_id"); write_string(w, *e.attachment_id);
  }
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
