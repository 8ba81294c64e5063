// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_PRESENCE_SHARES_HPP
#define LIVECHAT_CLUSTER_PRESENCE_SHARES_HPP

// The other nodes' shares of presence, each under a lease. A node tells
// the cluster its own users and tab counts (a delta per change, and its
// whole share on every renewal); a node that stops renewing, because it
// died without a word or lost the broker, loses its share when the lease
// runs out. Every change comes back as the per-user connection deltas the
// hub applies (hub::apply_remote_presence), so each watcher on each node
// gets one presence_diff per change.
//
// A share also names the rooms each user is a member of on that node, so
// a join answered on any node lists the room's members on every node
// (conversation_update.members); they go with the node's lease like its
// users.

#include <cstdint>
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace livechat::cluster {

/// One user's connections on one node.
struct presence_share_entry {
  std::string user_id;
  std::string name;
  std::uint32_t connections = 0;
  std::vector<std::string> rooms{};  ///< the rooms the user is a member of there, sorted
};

/// A user who was a member of `room` on no other node than one whose
/// lease ran out.
struct membership_end {
  std::string room;
  std::string user_id;
  std::string name;
};

/// A change of a user's cluster-wide count.
struct presence_delta {
  std::string user_id;
  std::string name;
  std::int64_t delta = 0;
};

/// @tparam TimePoint  the caller's clock's time_point
/// @par Thread Safety
/// None; the hub's thread owns it.
template <class TimePoint>
class presence_shares {
 public:
  /// `node` now holds `e.connections` of the user (0: none). Renews the lease.
  std::vector<presence_delta> set(const std::string& node, const presence_share_entry& e,
                                  TimePoint now) {
    std::vector<presence_delta> out;
    node_share& n = nodes_[node];
    n.heard = now;
    apply(n, e, out);
    return out;
  }

  /// `node`'s whole share (a renewal): users it no longer lists leave it.
  std::vector<presence_delta> replace(const std::string& node,
                                      const std::vector<presence_share_entry>& all, TimePoint now) {
    std::vector<presence_delta> out;
    node_share& n = nodes_[node];
    n.heard = now;
    std::map<std::string, bool> listed;
    for (const auto& e : all) {
      listed[e.user_id] = true;
      apply(n, e, out);
    }
    for (auto it = n.users.begin(); it != n.users.end();) {
      if (listed.count(it->first) == 0) {
        out.push_back({it->first, it->second.name, -static_cast<std::int64_t>(it->second.connections)});
        unindex(it->first, it->second.rooms);
        it = n.users.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  /// Nodes not heard from within `lease` lose their share. Returns the
  /// deltas and, in `gone`, the nodes dropped; in `ended`, the room
  /// memberships no other node holds any more.
  std::vector<presence_delta> expire(TimePoint now, typename TimePoint::duration lease,
                                     std::vector<std::string>* gone = nullptr,
                                     std::vector<membership_end>* ended = nullptr) {
    std::vector<presence_delta> out;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (now - it->second.heard < lease) {
        ++it;
        continue;
      }
      for (const auto& [id, u] : it->second.users) {
        out.push_back({id, u.name, -static_cast<std::int64_t>(u.connections)});
        unindex(id, u.rooms, ended);
      }
      if (gone != nullptr) gone->push_back(it->first);
      it = nodes_.erase(it);
    }
    return out;
  }

  /// Every lease restarts at `now` (after this node's own broker outage,
  /// when it could hear nobody: the others get a full lease to be heard).
  void renew_all(TimePoint now) {
    for (auto& [id, n] : nodes_) n.heard = now;
  }

  /// `node` said it is leaving (or must be forgotten): its share goes.
  std::vector<presence_delta> drop(const std::string& node) {
    std::vector<presence_delta> out;
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return out;
    for (const auto& [id, u] : it->second.users) {
      out.push_back({id, u.name, -static_cast<std::int64_t>(u.connections)});
      unindex(id, u.rooms);
    }
    nodes_.erase(it);
    return out;
  }

  std::size_t node_count() const noexcept { return nodes_.size(); }

  /// The other nodes' members of `room`: (user_id, name), by user_id.
  std::vector<std::pair<std::string, std::string>> members(const std::string& room) const {
    std::vector<std::pair<std::string, std::string>> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return out;
    out.reserve(it->second.size());
    for (const auto& [id, m] : it->second) out.emplace_back(id, m.name);
    return out;
  }

  /// True while `user_id` is a member of `room` on another node.
  bool is_member(const std::string& room, const std::string& user_id) const {
    auto it = rooms_.find(room);
    return it != rooms_.end() && it->second.count(user_id) != 0;
  }

  /// Rooms with a member on another node (for tests and bounds).
  std::size_t room_count() const noexcept { return rooms_.size(); }
  bool knows(const std::string& node) const { return nodes_.count(node) != 0; }

 private:
  struct user {
    std::string name;
    std::uint32_t connections = 0;
    std::vector<std::string> rooms;  // sorted, unique
  };
  struct member {
    std::string name;
    std::uint32_t nodes = 0;  // nodes where the user is in the room
  };
  struct node_share {
    TimePoint heard{};
    std::map<std::string, user> users;
  };

  void apply(node_share& n, const presence_share_entry& e, std::vector<presence_delta>& out) {
    auto it = n.users.find(e.user_id);
    const std::uint32_t before = it == n.users.end() ? 0 : it->second.connections;
    if (e.connections != before)
      out.push_back({e.user_id, e.name,
                     static_cast<std::int64_t>(e.connections) - static_cast<std::int64_t>(before)});
    if (it != n.users.end()) unindex(e.user_id, it->second.rooms);
    if (e.connections == 0) {
      if (it != n.users.end()) n.users.erase(it);
      return;
    }
    std::vector<std::string> rooms = e.rooms;
    std::sort(rooms.begin(), rooms.end());
    rooms.erase(std::unique(rooms.begin(), rooms.end()), rooms.end());
    index(e.user_id, e.name, rooms);
    n.users[e.user_id] = user{e.name, e.connections, std::move(rooms)};
  }

  void index(const std::string& user_id, const std::string& name, const std::vector<std::string>& rooms) {
    for (const auto& room : rooms) {
      member& m = rooms_[room][user_id];
      m.name = name;
      ++m.nodes;
    }
  }

  void unindex(const std::string& user_id, const std::vector<std::string>& rooms,
               std::vector<membership_end>* ended = nullptr) {
    for (const auto& room : rooms) {
      auto r = rooms_.find(room);
      if (r == rooms_.end()) continue;
      auto m = r->second.find(user_id);
      if (m == r->second.end()) continue;
      if (--m->second.nodes == 0) {
        if (ended != nullptr) ended->push_back({room, user_id, m->second.name});
        r->second.erase(m);
      }
      if (r->second.empty()) rooms_.erase(r);
    }
  }

  std::map<std::string, node_share> nodes_;
  std::map<std::string, std::map<std::string, member>> rooms_;  // room -> user -> member
};

}  // namespace livechat::cluster

#endif
