// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_DETAIL_SERVER_READER_HPP
#define LIVECHAT_PROTOCOL_DETAIL_SERVER_READER_HPP

// The payload half of decoding a server frame (server_codec.hpp): typed
// reads of a parsed RapidJSON value (strings, numbers, timestamps, the
// model's objects), each naming the field it refuses, keeping the first
// error. The mirror of payload_reader.hpp, which reads client frames.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include <livechat/error.hpp>
#include <livechat/protocol/decode_error.hpp>
#include <livechat/protocol/detail/payload_reader.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat::detail {

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

}  // namespace livechat::detail

#endif
