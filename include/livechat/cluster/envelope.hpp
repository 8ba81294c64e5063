// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_ENVELOPE_HPP
#define LIVECHAT_CLUSTER_ENVELOPE_HPP

// What one node publishes for the others: a few header lines, then the
// frame exactly as the clients get it, so a receiving node forwards bytes
// and never encodes again:
//
//   lc1\n<origin node>\n<audience>\n<seq>\n<room>\n<frame bytes>
//
// (a `message` record without frame bytes is a mark: seq exists, read it
// from the store). For every other record <seq> is the room's newest seq
// the publisher knew committed when it emitted the event (0: none): the
// receiver delivers the event only after that message, as one server
// would (room_sequencer.hpp).
// A `customer` record (inbox channel) carries no client frame but the
// profile another node fetched, {"id","name","picture_url"} (null when
// none): each node builds its own watchers' conversation_update.
// Presence is small JSON on its own channel: {"v":1,"node":N,"op":OP,
// "users":[[user_id,name,connections,[room,...]],...]} (the rooms the user
// is a member of on that node; left out when none); OP is `hello` (a node that
// (re)joined asks the others for their shares), `share` (a node's whole
// share: its renewal), `set` (one or more users changed) or `bye`.
// Everything that arrives is checked: a malformed record is dropped, never
// delivered.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include <livechat/cluster/presence_shares.hpp>
#include <livechat/protocol/detail/json_writer.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/server/cluster_link.hpp>

namespace livechat::cluster {

/// Node ids: 1-64 of [A-Za-z0-9_.-] (they name Redis keys and log fields).
inline bool is_valid_node_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  return true;
}

/// A room, inbox or typing event from one node. Views into the record
/// given to `decode_event`: a node drops its own records (they come back
/// from the broker) before copying anything.
struct event_record {
  std::string_view origin;
  server::cluster_audience to = server::cluster_audience::room;
  std::uint64_t seq = 0;
  std::string_view room;
  std::string_view frame;
};

inline std::string encode_event(std::string_view origin, server::cluster_audience to,
                                std::uint64_t seq, std::string_view room, std::string_view frame) {
  std::string out;
  out.reserve(16 + origin.size() + room.size() + frame.size());
  out += "lc1\n";
  out += origin;
  out += '\n';
  out += static_cast<char>('0' + static_cast<int>(to));
  out += '\n';
  out += std::to_string(seq);
  out += '\n';
  out += room;
  out += '\n';
  out += frame;
  return out;
}

