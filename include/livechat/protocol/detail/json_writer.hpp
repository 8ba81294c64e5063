// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_DETAIL_JSON_WRITER_HPP
#define LIVECHAT_PROTOCOL_DETAIL_JSON_WRITER_HPP

// The encoding half's building blocks (codec.hpp): a RapidJSON writer that
// appends to one std::string, and the writers of the model types every
// server event is made of (message, session, presence, summary).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <rapidjson/writer.h>

#include <livechat/protocol/model.hpp>
#include <livechat/protocol/timestamp.hpp>

namespace livechat::detail {

/// RapidJSON output stream appending to a std::string (no second copy).
/// RapidJSON reserves room before each value (PutReserve) and then writes
/// it byte by byte (PutUnsafe): here that is a store through a pointer, not
/// push_back's capacity check and terminator per byte (an out-of-line call
/// in libstdc++). While writing, the string carries unused room at its
/// end: finish() cuts it to what was written, and nothing may read the
/// string before. Growing zero-fills the new room first (C++17 has no
/// resize without initialising); the encoders reserve what a frame needs
/// up front, so a frame pays that once, a memset of its own size.
class string_output {
 public:
  using Ch = char;
  explicit string_output(std::string& out) : out_(out), data_(out.data()), used_(out.size()) {}
  void Put(char c) {
    reserve(1);
    data_[used_++] = c;
  }
  void Flush() {}
  void reserve(std::size_t n) {
    if (out_.size() - used_ < n) grow(n);
  }
  void put_unsafe(char c) noexcept { data_[used_++] = c; }
  void append(std::string_view piece) {
    reserve(piece.size());
    std::memcpy(data_ + used_, piece.data(), piece.size());
    used_ += piece.size();
  }
  /// The string as written; call once, when done.
  std::string& finish() {
    out_.resize(used_);
    return out_;
  }

 private:
  void grow(std::size_t n) {
    out_.resize(std::max({used_ + n, out_.size() * 2, out_.capacity()}));
    data_ = out_.data();
  }
  std::string& out_;
  char* data_;
  std::size_t used_;
};

// Found by argument-dependent lookup from RapidJSON's Writer, and chosen
// over its generic templates (which call Put).
inline void PutReserve(string_output& s, std::size_t n) { s.reserve(n); }
inline void PutUnsafe(string_output& s, char c) noexcept { s.put_unsafe(c); }

/// The writer's nesting stack, in a buffer of its own: RapidJSON's Writer
/// otherwise allocates an allocator object and the stack's first block
/// from the heap (two blocks per frame encoded). Room for RapidJSON's
/// default depth (32 levels of 16 bytes); deeper documents take a heap
/// chunk from the pool like any other.
struct writer_stack {
  static constexpr std::size_t bytes = 32 * 16 + 64;
  alignas(std::max_align_t) char buffer[bytes];
  rapidjson::MemoryPoolAllocator<> pool{buffer, bytes};
};

using json_writer_base = rapidjson::Writer<string_output, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                           rapidjson::MemoryPoolAllocator<>>;

/// RapidJSON's Writer over string_output, plus raw_value(): JSON written
/// before (a message encoded once for two frames, a presence entry put
/// together in one piece) copied with one memcpy, where Writer::RawValue
/// copies byte by byte; and string_value(): a string escaped as Writer's
/// String escapes it, the same bytes, copied in runs between escapes.
/// Neither copyable nor movable (the stack points into it).
class json_writer : private writer_stack, public json_writer_base {
 public:
  explicit json_writer(string_output& os) : writer_stack(), json_writer_base(os, &pool) {}
  void raw_value(std::string_view json, rapidjson::Type type) {
    Prefix(type);
    os_->append(json);
    (void)EndValue(true);
  }
  void string_value(std::string_view s) {
    Prefix(rapidjson::kStringType);
    append_escaped(*os_, s);
    (void)EndValue(true);
  }

