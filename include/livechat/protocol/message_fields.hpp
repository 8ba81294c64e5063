// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_MESSAGE_FIELDS_HPP
#define LIVECHAT_PROTOCOL_MESSAGE_FIELDS_HPP

// The fields of a message posted outside a WebSocket (an operator's REST
// post) read with the rules of `send_message`'s payload, by the codec's
// own reader: a text refused on one path is refused on the other, with
// the same field and message.

#include <optional>
#include <string>
#include <utility>

#include <rapidjson/document.h>

#include <livechat/error.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/limits.hpp>

namespace livechat {

struct message_fields {
  std::string text;                          ///< trimmed, 1..max_text_length code points
  std::optional<std::string> client_msg_id;  ///< set when given
};

struct message_fields_result {
  /// `invalid_json` when the value is not an object or a string in it is
  /// not UTF-8 (an escaped lone surrogate); otherwise `validation_error`
  /// naming the first field refused. Empty when the fields are valid.
  std::optional<decode_error> error;
  message_fields fields;  ///< meaningful only without an error

  bool ok() const noexcept { return !error; }
};

/// Reads `text` and `client_msg_id` from `object` (parsed with encoding
/// validation) as `send_message` does; other members are ignored.
inline message_fields_result read_message_fields(const rapidjson::Value& object,
                                                 const codec_limits& limits = {}) {
  message_fields_result out;
  if (!object.IsObject()) {
    out.error = decode_error{errc::invalid_json, {}, "the message must be a JSON object"};
    return out;
  }
  detail::payload_reader reader(&object, limits);
  out.fields.text = reader.text();
  out.fields.client_msg_id = reader.optional_string("client_msg_id", limits.max_client_msg_id_length);
  // As decode_client_frame: undecodable text outranks a field's error.
  if (reader.bad_encoding())
    out.error = decode_error{errc::invalid_json, {}, "a string is not valid UTF-8"};
  else
    out.error = std::move(reader.error());
  return out;
}

}  // namespace livechat

#endif
