// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_MEMORY_STORE_HPP
#define LIVECHAT_STORE_MEMORY_STORE_HPP

// The default MessageStore: everything lives in this process and nothing
// survives a restart, which is why every instance starts a new `epoch`
// (PROTOCOL.md "Durability"): a client that resumes against a fresh store
// must learn that its `since_seq` refers to a history that is gone.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>  // std::greater<>, std::equal_to<>, std::hash
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/store/detail/fault_injection.hpp>
#include <livechat/store/detail/random_epoch.hpp>
#include <livechat/store/message_store.hpp>

namespace livechat {

namespace detail {

/// Lets a map keyed by std::string be searched with a string_view without
/// building a temporary string (C++20 heterogeneous unordered lookup).
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// `map.find(key)` on a string-keyed unordered map. Heterogeneous lookup
/// needs C++20's library; C++17 pays one temporary string per lookup.
template <class Map>
auto find_in(Map& map, std::string_view key) -> decltype(map.begin()) {
#if defined(__cpp_lib_generic_unordered_lookup)
  return map.find(key);
#else
  return map.find(std::string(key));
#endif
}

}  // namespace detail

/// In-memory MessageStore: the default, and the double the unit tests use.
///
/// Per room it keeps the messages in a deque (`seq` = index + 1), the
/// session, the read positions and the `client_msg_id` dedupe records; the
/// `webhook_event_id` records are store-wide. Costs: `append` O(1)
/// amortised plus O(log rooms) for the conversation indexes; `history`
/// O(limit); `list_conversations` O(log rooms + limit), filtered or not. Memory grows with every message and
/// is never reclaimed: use a persistent store for long-running servers.
///
/// Tests can make it fail on purpose: after `fail_after(n)` the next `n`
/// `do_*` calls succeed and every later one returns `errc::store_failure`
/// without touching the data (Beast's `fail_count`). Each public call is
/// one `do_*` call, except `history`: `do_last_seq`, then `do_read_messages`
/// when the page can hold a message.
///
/// @par Thread Safety
/// None, like `message_store`: the owner serialises all calls.
///
/// @par Exception Safety
/// Only `std::bad_alloc` can escape (no try/catch, so the header builds
/// with -fno-exceptions); if it does, the store stays usable but the
/// message being appended may lack its dedupe record or its place in
/// `conversations`.
///
/// @code
/// livechat::memory_store store;
/// livechat::append_request req;
/// req.room = "conversation:U123";
/// req.sender = {livechat::sender_type::user, "U123", "U123"};
/// req.text = "hello";
/// auto r = store.append(req);         // r->message.seq == 1
/// auto page = store.history(req.room, std::nullopt, 50);
/// @endcode
class memory_store final : public message_store, public detail::fault_injection {
 public:
  /// A fresh random epoch: this store's history is new.
  memory_store() : memory_store(detail::random_epoch()) {}

  /// A fixed epoch, for tests that compare ids or epochs literally.
  explicit memory_store(std::string epoch) : epoch_(std::move(epoch)) {
    LIVECHAT_ASSERT(!epoch_.empty());
  }

  /// The epoch of every room in this store.
  const std::string& epoch() const noexcept { return epoch_; }
  using message_store::epoch;

 protected:
  result<append_result> do_append(const append_request& req) override { return append_message(req); }
  result<append_result> do_append_owned(append_request&& req) override {
    return append_message(std::move(req));
  }

  result<std::uint64_t> do_last_seq(std::string_view room_name) override {
    if (injected_failure()) return errc::store_failure;
    const room_data* room = find_room(room_name);
    return room ? static_cast<std::uint64_t>(room->messages.size()) : std::uint64_t{0};
  }

  result<void> do_read_messages(std::string_view room_name, const seq_range& r,
                                history_sink& out) override {
    if (injected_failure()) return errc::store_failure;
    const room_data* room = find_room(room_name);
    if (!room) return {};
    // seq s is messages[s - 1]; the base keeps `r` within the room.
    const auto& all = room->messages;
    const auto first = static_cast<std::size_t>(r.after);
    const auto end = static_cast<std::size_t>(r.through);
    LIVECHAT_ASSERT(end <= all.size());
    if (r.newest_first) {
      for (std::size_t i = end; i > first && out.add(all[i - 1]); --i) {
      }
    } else {
      for (std::size_t i = first; i < end && out.add(all[i]); ++i) {
      }
    }
    return {};
  }

  result<std::string> do_epoch(std::string_view) override {
    if (injected_failure()) return errc::store_failure;
    return epoch_;
  }