/// nullopt for anything that is not a record of this version.
inline std::optional<event_record> decode_event(std::string_view in) noexcept {
  constexpr std::string_view magic = "lc1\n";
  if (in.substr(0, magic.size()) != magic) return std::nullopt;
  in.remove_prefix(magic.size());
  std::string_view fields[4];
  for (auto& f : fields) {
    const std::size_t nl = in.find('\n');
    if (nl == std::string_view::npos || nl > 1024) return std::nullopt;
    f = in.substr(0, nl);
    in.remove_prefix(nl + 1);
  }
  event_record r;
  if (!is_valid_node_id(fields[0]) || fields[1].size() != 1) return std::nullopt;
  const int to = fields[1][0] - '0';
  if (to < 1 || to > 6) return std::nullopt;
  r.to = static_cast<server::cluster_audience>(to);
  if (fields[2].empty() || fields[2].size() > 19) return std::nullopt;
  for (char c : fields[2]) {
    if (c < '0' || c > '9') return std::nullopt;
    r.seq = r.seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  // Only a `message` record may come without a frame: a mark saying the
  // seq exists (its node could not publish it), for the others to fill.
  if (in.empty() && r.to != server::cluster_audience::message) return std::nullopt;
  r.origin = fields[0];
  r.room = fields[3];
  r.frame = in;
  return r;
}

/// The body of a `customer` record.
inline std::string encode_customer(const customer_profile& c) {
  std::string out;
  livechat::detail::string_output os{out};
  livechat::detail::json_writer w(os);
  livechat::detail::write(w, c);
  os.finish();  // the writer's unused room goes (it would travel as NUL bytes)
  return out;
}

/// nullopt unless a profile of a valid conversation id with a name of at
/// most `max_name` bytes and, when present, an https picture url of at
/// most `max_url` bytes (what the server accepts from the messenger).
inline std::optional<customer_profile> decode_customer(std::string_view in, std::size_t max_name = 1024,
                                                       std::size_t max_url = 2048) {
  rapidjson::Document d;
  d.Parse(in.data(), in.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  auto id = d.FindMember("id");
  auto name = d.FindMember("name");
  auto picture = d.FindMember("picture_url");
  if (id == d.MemberEnd() || !id->value.IsString() || name == d.MemberEnd() || !name->value.IsString() ||
      name->value.GetStringLength() > max_name)
    return std::nullopt;
  customer_profile c;
  c.id.assign(id->value.GetString(), id->value.GetStringLength());
  c.name.assign(name->value.GetString(), name->value.GetStringLength());
  if (!is_valid_conversation_id(c.id)) return std::nullopt;
  if (picture != d.MemberEnd() && !picture->value.IsNull()) {
    if (!picture->value.IsString() || picture->value.GetStringLength() > max_url) return std::nullopt;
    c.picture_url.assign(picture->value.GetString(), picture->value.GetStringLength());
    if (c.picture_url.rfind("https://", 0) != 0) return std::nullopt;
  }
  return c;
}

enum class presence_op : std::uint8_t { hello, share, set, bye };

struct presence_record {
  std::string node;
  presence_op op = presence_op::set;
  std::vector<presence_share_entry> users;
};

inline std::string encode_presence(const presence_record& p) {
  std::string out;
  livechat::detail::string_output os{out};
  livechat::detail::json_writer w(os);
  static constexpr const char* ops[] = {"hello", "share", "set", "bye"};
  w.StartObject();
  livechat::detail::key(w, "v");
  w.Uint(1);
  livechat::detail::key(w, "node");
  livechat::detail::write_string(w, p.node);
  livechat::detail::key(w, "op");
  w.String(ops[static_cast<int>(p.op)]);
  livechat::detail::key(w, "users");
  w.StartArray();
  for (const auto& u : p.users) {
    w.StartArray();
    livechat::detail::write_string(w, u.user_id);
    livechat::detail::write_string(w, u.name);
    w.Uint(u.connections);
    if (!u.rooms.empty()) {
      w.StartArray();
      for (const auto& room : u.rooms) livechat::detail::write_string(w, room);
      w.EndArray();
    }
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  os.finish();
  return out;
}

/// nullopt for a malformed record. At most `max_users` entries, each
/// count at most `max_connections` (what one node can hold), each with at
/// most `max_rooms` valid room names.
inline std::optional<presence_record> decode_presence(std::string_view in,
                                                      std::size_t max_users = 1'000'000,
                                                      std::uint32_t max_connections = 1'000'000,
                                                      std::size_t max_rooms = 100'000) {
  rapidjson::Document d;
  d.Parse(in.data(), in.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  auto v = d.FindMember("v");
  auto node = d.FindMember("node");
  auto op = d.FindMember("op");
  auto users = d.FindMember("users");
  if (v == d.MemberEnd() || !v->value.IsUint() || v->value.GetUint() != 1) return std::nullopt;
  if (node == d.MemberEnd() || !node->value.IsString() || op == d.MemberEnd() ||
      !op->value.IsString() || users == d.MemberEnd() || !users->value.IsArray())
    return std::nullopt;
  presence_record r;
  r.node.assign(node->value.GetString(), node->value.GetStringLength());
  if (!is_valid_node_id(r.node)) return std::nullopt;
  const std::string_view o(op->value.GetString(), op->value.GetStringLength());
  if (o == "hello")
    r.op = presence_op::hello;
  else if (o == "share")
    r.op = presence_op::share;
  else if (o == "set")
    r.op = presence_op::set;
  else if (o == "bye")
    r.op = presence_op::bye;
  else
    return std::nullopt;
  if (users->value.Size() > max_users) return std::nullopt;
  for (const auto& u : users->value.GetArray()) {
    if (!u.IsArray() || u.Size() < 3 || u.Size() > 4 || !u[0].IsString() || !u[1].IsString() ||
        !u[2].IsUint() || u[0].GetStringLength() == 0 || u[2].GetUint() > max_connections)
      return std::nullopt;
    presence_share_entry e{std::string(u[0].GetString(), u[0].GetStringLength()),
                           std::string(u[1].GetString(), u[1].GetStringLength()), u[2].GetUint(), {}};
    if (u.Size() == 4) {
      if (!u[3].IsArray() || u[3].Size() > max_rooms) return std::nullopt;
      e.rooms.reserve(u[3].Size());
      for (const auto& room : u[3].GetArray()) {
        if (!room.IsString()) return std::nullopt;
        std::string_view name(room.GetString(), room.GetStringLength());
        if (!is_valid_room(name)) return std::nullopt;
        e.rooms.emplace_back(name);
      }
    }
    r.users.push_back(std::move(e));
  }
  return r;
}

}  // namespace livechat::cluster

#endif
