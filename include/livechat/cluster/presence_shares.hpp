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

#include <cstdint>
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
        it = n.users.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  /// Nodes not heard from within `lease` lose their share. Returns the
  /// deltas and, in `gone`, the nodes dropped.
  std::vector<presence_delta> expire(TimePoint now, typename TimePoint::duration lease,
                                     std::vector<std::string>* gone = nullptr) {
    std::vector<presence_delta> out;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (now - it->second.heard < lease) {
        ++it;
        continue;
      }
      for (const auto& [id, u] : it->second.users)
        out.push_back({id, u.name, -static_cast<std::int64_t>(u.connections)});
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
    for (const auto& [id, u] : it->second.users)
      out.push_back({id, u.name, -static_cast<std::int64_t>(u.connections)});
    nodes_.erase(it);
    return out;
  }

  std::size_t node_count() const noexcept { return nodes_.size(); }
  bool knows(const std::string& node) const { return nodes_.count(node) != 0; }

 private:
  struct user {
    std::string name;
    std::uint32_t connections = 0;
  };
  struct node_share {
    TimePoint heard{};
    std::map<std::string, user> users;
  };

  static void apply(node_share& n, const presence_share_entry& e, std::vector<presence_delta>& out) {
    auto it = n.users.find(e.user_id);
    const std::uint32_t before = it == n.users.end() ? 0 : it->second.connections;
    if (e.connections == before) {
      if (it != n.users.end()) it->second.name = e.name;
      return;
    }
    out.push_back({e.user_id, e.name,
                   static_cast<std::int64_t>(e.connections) - static_cast<std::int64_t>(before)});
    if (e.connections == 0)
      n.users.erase(it);
    else
      n.users[e.user_id] = user{e.name, e.connections};
  }

  std::map<std::string, node_share> nodes_;
};

}  // namespace livechat::cluster

#endif