  result<session_state> do_load_session(std::string_view room_name) override {
    if (injected_failure()) return errc::store_failure;
    const room_data* room = find_room(room_name);
    return room ? room->session : session_state{};
  }

  result<void> do_save_session(std::string_view room_name, const session_state& s) override {
    if (injected_failure()) return errc::store_failure;
    room_data& room = room_for(room_name);
    if (room.order) unindex_filters(room, *room.order);
    room.session = s;
    if (room.order) index_filters(room, *room.order);
    return {};
  }

  result<std::uint64_t> do_mark_read(std::string_view room_name, std::string_view user_id,
                                     std::uint64_t seq) override {
    if (injected_failure()) return errc::store_failure;
    room_data& room = room_for(room_name);
    auto it = detail::find_in(room.read_positions, user_id);
    if (it == room.read_positions.end())
      it = room.read_positions.emplace(std::string(user_id), seq).first;
    else if (seq > it->second)
      it->second = seq;
    return it->second;
  }

  result<std::uint64_t> do_read_position(std::string_view room_name,
                                         std::string_view user_id) override {
    if (injected_failure()) return errc::store_failure;
    const room_data* room = find_room(room_name);
    if (!room) return std::uint64_t{0};
    auto it = detail::find_in(room->read_positions, user_id);
    return it == room->read_positions.end() ? std::uint64_t{0} : it->second;
  }

  result<void> do_read_positions(std::string_view user_id, const std::vector<std::string>& rooms,
                                 std::vector<std::uint64_t>& out) override {
    // One failure point for the whole lookup, as one query in a SQL store.
    if (injected_failure()) return errc::store_failure;
    for (std::size_t i = 0; i < rooms.size(); ++i) {
      const room_data* room = find_room(rooms[i]);
      if (!room) continue;
      auto it = detail::find_in(room->read_positions, user_id);
      if (it != room->read_positions.end()) out[i] = it->second;
    }
    return {};
  }

  result<void> do_list_conversations(const conversation_query& q,
                                     const std::optional<conversation_position>& after,
                                     conversation_sink& out) override {
    if (injected_failure()) return errc::store_failure;
    const order_index* idx = &index_;
    if (!q.claimed_by.empty() && q.status) {
      idx = find_index(by_claimer_status_, claimer_status_key(q.claimed_by, *q.status));
    } else if (!q.claimed_by.empty()) {
      idx = find_index(by_claimer_, q.claimed_by);
    } else if (q.status) {
      idx = &by_status_[static_cast<std::size_t>(*q.status)];
    }
    if (idx == nullptr) return {};
    // Newest first: upper_bound finds the first key after the cursor's in
    // list order, so a page never repeats the previous page's last row.
    auto it = after ? idx->upper_bound(order_key{after->last_at, static_cast<std::uint64_t>(after->order)})
                    : idx->begin();
    for (; it != idx->end(); ++it) {
      const room_data& room = *it->second;
      const conversation_position at{it->first.first, static_cast<std::int64_t>(it->first.second)};
      if (!out.add(room.messages.back(), room.session, at)) break;
    }
    return {};
  }

  result<void> do_flush() override {
    if (injected_failure()) return errc::store_failure;
    return {};
  }

  result<void> do_put_attachment(const attachment_record& a, std::string_view content) override {
    if (injected_failure()) return errc::store_failure;
    if (detail::find_in(attachments_, a.id) != attachments_.end()) return errc::validation_error;
    attachments_.emplace(a.id, attachment_data{a, std::string(content)});
    return {};
  }

  result<std::optional<attachment_record>> do_find_attachment(std::string_view id) override {
    if (injected_failure()) return errc::store_failure;
    auto it = detail::find_in(attachments_, id);
    if (it == attachments_.end()) return std::optional<attachment_record>();
    return std::optional<attachment_record>(it->second.record);
  }

  result<std::optional<std::string>> do_attachment_content(std::string_view id) override {
    if (injected_failure()) return errc::store_failure;
    auto it = detail::find_in(attachments_, id);
    if (it == attachments_.end() || it->second.record.status != attachment_status::ready)
      return std::optional<std::string>();
    return std::optional<std::string>(it->second.content);
  }

  result<std::vector<std::string>> do_pending_attachments(std::size_t limit) override {
    if (injected_failure()) return errc::store_failure;
    std::vector<const attachment_record*> pending;
    for (const auto& [id, a] : attachments_)
      if (a.record.status == attachment_status::pending) pending.push_back(&a.record);
    std::sort(pending.begin(), pending.end(), [](const auto* a, const auto* b) {
      return a->created_at != b->created_at ? a->created_at < b->created_at : a->id < b->id;
    });
    std::vector<std::string> out;
    for (std::size_t i = 0; i < pending.size() && i < limit; ++i) out.push_back(pending[i]->id);
    return out;
  }

