// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PROTOCOL_ROOM_NAME_HPP
#define LIVECHAT_PROTOCOL_ROOM_NAME_HPP

#include <optional>
#include <string>
#include <string_view>

namespace livechat {

/// Rooms are `conversation:{conversation_id}`.
inline constexpr std::string_view room_prefix = "conversation:";
inline constexpr std::size_t max_conversation_id_length = 128;

/// True when `id` matches `[A-Za-z0-9_.@:-]{1,128}`.
inline bool is_valid_conversation_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_conversation_id_length) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '@' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// The conversation id inside a valid room name, else std::nullopt.
inline std::optional<std::string_view> conversation_id_of(std::string_view room) noexcept {
  if (room.substr(0, room_prefix.size()) != room_prefix) return std::nullopt;
  std::string_view id = room.substr(room_prefix.size());
  if (!is_valid_conversation_id(id)) return std::nullopt;
  return id;
}

inline bool is_valid_room(std::string_view room) noexcept {
  return conversation_id_of(room).has_value();
}

inline std::string room_of(std::string_view conversation_id) {
  std::string r;
  r.reserve(room_prefix.size() + conversation_id.size());
  r.append(room_prefix).append(conversation_id);
  return r;
}

}  // namespace livechat

#endif
