// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_ROOMS_ROOM_REGISTRY_HPP
#define LIVECHAT_ROOMS_ROOM_REGISTRY_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <livechat/error.hpp>

namespace livechat {

/// Rooms ↔ connections, with many connections per user.
///
/// Members of a room sit in a contiguous vector (broadcast walks it with no
/// hashing); each handle remembers its index in every room it joined, so
/// join and leave are O(1) (swap-and-pop) and closing a connection costs
/// O(rooms of that connection). A per-room tally of users answers "first /
/// last connection of this user in the room" for operator_joined/left.
///
/// Semantics (uWS TopicTree's): join is idempotent and reports "already";
/// leave reports whether it was the user's last connection; empty rooms
/// are reclaimed. Changing membership while iterating `members()` is a
/// precondition violation.
///
/// @tparam Handle  copyable, hashable, equality-comparable connection handle
/// @par Thread Safety
/// None; owned by one thread (the hub's).
template <class Handle, class Hash = std::hash<Handle>>
class room_registry {
 public:
  struct join_outcome {
    bool joined = false;         ///< false: the handle was already a member
    bool first_of_user = false;  ///< the user had no other connection in the room
  };
  struct leave_outcome {
    bool left = false;          ///< false: the handle was not a member
    bool last_of_user = false;  ///< no connection of this user remains in the room
  };
  struct user_tally {
    std::string name;
    std::uint32_t connections = 0;
  };
  using user_map = std::unordered_map<std::string, user_tally>;

  join_outcome join(const std::string& room, const Handle& h, const std::string& user_id,
                    const std::string& user_name) {
    auto& mine = memberships_[h];
    if (find_membership(mine, room) != mine.end()) return {false, false};
    room_entry& r = *rooms_.try_emplace(room).first;
    r.second.members.push_back(h);
    mine.push_back({&r, r.second.members.size() - 1});
    user_tally& t = r.second.users[user_id];
    t.name = user_name;
    return {true, ++t.connections == 1};
  }

  leave_outcome leave(const std::string& room, const Handle& h, const std::string& user_id) {
    auto m = memberships_.find(h);
    if (m == memberships_.end()) return {};
    auto& mine = m->second;
    auto it = find_membership(mine, room);
    if (it == mine.end()) return {};
    const membership left = *it;
    *it = mine.back();
    mine.pop_back();
    if (mine.empty()) memberships_.erase(m);
    return remove_from_room(*left.room, left.pos, user_id);
  }

  /// Leaves every room `h` is in; returns each room with its leave outcome.
  std::vector<std::pair<std::string, leave_outcome>> leave_all(const Handle& h,
                                                               const std::string& user_id) {
    std::vector<std::pair<std::string, leave_outcome>> out;
    auto m = memberships_.find(h);
    if (m == memberships_.end()) return out;
    auto rooms = std::move(m->second);
    memberships_.erase(m);
    out.reserve(rooms.size());
    for (const membership& left : rooms) {
      std::string name = left.room->first;  // before the room may be reclaimed
      const leave_outcome o = remove_from_room(*left.room, left.pos, user_id);
      out.emplace_back(std::move(name), o);
    }
    return out;
  }

  /// The room's connections (empty when the room does not exist).
  const std::vector<Handle>& members(const std::string& room) const {
    auto it = rooms_.find(room);
    return it == rooms_.end() ? empty_members() : it->second.members;
  }

  /// The room's users with their connection counts.
  const user_map& users(const std::string& room) const {
    static const user_map none;
    auto it = rooms_.find(room);
    return it == rooms_.end() ? none : it->second.users;
  }

  bool is_member(const std::string& room, const Handle& h) const {
    auto m = memberships_.find(h);
    return m != memberships_.end() && find_membership(m->second, room) != m->second.end();
  }

  /// Number of rooms `h` has joined.
  std::size_t rooms_of(const Handle& h) const {
    auto m = memberships_.find(h);
    return m == memberships_.end() ? 0 : m->second.size();
  }

  /// Number of non-empty rooms.
  std::size_t room_count() const noexcept { return rooms_.size(); }

 private:
  struct room_state {
    std::vector<Handle> members;
    user_map users;
  };
  // A room's node in rooms_: its address is stable until the room is
  // reclaimed, which happens only once no membership points at it.
  using room_entry = typename std::unordered_map<std::string, room_state>::value_type;
  // One room of a handle: the room and the handle's index in its members.
  // A handle's rooms are a small vector (at most the hub's
  // max_rooms_per_connection, scanned linearly) rather than a hash map of
  // copied names: a connection in one room costs one 16-byte entry instead
  // of a map's bucket array, a node and the name (~200 bytes).
  struct membership {
    room_entry* room;
    std::size_t pos;
  };
  using membership_list = std::vector<membership>;

  static typename membership_list::iterator find_membership(membership_list& mine, const std::string& room) {
    return std::find_if(mine.begin(), mine.end(), [&](const membership& m) { return m.room->first == room; });
  }
  static typename membership_list::const_iterator find_membership(const membership_list& mine,
                                                                  const std::string& room) {
    return std::find_if(mine.begin(), mine.end(), [&](const membership& m) { return m.room->first == room; });
  }

  static const std::vector<Handle>& empty_members() {
    static const std::vector<Handle> none;
    return none;
  }

  leave_outcome remove_from_room(room_entry& r, std::size_t pos, const std::string& user_id) {
    auto& members = r.second.members;
    LIVECHAT_ASSERT(pos < members.size());
    if (pos + 1 != members.size()) {
      members[pos] = std::move(members.back());
      // The moved handle's new index.
      auto moved = memberships_.find(members[pos]);
      LIVECHAT_ASSERT(moved != memberships_.end());
      for (membership& m : moved->second)
        if (m.room == &r) m.pos = pos;
    }
    members.pop_back();
    leave_outcome out{true, false};
    auto u = r.second.users.find(user_id);
    if (u != r.second.users.end() && --u->second.connections == 0) {
      r.second.users.erase(u);
      out.last_of_user = true;
    }
    if (members.empty()) rooms_.erase(rooms_.find(r.first));
    return out;
  }

  std::unordered_map<std::string, room_state> rooms_;
  std::unordered_map<Handle, membership_list, Hash> memberships_;
};

}  // namespace livechat

#endif