  result<attachment_update> do_finish_attachment(std::string_view id, attachment_status status,
                                                 std::string_view content,
                                                 std::string_view content_type) override {
    if (injected_failure()) return errc::store_failure;
    auto it = detail::find_in(attachments_, id);
    if (it == attachments_.end()) return errc::not_found;
    attachment_record& r = it->second.record;
    const bool retried = r.status == attachment_status::failed && status == attachment_status::ready;
    if (r.status != attachment_status::pending && !retried) return errc::validation_error;
    r.status = status;
    r.size = content.size();
    if (!content_type.empty()) r.content_type = std::string(content_type);
    it->second.content.assign(content.data(), content.size());
    attachment_update out;
    out.attachment = r;
    if (r.seq != 0) {
      room_data* room = &rooms_.at(r.room);
      message& m = room->messages.at(static_cast<std::size_t>(r.seq - 1));
      m.attachment = r.as_file();
      out.message = m;
    }
    return out;
  }

 private:
  /// do_append's body; `Request` is `const append_request&` or
  /// `append_request` (an owned request, whose strings are taken).
  template <class Request>
  result<append_result> append_message(Request&& req) {
    if (injected_failure()) return errc::store_failure;

    if (!req.webhook_event_id.empty()) {
      auto it = webhook_events_.find(req.webhook_event_id);
      if (it != webhook_events_.end()) {
        const room_data* owner = find_room(it->second.first);
        LIVECHAT_ASSERT(owner && it->second.second <= owner->messages.size());
        return append_result{owner->messages[it->second.second - 1], true, session_state{}};
      }
    }

    attachment_data* file = nullptr;
    if (const auto* f = std::get_if<file_attachment>(&req.attachment)) {
      auto it = detail::find_in(attachments_, f->id);
      if (it == attachments_.end()) return errc::validation_error;
      file = &it->second;
    }

    room_data& room = rooms_[req.room];
    std::string dedupe_key;
    if (!req.client_msg_id.empty()) {
      dedupe_key.reserve(req.sender.id.size() + 1 + req.client_msg_id.size());
      dedupe_key.append(req.sender.id).append(1, '\x1f').append(req.client_msg_id);
      auto it = room.dedupe.find(dedupe_key);
      if (it != room.dedupe.end())
        return append_result{room.messages[it->second - 1], true, session_state{}};
    }

    std::string id;
    id.reserve(epoch_.size() + 21);
    id.append(epoch_).append(1, '-').append(std::to_string(++next_id_));
    // An owned request's strings move into the stored message; the
    // result is then the one copy.
    room.messages.push_back(
        std::forward<Request>(req).stored_as(room.messages.size() + 1, std::move(id)));
    message& stored = room.messages.back();
    if (file != nullptr) {
      // The record is the truth about the file; the first message that
      // carries it is the one a status change updates.
      stored.attachment = file->record.as_file();
      if (file->record.seq == 0) {
        file->record.room = stored.room;
        file->record.seq = stored.seq;
      }
    }

    if (!dedupe_key.empty()) room.dedupe.emplace(std::move(dedupe_key), stored.seq);
    if (!req.webhook_event_id.empty())
      webhook_events_.emplace(req.webhook_event_id, std::make_pair(stored.room, stored.seq));
    reindex(room, stored.created_at);
    return append_result{stored, false, room.session};
  }

  // (created_at in ms, global append counter) of a room's last message.
  // The counter breaks created_at ties so the most recent append wins.
  using order_key = std::pair<std::int64_t, std::uint64_t>;
  struct room_data;
  // Newest first. Keyed by order alone (keys are unique thanks to the
  // counter), so moving a room costs a node splice, not a string copy.
  using order_index = std::map<order_key, room_data*, std::greater<>>;
  // The filtered lists have an index each, in list order, so a filtered
  // page costs O(log n + limit) like an unfiltered one, however few rooms
  // match. A room is in them only once it has a message (`order`).
  using filter_indexes =
      std::unordered_map<std::string, order_index, detail::string_hash, std::equal_to<>>;