  /// What RapidJSON's Writer writes for the byte `c` inside a string
  /// (UTF-8 in and out, no validation): 0 when the byte is copied as it
  /// is, else the letter after the backslash ('u' for `\u00XX`).
  static char escape_of(unsigned char c) noexcept {
    if (c >= 0x20) return c == '"' ? '"' : c == '\\' ? '\\' : '\0';
    switch (c) {
      case 0x08: return 'b';
      case 0x09: return 't';
      case 0x0A: return 'n';
      case 0x0C: return 'f';
      case 0x0D: return 'r';
      default: return 'u';
    }
  }

  /// True when no byte of `s` needs an escape (see escape_of): eight
  /// bytes at a time, as most strings (ids, names, most texts) have none.
  static bool plain(std::string_view s) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    constexpr std::uint64_t quotes = ones * '"', backslashes = ones * '\\';
    const char* p = s.data();
    std::size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      // A byte below 0x20 (the high bit test keeps bytes >= 0x80 out),
      // or one equal to '"' or '\\' (a zero byte after the xor).
      const std::uint64_t q = w ^ quotes, b = w ^ backslashes;
      if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs) return false;
    }
    for (; n > 0; ++p, --n)
      if (escape_of(static_cast<unsigned char>(*p)) != '\0') return false;
    return true;
  }

  /// `s` quoted and escaped, as Writer::String writes it (see escape_of),
  /// into `os` with one reservation of the exact size.
  static void append_escaped(string_output& os, std::string_view s) {
    if (plain(s)) {
      os.reserve(s.size() + 2);
      os.put_unsafe('"');
      os.append(s);
      os.put_unsafe('"');
      return;
    }
    std::size_t extra = 0;
    for (const char c : s) {
      const char e = escape_of(static_cast<unsigned char>(c));
      if (e != '\0') extra += e == 'u' ? 5 : 1;
    }
    os.reserve(s.size() + extra + 2);
    os.put_unsafe('"');
    static constexpr char hex[] = "0123456789ABCDEF";
    std::size_t run = 0;  // start of the bytes not copied yet
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      const char e = escape_of(c);
      if (e == '\0') continue;
      os.append(s.substr(run, i - run));
      os.put_unsafe('\\');
      os.put_unsafe(e);
      if (e == 'u') {
        os.put_unsafe('0');
        os.put_unsafe('0');
        os.put_unsafe(hex[c >> 4]);
        os.put_unsafe(hex[c & 0xF]);
      }
      run = i + 1;
    }
    os.append(s.substr(run));
    os.put_unsafe('"');
  }
};

inline void write_string(json_writer& w, std::string_view s) { w.string_value(s); }
/// A key is written as a string (Writer::Key is Writer::String).
inline void key(json_writer& w, std::string_view k) { w.string_value(k); }
inline void write_time(json_writer& w, system_time t) {
  char text[timestamp_length];
  format_timestamp_to(t, text);
  write_string(w, std::string_view(text, timestamp_length));
}
/// `"name": value` when `v` holds one, nothing otherwise: PROTOCOL.md
/// leaves an absent optional string out rather than writing null.
inline void write_optional(json_writer& w, std::string_view name,
                           const std::optional<std::string>& v) {
  if (v) {
    key(w, name); write_string(w, *v);
  }
}

inline void write(json_writer& w, const user_ref& u) {
  w.StartObject();
  key(w, "user_id"); write_string(w, u.user_id);
  key(w, "name"); write_string(w, u.name);
  w.EndObject();
}

/// `attachment` as PROTOCOL.md "Rich messages" spells it for each kind.
inline void write(json_writer& w, const file_attachment& a) {
  w.StartObject();
  key(w, "id"); write_string(w, a.id);
  key(w, "status"); write_string(w, to_string(a.status));
  key(w, "content_type"); write_string(w, a.content_type);
  key(w, "size"); w.Uint64(a.size);
  key(w, "name"); write_string(w, a.name);
  if (!a.url.empty()) {
    key(w, "url"); write_string(w, a.url);
  }
  if (a.duration_ms) {
    key(w, "duration_ms"); w.Uint(*a.duration_ms);
  }
  w.EndObject();
}
inline void write(json_writer& w, const sticker_attachment& a) {
  w.StartObject();
  key(w, "package_id"); write_string(w, a.package_id);
  key(w, "sticker_id"); write_string(w, a.sticker_id);
  w.EndObject();
}
inline void write(json_writer& w, const location_attachment& a) {
  w.StartObject();
  key(w, "title"); write_string(w, a.title);
  key(w, "address"); write_string(w, a.address);
  // JSON has no NaN or infinity: RapidJSON would write nothing and break the frame.
  key(w, "latitude"); w.Double(std::isfinite(a.latitude) ? a.latitude : 0.0);
  key(w, "longitude"); w.Double(std::isfinite(a.longitude) ? a.longitude : 0.0);
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
  // A text message keeps its v1 shape: no kind, no attachment.
  if (m.kind != message_kind::text) {
    key(w, "kind"); write_string(w, to_string(m.kind));
  }
  if (m.attachment.index() != 0) {
    key(w, "attachment");
    std::visit([&w](const auto& a) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, std::monostate>) write(w, a);
    }, m.attachment);
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

