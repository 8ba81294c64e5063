// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Fuzz target: the client frame decoder (livechat/protocol/codec.hpp), i.e.
// every byte a WebSocket client can send before anything else looks at it.
//
// Beyond "no crash, no leak, no UB, no exception", it checks:
// - the result is consistent: an error or an event, never both, with a
//   PROTOCOL.md code (and a `field` for validation errors);
// - a decoded event round-trips: written back as a frame (by a writer in this
//   file, independent of the decoder) it decodes to the same type, `ref` and
//   fields;
// - whatever the server would echo from the frame (`type` as `request_type`,
//   `field`, `ref`, a message's text and client_msg_id) encodes to a frame
//   that is valid UTF-8 JSON, so the reply cannot be refused by a client.
// With the C++ client's decoder for server frames available
// (livechat/protocol/server_codec.hpp), the input is fed to it as well.

#include <livechat/protocol/codec.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include <rapidjson/document.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fuzz_check.hpp"

#if __has_include(<livechat/protocol/server_codec.hpp>)
#include <livechat/protocol/server_codec.hpp>
#define LIVECHAT_FUZZ_SERVER_CODEC 1
#endif

namespace {

namespace ce = livechat::client_events;
namespace se = livechat::server_events;
using livechat::errc;

// ------------------------------------------------------------ frame writer

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void fields(writer& w, const ce::auth& e) { put(w, "token", e.token); }
void fields(writer& w, const ce::join_room& e) {
  put(w, "room", e.room);
  if (e.since_seq) {
    w.Key("since_seq");
    w.Uint64(*e.since_seq);
  }
  if (e.epoch) put(w, "epoch", *e.epoch);
}
void fields(writer& w, const ce::send_message& e) {
  put(w, "room", e.room);
  // With an attachment an empty text is left out (the file name stands in).
  if (!e.text.empty() || !e.attachment_id) put(w, "text", e.text);
  if (e.client_msg_id) put(w, "client_msg_id", *e.client_msg_id);
  if (e.attachment_id) put(w, "attachment_id", *e.attachment_id);
}
void fields(writer& w, const ce::mark_read& e) {
  put(w, "room", e.room);
  w.Key("seq");
  w.Uint64(e.seq);
}
void fields(writer&, const ce::watch_inbox&) {}
void fields(writer&, const ce::unwatch_inbox&) {}
void fields(writer&, const ce::ping&) {}
template <class E>
auto fields(writer& w, const E& e) -> decltype(e.room, void()) {
  put(w, "room", e.room);  // the events whose only field is `room`
}

/// `event` as a client frame; `payload` is left out when empty and
/// `with_empty_payload` is false (both spellings are valid).
std::string write_frame(const livechat::client_event& event, const std::optional<std::string>& ref,
                        bool with_empty_payload) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        put(w, "type", E::type_name);
        constexpr bool empty = std::is_same_v<E, ce::watch_inbox> ||
                               std::is_same_v<E, ce::unwatch_inbox> || std::is_same_v<E, ce::ping>;
        if (!empty || with_empty_payload) {
          w.Key("payload");
          w.StartObject();
          fields(w, e);
          w.EndObject();
        }
      },
      event);
  if (ref) put(w, "ref", *ref);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// ------------------------------------------------------------ comparison

auto tie(const ce::auth& e) { return std::tie(e.token); }
auto tie(const ce::join_room& e) { return std::tie(e.room, e.since_seq, e.epoch); }
auto tie(const ce::send_message& e) {
  return std::tie(e.room, e.text, e.client_msg_id, e.attachment_id);
}
auto tie(const ce::mark_read& e) { return std::tie(e.room, e.seq); }
auto tie(const ce::watch_inbox&) { return std::tuple<>(); }
auto tie(const ce::unwatch_inbox&) { return std::tuple<>(); }
auto tie(const ce::ping&) { return std::tuple<>(); }
template <class E>
auto tie(const E& e) -> decltype(std::tie(e.room)) {
  return std::tie(e.room);
}