  struct room_data {
    // A deque, not a vector: a busy room's vector kept doubling, moving
    // every message it held and faulting in fresh pages each time (2.2 %
    // of a saturated server's CPU in 50 rooms, 0.6 % as a deque); a deque
    // never moves what it holds.
    std::deque<message> messages;
    session_state session;
    std::unordered_map<std::string, std::uint64_t, detail::string_hash, std::equal_to<>>
        read_positions;
    /// sender.id + '\x1f' + client_msg_id -> seq. Dedupe is per (user,
    /// room), so the sender is part of the key; the unit separator keeps
    /// ("ab", "c") and ("a", "bc") apart as long as ids don't contain it.
    std::unordered_map<std::string, std::uint64_t> dedupe;
    std::optional<order_key> order;  ///< this room's key in index_, once it has a message
  };

  using room_map =
      std::unordered_map<std::string, room_data, detail::string_hash, std::equal_to<>>;

  const room_data* find_room(std::string_view name) const {
    auto it = detail::find_in(rooms_, name);
    return it == rooms_.end() ? nullptr : &it->second;
  }

  room_data& room_for(std::string_view name) {
    auto it = detail::find_in(rooms_, name);
    if (it != rooms_.end()) return it->second;
    return rooms_.emplace(std::string(name), room_data{}).first->second;
  }

  // unordered_map never moves its elements (not even on rehash), so the
  // index can point at them.
  // A room already listed moves in each index it is in (its session, and
  // with it the filters, unchanged): a node splice each, no allocation.
  void reindex(room_data& room, system_time created_at) {
    const order_key key{created_at.time_since_epoch().count(), ++next_order_};
    if (room.order) {
      const order_key was = *room.order;
      move_key(index_, was, key);
      move_key(by_status_[static_cast<std::size_t>(room.session.status)], was, key);
      if (room.session.claimed_by) {
        const std::string& user = room.session.claimed_by->user_id;
        move_key(by_claimer_, user, was, key);
        move_key(by_claimer_status_, claimer_status_key(user, room.session.status), was, key);
      }
      room.order = key;
    } else {
      index_.emplace(key, &room);
      room.order = key;
      index_filters(room, key);
    }
  }

  static void move_key(order_index& idx, const order_key& from, const order_key& to) {
    auto node = idx.extract(from);
    LIVECHAT_ASSERT(!node.empty());
    node.key() = to;
    idx.insert(std::move(node));
  }
  static void move_key(filter_indexes& m, const std::string& name, const order_key& from,
                       const order_key& to) {
    auto it = m.find(name);
    LIVECHAT_ASSERT(it != m.end());
    move_key(it->second, from, to);
  }


  static std::string claimer_status_key(std::string_view user, session_status s) {
    std::string k(to_string(s));
    k.append(1, '\x1f').append(user);
    return k;
  }

  static const order_index* find_index(const filter_indexes& m, std::string_view key) {
    auto it = detail::find_in(m, key);
    return it == m.end() ? nullptr : &it->second;
  }

  void index_filters(room_data& room, const order_key& key) {
    by_status_[static_cast<std::size_t>(room.session.status)].emplace(key, &room);
    if (!room.session.claimed_by) return;
    const std::string& user = room.session.claimed_by->user_id;
    by_claimer_[user].emplace(key, &room);
    by_claimer_status_[claimer_status_key(user, room.session.status)].emplace(key, &room);
  }

  void unindex_filters(const room_data& room, const order_key& key) {
    by_status_[static_cast<std::size_t>(room.session.status)].erase(key);
    if (!room.session.claimed_by) return;
    // Empty indexes are dropped, so users who claimed once cost nothing later.
    auto drop = [&key](filter_indexes& m, const std::string& k) {
      auto it = m.find(k);
      if (it == m.end()) return;
      it->second.erase(key);
      if (it->second.empty()) m.erase(it);
    };
    drop(by_claimer_, room.session.claimed_by->user_id);
    drop(by_claimer_status_, claimer_status_key(room.session.claimed_by->user_id, room.session.status));
  }

  struct attachment_data {
    attachment_record record;
    std::string content;
  };

  std::string epoch_;
  room_map rooms_;
  std::unordered_map<std::string, attachment_data, detail::string_hash, std::equal_to<>>
      attachments_;
  order_index index_;
  std::array<order_index, 3> by_status_;  ///< by session_status
  filter_indexes by_claimer_;             ///< claimed_by user id → rooms
  filter_indexes by_claimer_status_;      ///< claimer_status_key → rooms
  /// webhook_event_id -> (room, seq)
  std::unordered_map<std::string, std::pair<std::string, std::uint64_t>> webhook_events_;
  std::uint64_t next_id_ = 0;
  std::uint64_t next_order_ = 0;
};

}  // namespace livechat

#endif
