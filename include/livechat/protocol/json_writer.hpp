// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_JSON_WRITER_HPP
#define LIVECHAT_PROTOCOL_JSON_WRITER_HPP

// The codec's JSON encoding of the model (messages, sessions, conversation
// summaries, presence entries) for documents that are not WebSocket
// events, such as the answers of an HTTP API: one encoding, so a message
// reads the same over REST as in `new_message`.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/model.hpp>

namespace livechat {

/// A RapidJSON writer appending to a std::string, the one `encode` uses.
/// Its own members write numbers, booleans, null and open or close
/// objects and arrays (`Uint64`, `Bool`, `Null`, `StartObject`, ...).
using json_writer = detail::json_writer;

/// An object key.
inline void write_json_key(json_writer& w, std::string_view key) { detail::key(w, key); }

/// A string value (any bytes are written as given: pass valid UTF-8).
inline void write_json(json_writer& w, std::string_view s) { detail::write_string(w, s); }

/// A model value, as PROTOCOL.md spells it inside events.
inline void write_json(json_writer& w, const message& m) { detail::write(w, m); }
inline void write_json(json_writer& w, const session_state& s) { detail::write(w, s); }
inline void write_json(json_writer& w, const conversation_summary& c) { detail::write(w, c); }
inline void write_json(json_writer& w, const presence_entry& p) { detail::write(w, p); }
inline void write_json(json_writer& w, const file_attachment& a) { detail::write(w, a); }

/// An array of strings or model values.
template <class T>
void write_json(json_writer& w, const std::vector<T>& items) {
  detail::write_array(w, items);
}

/// One JSON document: `f(json_writer&)` writes it, the string holds it.
template <class F>
std::string json_document(F&& f) {
  std::string out;
  out.reserve(256);
  detail::string_output stream{out};
  json_writer w(stream);
  std::forward<F>(f)(w);
  stream.finish();
  return out;
}

}  // namespace livechat

#endif