bool same_event(const livechat::client_event& a, const livechat::client_event& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using E = std::decay_t<decltype(x)>;
        return tie(x) == tie(std::get<E>(b));
      },
      a);
}

// ------------------------------------------------------------ invariants

template <class E, class = void>
struct has_room : std::false_type {};
template <class E>
struct has_room<E, std::void_t<decltype(std::declval<const E&>().room)>> : std::true_type {};

bool is_wire_code(errc e) { return e >= errc::invalid_json && e <= errc::internal; }

void check_error(const livechat::decode_error& e) {
  LIVECHAT_FUZZ_CHECK(is_wire_code(e.code));
  LIVECHAT_FUZZ_CHECK(!e.message.empty());
  LIVECHAT_FUZZ_CHECK((e.code == errc::validation_error) == !e.field.empty());
}

/// The frame must be one JSON object in valid UTF-8 (what a browser's
/// WebSocket and JSON.parse accept).
void check_encoded(const std::string& frame) {
  LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(frame));
  LIVECHAT_FUZZ_CHECK(!frame.empty() && frame.front() == '{');
  LIVECHAT_FUZZ_CHECK(frame.find('\0') == std::string::npos);  // the writer escapes NUL
  // SAX parse: validates without building (and allocating) a DOM.
  rapidjson::BaseReaderHandler<> ignore;
  rapidjson::Reader reader;
  rapidjson::StringStream in(frame.c_str());
  LIVECHAT_FUZZ_CHECK(!reader.Parse<rapidjson::kParseValidateEncodingFlag>(in, ignore).IsError());
}

/// The hub's reply to a refused frame: `error` echoing `type` (except for
/// invalid_json), `field` and a valid `ref`.
void check_error_reply(const livechat::decoded_frame& d, const livechat::decode_error& e) {
  se::error reply;
  reply.code = e.code;
  reply.message = e.message;
  if (e.code != errc::invalid_json && (!d.type.empty() || d.kind)) reply.request_type = d.type;
  if (!e.field.empty()) reply.field = e.field;
  check_encoded(livechat::encode(reply, livechat::system_time{}, d.ref));
}

void check_frame(std::string_view frame, const livechat::codec_limits& limits) {
  const livechat::decoded_frame d = livechat::decode_client_frame(frame, limits);
  if (d.ref) {
    LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(*d.ref));
    LIVECHAT_FUZZ_CHECK(livechat::detail::utf8_length(*d.ref) <= limits.max_ref_length);
  }
  if (d.envelope_error) {
    check_error(*d.envelope_error);
    LIVECHAT_FUZZ_CHECK(!d.payload_error);
    check_error_reply(d, *d.envelope_error);
    return;
  }
  // Past the envelope the type is known.
  LIVECHAT_FUZZ_CHECK(d.kind.has_value());
  LIVECHAT_FUZZ_CHECK(d.event.index() == static_cast<std::size_t>(*d.kind));
  LIVECHAT_FUZZ_CHECK(livechat::parse_client_event_type(d.type) == d.kind);
  if (d.payload_error) {
    check_error(*d.payload_error);
    check_error_reply(d, *d.payload_error);
    return;
  }
  LIVECHAT_FUZZ_CHECK(d.ok());

  // Every string of a decoded event is valid UTF-8 and within its limits.
  if (const auto* m = std::get_if<ce::send_message>(&d.event)) {
    LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(m->text));
    const std::size_t n = livechat::detail::utf8_length(m->text);
    LIVECHAT_FUZZ_CHECK(n >= (m->attachment_id ? 0u : 1u) && n <= limits.max_text_length);
    if (m->attachment_id) LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(*m->attachment_id));
    LIVECHAT_FUZZ_CHECK(livechat::detail::trim(m->text) == m->text);
    if (m->client_msg_id) LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(*m->client_msg_id));
    // What the hub stores and broadcasts from it.
    se::new_message out;
    out.message.id = "m1";
    out.message.room = m->room;
    out.message.seq = 1;
    out.message.text = m->text;
    out.message.client_msg_id = m->client_msg_id.value_or(std::string());
    check_encoded(livechat::encode(out, livechat::system_time{}, d.ref));
  } else if (const auto* a = std::get_if<ce::auth>(&d.event)) {
    LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(a->token));
  } else if (const auto* j = std::get_if<ce::join_room>(&d.event)) {
    if (j->epoch) LIVECHAT_FUZZ_CHECK(livechat::detail::is_valid_utf8(*j->epoch));
  }
  std::visit(
      [](const auto& e) {
        if constexpr (has_room<std::decay_t<decltype(e)>>::value)
          LIVECHAT_FUZZ_CHECK(livechat::is_valid_room(e.room));
      },
      d.event);

  // Round trip, with and without an empty payload object.
  for (bool with_empty_payload : {false, true}) {
    const std::string again = write_frame(d.event, d.ref, with_empty_payload);
    const livechat::decoded_frame d2 = livechat::decode_client_frame(again, limits);
    LIVECHAT_FUZZ_CHECK(d2.ok());
    LIVECHAT_FUZZ_CHECK(d2.type == d.type);
    LIVECHAT_FUZZ_CHECK(d2.kind == d.kind);
    LIVECHAT_FUZZ_CHECK(d2.ref == d.ref);
    LIVECHAT_FUZZ_CHECK(same_event(d.event, d2.event));
  }
