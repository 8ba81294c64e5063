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
/// so the list is also kept encoded, as the JSON array online_json()
/// returns: a change writes that user's object and splices it into the
/// array (one memmove of what follows it), and a frame copies the array
/// in one piece. With 10,000 users online an auth was a tree walk, a copy
/// of every entry and a JSON writer per entry; it is now one memcpy.
/// @par Thread Safety
/// None; owned by one thread (the hub's).
class presence_tracker {
 public:
  /// Counts one more authenticated connection; returns the user's entry.
  presence_entry connect(const std::string& user_id, const std::string& name) {
    const std::size_t i = find(user_id);
    if (i == users_.size() || users_[i]->id != user_id) {
      users_.insert(users_.begin() + static_cast<std::ptrdiff_t>(i),
                    std::make_unique<user>(user{user_id, name, 1}));
      splice_in(i);
    } else {
      user& u = *users_[i];
      u.name = name;  // the latest token's name wins
      ++u.connections;
      rewrite(i);
    }
    const user& u = *users_[i];
    return {u.id, u.name, u.connections};
  }

  /// Counts one connection less; `connections == 0` means the user went offline.
  presence_entry disconnect(const std::string& user_id) {
    const std::size_t i = find(user_id);
    if (i == users_.size() || users_[i]->id != user_id) return {user_id, {}, 0};
    user& u = *users_[i];
    presence_entry e{user_id, u.name, --u.connections};
    if (e.connections == 0) {
      splice_out(i);
      users_.erase(users_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      rewrite(i);
    }
    return e;
  }

  std::uint32_t connections_of(const std::string& user_id) const {
    const std::size_t i = find(user_id);
    return i == users_.size() || users_[i]->id != user_id ? 0 : users_[i]->connections;
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
  std::string_view online_json() const noexcept { return json_; }

  /// Changes with every connect and disconnect that counts: equal
  /// versions mean the same list (a frame made from it may be reused).
  std::uint64_t version() const noexcept { return version_; }

  std::size_t user_count() const noexcept { return users_.size(); }

 private:
  struct user {
    std::string id;
    std::string name;
    std::uint32_t connections = 0;
  };
  // Pointers, so that an insert in the middle moves 8 bytes per user.
  using list = std::vector<std::unique_ptr<user>>;

  std::size_t find(const std::string& id) const {
    auto it = std::lower_bound(users_.begin(), users_.end(), id,
                               [](const std::unique_ptr<user>& u, const std::string& k) {
                                 return u->id < k;  // char_traits: unsigned byte order
                               });
    return static_cast<std::size_t>(it - users_.begin());
  }

  /// Users[i]'s object as the codec writes it (its own writer, so escapes
  /// and numbers are the codec's).
  std::string encoded(std::size_t i) const {
    const user& u = *users_[i];
    std::string out;
    detail::string_output stream{out};
    detail::json_writer w(stream);
    detail::write(w, presence_entry{u.id, u.name, u.connections});
    stream.finish();
    return out;
  }

  /// The end of users[i]'s object in json_ (a comma or the closing `]` follows).
  std::size_t end_of(std::size_t i) const {
    return i + 1 < starts_.size() ? starts_[i + 1] - 1 : json_.size() - 1;
  }

  /// Shifts the objects after the i-th by `delta` bytes.
  void shift_after(std::size_t i, std::ptrdiff_t delta) {
    for (std::size_t j = i + 1; j < starts_.size(); ++j)
      starts_[j] = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(starts_[j]) + delta);
  }

  /// users_[i] was inserted: its object goes in front of the i-th old one.
  void splice_in(std::size_t i) {
    std::string piece = encoded(i);
    std::size_t at;
    if (starts_.empty()) {
      at = 1;  // after '['
    } else if (i < starts_.size()) {
      at = starts_[i];
      piece += ',';
    } else {
      at = json_.size() - 1;  // before ']'
      piece.insert(piece.begin(), ',');
    }
    json_.insert(at, piece);
    starts_.insert(starts_.begin() + static_cast<std::ptrdiff_t>(i),
                   i == starts_.size() && i != 0 ? at + 1 : at);
    shift_after(i, static_cast<std::ptrdiff_t>(piece.size()));
    ++version_;
  }

  /// users_[i] is about to be erased: its object leaves with one comma.
  void splice_out(std::size_t i) {
    std::size_t from = starts_[i], to = end_of(i);
    if (i + 1 < starts_.size())
      ++to;  // its trailing comma
    else if (i != 0)
      --from;  // the last one: the comma before it
    json_.erase(from, to - from);
    shift_after(i, -static_cast<std::ptrdiff_t>(to - from));
    starts_.erase(starts_.begin() + static_cast<std::ptrdiff_t>(i));
    ++version_;
  }

  /// users_[i] changed (tab count, name): its object is written again.
  void rewrite(std::size_t i) {
    const std::string piece = encoded(i);
    const std::size_t from = starts_[i], old_size = end_of(i) - from;
    json_.replace(from, old_size, piece);
    shift_after(i, static_cast<std::ptrdiff_t>(piece.size()) -
                       static_cast<std::ptrdiff_t>(old_size));
    ++version_;
  }

  list users_;
  std::string json_ = "[]";          // the online array, always current
  std::vector<std::size_t> starts_;  // where users_[i]'s object starts in json_
  std::uint64_t version_ = 0;
};

}  // namespace livechat

#endif
