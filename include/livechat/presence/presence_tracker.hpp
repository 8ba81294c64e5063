// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_PRESENCE_PRESENCE_TRACKER_HPP
#define LIVECHAT_PRESENCE_PRESENCE_TRACKER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <livechat/protocol/detail/json_writer.hpp>
#include <livechat/protocol/model.hpp>

namespace livechat {

/// Who is online: users (not connections) with their tab counts.
///
/// Users are kept ordered by user id (byte order, as PROTOCOL.md sorts
/// `online`). Every auth answers with the whole list (`presence_update`),
/// so the list is also kept encoded: each user holds its JSON object,
/// written when the user changes, and online_json() joins them into the
/// `online` array, again only after a change. A list of 10,000 users is
/// then one pass of memcpy per change instead of a tree walk, a copy of
/// every entry and a JSON writer per entry on every auth.
/// @par Thread Safety
/// None; owned by one thread (the hub's).
class presence_tracker {
 public:
  /// Counts one more authenticated connection; returns the user's entry.
  presence_entry connect(const std::string& user_id, const std::string& name) {
    auto it = find(user_id);
    if (it == users_.end() || (*it)->id != user_id)
      it = users_.insert(it, std::make_unique<user>(user{user_id, {}, 0, {}}));
    user& u = **it;
    u.name = name;  // the latest token's name wins
    ++u.connections;
    changed(u);
    return {u.id, u.name, u.connections};
  }

  /// Counts one connection less; `connections == 0` means the user went offline.
  presence_entry disconnect(const std::string& user_id) {
    auto it = find(user_id);
    if (it == users_.end() || (*it)->id != user_id) return {user_id, {}, 0};
    user& u = **it;
    presence_entry e{user_id, u.name, --u.connections};
    if (e.connections == 0) {
      json_bytes_ -= u.fragment.size();
      users_.erase(it);
      ++version_;
    } else {
      changed(u);
    }
    return e;
  }

  std::uint32_t connections_of(const std::string& user_id) const {
    auto it = find(user_id);
    return it == users_.end() || (*it)->id != user_id ? 0 : (*it)->connections;
  }

  bool is_online(const std::string& user_id) const { return connections_of(user_id) != 0; }

  /// Every online user, sorted by user id.
  std::vector<presence_entry> online() const {
    std::vector<presence_entry> out;
    out.reserve(users_.size());
    for (const auto& u : users_) out.push_back({u->id, u->name, u->connections});
    return out;
  }

  /// online() as its JSON array: the same bytes the codec writes for it
  /// (encode_presence_update, encode_inbox_update take it). Valid until
  /// the next change.
  std::string_view online_json() const {
    if (json_version_ != version_ || json_.empty()) {
      json_.clear();
      detail::string_output out{json_};
      join(out);
      out.finish();
      json_version_ = version_;
    }
    return json_;
  }

  /// Appends online_json()'s bytes to `out`: the joined array when it is
  /// current, else the users' objects directly (one copy into a frame
  /// instead of two: an auth changes the list it is answered with).
  void write_online_json(detail::string_output& out) const {
    if (json_version_ == version_ && !json_.empty())
      out.append(json_);
    else
      join(out);
  }

  /// The size of online_json().
  std::size_t online_json_size() const noexcept {
    return json_bytes_ + (users_.empty() ? 0 : users_.size() - 1) + 2;
  }

  /// Changes with every connect and disconnect that counts: equal
  /// versions mean the same list (a frame made from it may be reused).
  std::uint64_t version() const noexcept { return version_; }

  std::size_t user_count() const noexcept { return users_.size(); }

 private:
  struct user {
    std::string id;
    std::string name;
    std::uint32_t connections = 0;
    std::string fragment;  // {"user_id":…,"name":…,"connections":…}
  };
  // Pointers, so that an insert in the middle moves 8 bytes per user.
  using list = std::vector<std::unique_ptr<user>>;

  list::iterator find(const std::string& id) {
    return std::lower_bound(users_.begin(), users_.end(), id,
                            [](const std::unique_ptr<user>& u, const std::string& k) {
                              return u->id < k;  // char_traits: unsigned byte order
                            });
  }
  list::const_iterator find(const std::string& id) const {
    return std::lower_bound(users_.begin(), users_.end(), id,
                            [](const std::unique_ptr<user>& u, const std::string& k) {
                              return u->id < k;
                            });
  }

  void join(detail::string_output& out) const {
    out.reserve(online_json_size());
    out.append("[");
    bool first = true;
    for (const auto& u : users_) {
      if (!first) out.append(",");
      first = false;
      out.append(u->fragment);
    }
    out.append("]");
  }

  /// Encodes the user's object anew (the codec's own writer, so escapes
  /// and numbers are the codec's) and outdates the joined array.
  void changed(user& u) {
    json_bytes_ -= u.fragment.size();
    u.fragment.clear();
    detail::string_output stream{u.fragment};
    detail::json_writer w(stream);
    detail::write(w, presence_entry{u.id, u.name, u.connections});
    stream.finish();
    json_bytes_ += u.fragment.size();
    ++version_;
  }

  list users_;
  std::size_t json_bytes_ = 0;  // sum of the fragments' sizes
  std::uint64_t version_ = 0;
  mutable std::string json_;
  mutable std::uint64_t json_version_ = 0;
};

}  // namespace livechat

#endif
