// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PRESENCE_PRESENCE_TRACKER_HPP
#define LIVECHAT_PRESENCE_PRESENCE_TRACKER_HPP

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <livechat/protocol/model.hpp>

namespace livechat {

/// Who is online: users (not connections) with their tab counts.
///
/// Users are kept ordered by user id (byte order, as PROTOCOL.md sorts
/// `online`), so the full list costs O(n) and each change O(log n).
/// @par Thread Safety
/// None; owned by one thread (the hub's).
class presence_tracker {
 public:
  /// Counts one more authenticated connection; returns the user's entry.
  presence_entry connect(const std::string& user_id, const std::string& name) {
    auto& u = users_[user_id];
    u.name = name;  // the latest token's name wins
    ++u.connections;
    return {user_id, u.name, u.connections};
  }

  /// Counts one connection less; `connections == 0` means the user went offline.
  presence_entry disconnect(const std::string& user_id) {
    auto it = users_.find(user_id);
    if (it == users_.end()) return {user_id, {}, 0};
    presence_entry e{user_id, it->second.name, --it->second.connections};
    if (e.connections == 0) users_.erase(it);
    return e;
  }

  std::uint32_t connections_of(const std::string& user_id) const {
    auto it = users_.find(user_id);
    return it == users_.end() ? 0 : it->second.connections;
  }

  bool is_online(const std::string& user_id) const { return users_.count(user_id) != 0; }

  /// Every online user, sorted by user id.
  std::vector<presence_entry> online() const {
    std::vector<presence_entry> out;
    out.reserve(users_.size());
    for (const auto& [id, u] : users_) out.push_back({id, u.name, u.connections});
    return out;
  }

  std::size_t user_count() const noexcept { return users_.size(); }

 private:
  struct user {
    std::string name;
    std::uint32_t connections = 0;
  };
  std::map<std::string, user> users_;
};

}  // namespace livechat

#endif
