// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_LINE_WEBHOOK_HPP
#define LIVECHAT_PROTOCOL_LINE_WEBHOOK_HPP

// The body of a LINE Messaging API webhook (PROTOCOL.md "HTTP",
// `POST /api/v1/webhook`), read into plain values: which events are text
// messages from a user in a 1:1 chat, which are acknowledged and ignored,
// and which are invalid. A pure function of the bytes, so the parsing can be
// unit-tested and fuzzed without a server; checking the signature and
// storing the messages stay with the caller.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include <livechat/error.hpp>
#include <livechat/protocol/codec.hpp>  // decode_error; detail::trim, has_encoded_surrogate
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>

namespace livechat {

/// One message an end user sent the LINE channel: text, or (PROTOCOL.md
/// "Rich messages") an image, video, audio, file, sticker or location.
struct line_text_message {
  std::string user_id;           ///< `source.userId`: always a valid conversation id
  /// `message.text` as sent (not trimmed, never blank); for other kinds the
  /// fallback: the file name, the location's title, `[sticker]`, `[image]`.
  std::string text;
  std::string message_id;        ///< `message.id`; empty when absent or not a string
  std::string webhook_event_id;  ///< `webhookEventId`, 1-128 bytes (never empty: required)
  std::optional<std::int64_t> timestamp;  ///< `timestamp` (ms since the epoch), when an integer
  bool is_redelivery = false;    ///< `deliveryContext.isRedelivery`
  message_kind kind = message_kind::text;
  /// A file's is pending with id `line-{message.id}` (its content is fetched
  /// later), its name, and LINE's `fileSize` / `duration` when sent.
  message_attachment attachment{};
};

/// What the webhook does with one element of `events`.
enum class line_event_outcome {
  text_message,  ///< a message from a user, of any kind: store it (`message` is set)
  ignored,       ///< not a message from a user (a follow, a group chat, an unknown type): acknowledge
  invalid,       ///< a text message event that cannot be used: skip it (`reason` says why)
};

struct line_webhook_event {
  std::size_t index = 0;  ///< position in the body's `events` array
  line_event_outcome outcome = line_event_outcome::ignored;
  std::string reason;          ///< `invalid` only: for the server's log
  line_text_message message;   ///< `text_message` only
};

struct line_webhook {
  std::string destination;                 ///< the bot's user id; empty when absent
  std::vector<line_webhook_event> events;  ///< one per element of `events`, in order

  std::size_t count(line_event_outcome o) const noexcept {
    std::size_t n = 0;
    for (const auto& e : events) n += e.outcome == o;
    return n;
  }
};

/// The outcome of `parse_line_webhook`: the events, or why the whole body
/// is refused (answer 400 with `error->code`, `error->message` and
/// `error->field`).
struct line_webhook_result {
  std::optional<decode_error> error;
  line_webhook webhook;  ///< valid only without `error`