#ifdef LIVECHAT_FUZZ_SERVER_CODEC
  // The client library's own encoder must agree with the decoder too.
  const livechat::decoded_frame d3 =
      livechat::decode_client_frame(livechat::encode_client_event(d.event, d.ref), limits);
  LIVECHAT_FUZZ_CHECK(d3.ok());
  LIVECHAT_FUZZ_CHECK(d3.ref == d.ref);
  LIVECHAT_FUZZ_CHECK(same_event(d.event, d3.event));
#endif
}

#ifdef LIVECHAT_FUZZ_SERVER_CODEC
/// The same bytes as a server frame, as the C++ client reads them: a
/// consistent result, and a decoded event that the server's encoder writes
/// back in a form the client decodes to the same event (compared through
/// the canonical encoding, which covers every field).
void check_server_frame(std::string_view frame) {
  const livechat::decoded_server_frame d = livechat::decode_server_frame(frame);
  if (!d.ok()) {
    const auto code = d.error->code;
    LIVECHAT_FUZZ_CHECK(code == errc::invalid_json || code == errc::validation_error ||
                        code == errc::unknown_type);
    LIVECHAT_FUZZ_CHECK((code == errc::validation_error) == !d.error->field.empty());
    return;
  }
  LIVECHAT_FUZZ_CHECK(d.kind.has_value());
  LIVECHAT_FUZZ_CHECK(d.event.index() == static_cast<std::size_t>(*d.kind));
  const livechat::system_time ts{std::chrono::milliseconds(1767225600123)};
  auto encode_any = [&](const livechat::server_event& ev) {
    return std::visit([&](const auto& e) { return livechat::encode(e, ts, d.ref); }, ev);
  };
  const std::string once = encode_any(d.event);
  check_encoded(once);
  const livechat::decoded_server_frame d2 = livechat::decode_server_frame(once);
  LIVECHAT_FUZZ_CHECK(d2.ok());
  LIVECHAT_FUZZ_CHECK(d2.kind == d.kind);
  LIVECHAT_FUZZ_CHECK(d2.ref == d.ref);
  LIVECHAT_FUZZ_CHECK(d2.timestamp == ts);
  LIVECHAT_FUZZ_CHECK(encode_any(d2.event) == once);
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  check_frame(frame, livechat::codec_limits{});
  // Tight limits reach the length checks with short inputs.
  livechat::codec_limits tight;
  tight.max_text_length = 3;
  tight.max_ref_length = 2;
  tight.max_client_msg_id_length = 2;
  check_frame(frame, tight);
#ifdef LIVECHAT_FUZZ_SERVER_CODEC
  check_server_frame(frame);
#endif
  return 0;
}
