// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_DETAIL_PAYLOAD_READER_HPP
#define LIVECHAT_PROTOCOL_DETAIL_PAYLOAD_READER_HPP

// The payload half of decoding a client frame (codec.hpp): reading each
// event type's fields from a parsed RapidJSON value with PROTOCOL.md's
// limits, keeping the first error, plus the small string helpers the
// decoder shares with it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include <livechat/detail/utf8.hpp>  // utf8_length
#include <livechat/error.hpp>
#include <livechat/protocol/decode_error.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/limits.hpp>
#include <livechat/protocol/room_name.hpp>

namespace livechat::detail {

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

/// Attachment ids are the server's own (hex); anything longer is not one.
inline constexpr std::size_t max_attachment_id_length = 64;

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
      e.attachment_id = r.optional_string("attachment_id", max_attachment_id_length);
      // With an attachment the text is optional (the file name stands in).
      const rapidjson::Value* t = r.find("text");
      if (!e.attachment_id || (t != nullptr && !t->IsNull())) e.text = r.text();
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

}  // namespace livechat::detail

#endif
