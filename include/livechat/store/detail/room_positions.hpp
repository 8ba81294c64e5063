// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_ROOM_POSITIONS_HPP
#define LIVECHAT_STORE_DETAIL_ROOM_POSITIONS_HPP

// What the SQL stores share for `read_positions`: the rooms go to the
// database as one JSON array parameter (one prepared statement whatever
// the count), and the rows that come back are put in the caller's order.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace livechat::detail {

/// `["room",...]`. Valid room names hold only [A-Za-z0-9_.@:-] after their
/// prefix (protocol/room_name.hpp), so no character needs escaping.
inline std::string room_list_json(const std::vector<std::string>& rooms) {
  std::size_t size = 2;
  for (const auto& r : rooms) size += r.size() + 3;
  std::string out;
  out.reserve(size);
  out += '[';
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    if (i != 0) out += ',';
    out += '"';
    out += rooms[i];
    out += '"';
  }
  out += ']';
  return out;
}

/// Collects the (room, seq) rows of a query, then writes each room's seq
/// at every index the room has in `rooms` (0 stays where no row came).
class room_positions {
 public:
  void add(std::string room, std::uint64_t seq) { found_[std::move(room)] = seq; }

  void fill(const std::vector<std::string>& rooms, std::vector<std::uint64_t>& out) const {
    for (std::size_t i = 0; i < rooms.size() && i < out.size(); ++i) {
      auto it = found_.find(rooms[i]);
      if (it != found_.end()) out[i] = it->second;
    }
  }

 private:
  std::unordered_map<std::string, std::uint64_t> found_;
};

}  // namespace livechat::detail

#endif
