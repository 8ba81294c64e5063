// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PRESENCE_TYPING_TRACKER_HPP
#define LIVECHAT_PRESENCE_TYPING_TRACKER_HPP

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livechat {

/// Who is typing where, with an expiry driven by `expire(now)`.
///
/// Typing is per (room, user); the entry remembers the connection that last
/// sent `typing_start`, so that connection leaving the room or closing ends
/// it at once. Entries are few (people typing right now), so expiry scans.
///
/// @tparam Handle     connection handle (equality-comparable)
/// @tparam TimePoint  the clock's time_point
template <class Handle, class TimePoint>
class typing_tracker {
 public:
  struct entry {
    std::string room;
    std::string user_id;
    std::string name;
    Handle connection;
  };

  /// Starts or refreshes typing; true when the user was not typing before.
  bool start(const std::string& room, const std::string& user_id, const std::string& name,
             const Handle& connection, TimePoint deadline) {
    auto [it, inserted] = typing_.try_emplace({room, user_id});
    it->second.name = name;
    it->second.connection = connection;
    it->second.deadline = deadline;
    return inserted;
  }

  /// Stops typing; true when the user was typing. Every message asks, so
  /// the lookup builds no key (no copy of the room name).
  bool stop(const std::string& room, const std::string& user_id) {
    auto it = typing_.find(view_key{room, user_id});
    if (it == typing_.end()) return false;
    typing_.erase(it);
    return true;
  }

  /// Stops typing only if `connection` is the one typing; true when it was.
  bool stop_if(const std::string& room, const std::string& user_id, const Handle& connection) {
    auto it = typing_.find(view_key{room, user_id});
    if (it == typing_.end() || !(it->second.connection == connection)) return false;
    typing_.erase(it);
    return true;
  }

  bool is_typing(const std::string& room, const std::string& user_id) const {
    return typing_.find(view_key{room, user_id}) != typing_.end();
  }

  /// Removes and returns every entry whose deadline is at or before `now`.
  std::vector<entry> expire(TimePoint now) {
    std::vector<entry> out;
    for (auto it = typing_.begin(); it != typing_.end();) {
      if (it->second.deadline <= now) {
        out.push_back({it->first.first, it->first.second, std::move(it->second.name),
                       it->second.connection});
        it = typing_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  std::size_t size() const noexcept { return typing_.size(); }

 private:
  struct state {
    std::string name;
    Handle connection{};
    TimePoint deadline{};
  };
  using key = std::pair<std::string, std::string>;
  using view_key = std::pair<std::string_view, std::string_view>;
  /// (room, user) order, the same for stored and looked-up keys.
  struct key_less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return view_key(a.first, a.second) < view_key(b.first, b.second);
    }
  };
  std::map<key, state, key_less> typing_;
};

}  // namespace livechat

#endif