/// True when RapidJSON's Writer copies `s` between the quotes unchanged:
/// no control character, quote or backslash to escape (it passes UTF-8
/// through as it is).
inline bool needs_no_escape(std::string_view s) noexcept {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '"' || c == '\\') return false;
  }
  return true;
}

inline void write(json_writer& w, const presence_entry& p) {
  // Every auth answers with this object for each user online (10,000 of
  // them make a 700 KB presence_update): when nothing needs escaping it is
  // put together with memcpy and handed to the writer whole, the same
  // bytes as the general path below.
  constexpr std::size_t fast_max = 320;
  constexpr std::string_view head = "{\"user_id\":\"", middle = "\",\"name\":\"",
                             tail = "\",\"connections\":";
  if (p.user_id.size() + p.name.size() <= fast_max - 64 && needs_no_escape(p.user_id) &&
      needs_no_escape(p.name)) {
    char buf[fast_max];
    std::size_t n = 0;
    auto put = [&](std::string_view s) {
      std::memcpy(buf + n, s.data(), s.size());
      n += s.size();
    };
    put(head);
    put(p.user_id);
    put(middle);
    put(p.name);
    put(tail);
    char digits[16];
    const char* end = std::to_chars(digits, digits + sizeof digits, p.connections).ptr;
    put(std::string_view(digits, static_cast<std::size_t>(end - digits)));
    put("}");
    w.raw_value(std::string_view(buf, n), rapidjson::kObjectType);
    return;
  }
  w.StartObject();
  key(w, "user_id"); write_string(w, p.user_id);
  key(w, "name"); write_string(w, p.name);
  key(w, "connections"); w.Uint(p.connections);
  w.EndObject();
}

inline void write(json_writer& w, const customer_profile& c) {
  w.StartObject();
  key(w, "id"); write_string(w, c.id);
  key(w, "name"); write_string(w, c.name);
  key(w, "picture_url");
  if (c.picture_url.empty()) w.Null(); else write_string(w, c.picture_url);
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
  key(w, "read_seq"); w.Uint64(c.read_seq);
  if (c.customer) {
    key(w, "customer"); write(w, *c.customer);
  }
  w.EndObject();
}

inline void write(json_writer& w, const std::string& s) { write_string(w, s); }

template <class T>
void write_array(json_writer& w, const std::vector<T>& items) {
  w.StartArray();
  for (const auto& i : items) write(w, i);
  w.EndArray();
}

/// One frame: `{"type","payload"{fields}[,"timestamp"][,"ref"]}`, as the
/// server's events (with a timestamp) and the client's (without) share it.
/// `write_payload(w)` writes the payload's members.
template <class WritePayload>
std::string write_frame(std::string_view type, WritePayload&& write_payload,
                        const system_time* timestamp, const std::optional<std::string_view>& ref,
                        std::size_t reserve) {
  std::string out;
  out.reserve(reserve);
  string_output stream{out};
  json_writer w(stream);
  w.StartObject();
  key(w, "type");
  write_string(w, type);
  key(w, "payload");
  w.StartObject();
  write_payload(w);
  w.EndObject();
  if (timestamp != nullptr) {
    key(w, "timestamp");
    write_time(w, *timestamp);
  }
  if (ref) {
    key(w, "ref");
    write_string(w, *ref);
  }
  w.EndObject();
  stream.finish();
  return out;
}

}  // namespace livechat::detail

#endif