  bool ok() const noexcept { return !error; }
};

/// Most elements of `events` one body may carry (PROTOCOL.md: 400 beyond).
/// LINE sends a handful per request; each text message is stored and
/// broadcast, so an unbounded list would let one request flood every inbox
/// watcher.
inline constexpr std::size_t max_line_webhook_events = 1000;

namespace detail::line {

inline const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

inline std::optional<std::string_view> string_member(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* v = member(obj, name);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return std::string_view(v->GetString(), v->GetStringLength());
}

inline bool usable_text(std::string_view s) { return !has_encoded_surrogate(s) && !trim(s).empty(); }

/// The optional string `name` of `obj` if usable as text, else empty.
inline std::string text_member(const rapidjson::Value& obj, const char* name) {
  const auto v = string_member(obj, name);
  return v && usable_text(*v) ? std::string(*v) : std::string();
}

/// `m.text` and `m.attachment` from `msg` for `m.kind`; the reason when the
/// message cannot be used, else nullptr.
inline const char* read_content(const rapidjson::Value& msg, line_text_message& m) {
  switch (m.kind) {
    case message_kind::text: {
      const auto text = string_member(msg, "text");
      if (!text) return "message.text is not a string";
      // RapidJSON decodes an escaped lone surrogate into bytes that are not
      // UTF-8 (see codec.hpp); such a text could not be written back out.
      if (has_encoded_surrogate(*text)) return "message.text is not valid UTF-8";
      if (trim(*text).empty()) return "message.text is empty";
      m.text = std::string(*text);
      return nullptr;
    }
    case message_kind::sticker: {
      const auto package = string_member(msg, "packageId");
      const auto sticker = string_member(msg, "stickerId");
      if (!package || !sticker || has_encoded_surrogate(*package) || has_encoded_surrogate(*sticker) ||
          package->size() > 64 || sticker->size() > 64)
        return "message.packageId and stickerId must be strings";
      m.attachment = sticker_attachment{std::string(*package), std::string(*sticker)};
      m.text = "[sticker]";
      return nullptr;
    }
    case message_kind::location: {
      const rapidjson::Value* lat = member(msg, "latitude");
      const rapidjson::Value* lon = member(msg, "longitude");
      if (lat == nullptr || lon == nullptr || !lat->IsNumber() || !lon->IsNumber())
        return "message.latitude and longitude must be numbers";
      location_attachment l{text_member(msg, "title"), text_member(msg, "address"),
                            lat->GetDouble(), lon->GetDouble()};
      if (l.title.size() > 1000) l.title.clear();
      if (l.address.size() > 1000) l.address.clear();
      m.text = !l.title.empty() ? l.title : !l.address.empty() ? l.address : "[location]";
      m.attachment = std::move(l);
      return nullptr;
    }
    default: break;  // a file: its content is fetched by message.id
  }
  const auto id = string_member(msg, "id");
  // LINE's ids are decimal digits; the attachment id must be safe in a url.
  if (!id || id->empty() || id->size() > 40 ||
      id->find_first_not_of("0123456789") != std::string_view::npos)
    return "message.id must be LINE's decimal id to fetch the content";
  file_attachment f;
  f.id = "line-" + std::string(*id);
  f.status = attachment_status::pending;
  f.name = m.kind == message_kind::file ? text_member(msg, "fileName") : std::string();
  if (f.name.size() > 200) f.name.clear();
  if (f.name.empty()) f.name = std::string(to_string(m.kind));
  if (const rapidjson::Value* size = member(msg, "fileSize"); size != nullptr && size->IsUint64())
    f.size = size->GetUint64();
  if (const rapidjson::Value* d = member(msg, "duration"); d != nullptr && d->IsUint())
    f.duration_ms = d->GetUint();
  m.text = m.kind == message_kind::file ? f.name : "[" + f.name + "]";
  m.attachment = std::move(f);
  return nullptr;
}

/// Classifies one element of `events`; fills `out.message` for a usable
/// text message and `out.reason` for an invalid one.
inline void read_event(const rapidjson::Value& ev, line_webhook_event& out) {
  auto invalid = [&](const char* why) {
    out.outcome = line_event_outcome::invalid;
    out.reason = why;
  };
  out.outcome = line_event_outcome::ignored;
  if (!ev.IsObject()) return invalid("not an object");
  if (string_member(ev, "type") != std::string_view("message")) return;
  const rapidjson::Value* msg = member(ev, "message");
  if (msg == nullptr || !msg->IsObject()) return invalid("message is not an object");
  const auto type = string_member(*msg, "type");
  const std::optional<message_kind> kind = type ? parse_message_kind(*type) : std::nullopt;
  if (!kind) return;  // a type this version does not know
  const rapidjson::Value* source = member(ev, "source");
  if (source == nullptr || !source->IsObject()) return invalid("source is not an object");
  // Group and multi-person chats carry the speaker's userId too, but a
  // reply to `conversation:{userId}` goes to that user's 1:1 chat: not
  // what someone writing in a group expects. Only 1:1 chats are served.
  const auto source_type = string_member(*source, "type");
  if (source_type && *source_type != "user") return;
  const auto user = string_member(*source, "userId");
  if (!user || !is_valid_conversation_id(*user))
    return invalid("source.userId is not a valid conversation id");
  line_text_message m;
  m.kind = *kind;
  if (const char* why = read_content(*msg, m)) return invalid(why);
  // The id is what makes a redelivery a duplicate: a message without one
  // would be stored again on every replay, so it is never stored.
  const rapidjson::Value* event_id = member(ev, "webhookEventId");
  if (event_id == nullptr || event_id->IsNull()) return invalid("webhookEventId is missing");
  if (!event_id->IsString() || event_id->GetStringLength() == 0 || event_id->GetStringLength() > 128)
    return invalid("webhookEventId is not a string of 1-128 bytes");
  m.webhook_event_id.assign(event_id->GetString(), event_id->GetStringLength());
  m.user_id = std::string(*user);
  // Informational fields: LINE always sends them, but a body without them
  // (or with odd types) is still a message worth storing.
  if (const auto id = string_member(*msg, "id")) m.message_id = std::string(*id);
  if (const rapidjson::Value* ts = member(ev, "timestamp"); ts != nullptr && ts->IsInt64())
    m.timestamp = ts->GetInt64();
  if (const rapidjson::Value* ctx = member(ev, "deliveryContext"); ctx != nullptr) {
    const rapidjson::Value* r = member(*ctx, "isRedelivery");
    m.is_redelivery = r != nullptr && r->IsBool() && r->GetBool();
  }
  out.outcome = line_event_outcome::text_message;
  out.message = std::move(m);
}

}  // namespace detail::line

/// Reads a LINE webhook body. The body must be one JSON object (valid
/// UTF-8, no raw NUL) with an `events` array, else the result carries
/// `invalid_json` or `validation_error` (`field: "events"`, also for more
/// than `max_line_webhook_events` elements); every element
/// of `events` is then classified on its own, so one bad event never
/// refuses the others. Never throws on bad input; nesting depth costs no
/// native stack (iterative parsing).
///
/// @code
/// auto r = livechat::parse_line_webhook(request_body);
/// if (!r.ok()) return reply(400, r.error->message);
/// for (const auto& e : r.webhook.events)
///   if (e.outcome == livechat::line_event_outcome::text_message) store(e.message);
/// @endcode
inline line_webhook_result parse_line_webhook(std::string_view body) {
  line_webhook_result out;
  // A raw NUL never occurs in JSON text, and RapidJSON's in-memory stream
  // would stop at it and ignore what follows.
  const bool parsable =
      !body.empty() && std::char_traits<char>::find(body.data(), body.size(), '\0') == nullptr;
  rapidjson::Document doc;
  if (parsable)
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.data(),
                                                                                     body.size());
  if (!parsable || doc.HasParseError() || !doc.IsObject()) {
    out.error = decode_error{errc::invalid_json, {}, "the body must be a JSON object"};
    return out;
  }
  const rapidjson::Value* events = detail::line::member(doc, "events");
  if (events == nullptr || !events->IsArray()) {
    out.error = decode_error{errc::validation_error, "events", "events must be an array"};
    return out;
  }
  if (events->Size() > max_line_webhook_events) {
    out.error = decode_error{errc::validation_error, "events",
                             "events must not hold more than " +
                                 std::to_string(max_line_webhook_events) + " elements"};
    return out;
  }
  if (const auto destination = detail::line::string_member(doc, "destination"))
    out.webhook.destination = std::string(*destination);
  out.webhook.events.reserve(events->Size());
  std::size_t index = 0;
  for (const auto& ev : events->GetArray()) {
    line_webhook_event e;
    e.index = index++;
    detail::line::read_event(ev, e);
    out.webhook.events.push_back(std::move(e));
  }
  return out;
}

}  // namespace livechat

#endif
