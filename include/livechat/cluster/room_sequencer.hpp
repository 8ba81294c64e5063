// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_ROOM_SEQUENCER_HPP
#define LIVECHAT_CLUSTER_ROOM_SEQUENCER_HPP

// new_message in `seq` order per room, whatever order the broker brings
// them in. Redis gives no order between two publishers (two nodes write
// seq 7 and 8 a moment apart; 8 may arrive first, and a message published
// while a node was cut off never arrives), so a node holds back a message
// that skips ahead and, when the gap is still open after a short wait,
// fills it from the store: the same repair the C++ client does with
// `since_seq`, one level up. No clock inside: the caller passes `now`.
//
// The room's other events (typing, read receipts, session events, ...)
// carry the last seq their publisher knew committed when it emitted them:
// such an event waits behind the messages up to that seq, as it would on
// one server, where a session_closed sent after message 41 always arrives
// after 41. Events keep their arrival order among themselves (one
// publisher's order, which the broker keeps): an event waits while one
// that came before it waits.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace livechat::cluster {

/// @tparam Item       what is delivered (a frame and who not to send it to)
/// @tparam TimePoint  the caller's clock's time_point
/// @par Thread Safety
/// None; the hub's thread owns it.
template <class Item, class TimePoint>
class room_sequencer {
 public:
  struct delivery {
    std::uint64_t seq;
    Item item;
    bool held;          ///< it waited for an earlier seq
    TimePoint held_since;
    bool message = true;  ///< false: an event; `seq` is the one it waited for
  };

  /// @param max_held  messages held per room before the gap is due at once;
  ///                  also the most events that wait per room (beyond, the
  ///                  oldest goes out without waiting any longer)
  explicit room_sequencer(std::size_t max_held = 1000) : max_held_(max_held == 0 ? 1 : max_held) {}

  /// Starts ordering `room`, whose messages up to `last_seq` were delivered
  /// (shown in history). A room already tracked keeps its state.
  void track(const std::string& room, std::uint64_t last_seq) {
    rooms_.try_emplace(room, room_state{last_seq + 1, {}, {}, false, {}});
  }

  void untrack(const std::string& room) { rooms_.erase(room); }
  bool tracked(const std::string& room) const { return rooms_.count(room) != 0; }
  std::size_t room_count() const noexcept { return rooms_.size(); }

  /// The next seq `room` waits for (0: not tracked).
  std::uint64_t next_seq(const std::string& room) const {
    auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.next;
  }

  /// Messages held back in `room`.
  std::size_t held(const std::string& room) const {
    auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.held.size();
  }

  /// Events waiting in `room`.
  std::size_t waiting(const std::string& room) const {
    auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.waiting.size();
  }

  /// The newest seq this node knows committed in `room`: delivered or held
  /// (0: none, or not tracked). What an event emitted now must not overtake.
  std::uint64_t known(const std::string& room) const {
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return 0;
    const room_state& r = it->second;
    return r.held.empty() ? r.next - 1 : std::max(r.next - 1, r.held.rbegin()->first);
  }

  /// Events that went out before the message they waited for, because
  /// max_held of them were waiting already.
  std::uint64_t events_forced() const noexcept { return events_forced_; }

  /// A message arrived. Returns what can be delivered now, in order (this
  /// one, and those it unblocked); nothing for an untracked room, a seq
  /// already delivered (a duplicate), or one that skips ahead (held).
  std::vector<delivery> offer(const std::string& room, std::uint64_t seq, Item item, TimePoint now) {
    std::vector<delivery> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end() || seq < it->second.next) return out;
    room_state& r = it->second;
    if (seq > r.next) {
      if (r.held.emplace(seq, held_item{std::move(item), now}).second && !r.gap_open) {
        r.gap_open = true;
        r.gap_since = now;
      }
      return out;
    }
    out.push_back({seq, std::move(item), false, now});
    ++r.next;
    release(r, out);
    return out;
  }

  /// An event of `room` emitted after message `after_seq` was committed
  /// (0: after none). Returns what can be delivered now, in order: the
  /// event when that message was delivered and no earlier event waits;
  /// else it waits, and the room's gap opens (a missing message is filled
  /// from the store as for a skipped seq). Nothing for an untracked room.
  std::vector<delivery> offer_event(const std::string& room, std::uint64_t after_seq, Item item,
                                    TimePoint now) {
    std::vector<delivery> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return out;
    room_state& r = it->second;
    if (r.waiting.empty() && after_seq < r.next) {
      out.push_back({after_seq, std::move(item), false, now, false});
      return out;
    }
    if (r.waiting.size() >= max_held_) {  // bounded: the oldest stops waiting
      held_event& oldest = r.waiting.front();
      out.push_back({oldest.after, std::move(oldest.item), true, oldest.since, false});
      r.waiting.pop_front();
      ++events_forced_;
    }
    r.waiting.push_back({after_seq, std::move(item), now});
    release_events(r, out);
    if (!r.waiting.empty() && !r.gap_open) {
      r.gap_open = true;
      r.gap_since = now;
    }
    return out;
  }

  /// Rooms whose gap has been open for `wait` or longer (or that hold more
  /// than max_held): the caller fills them from the store.
  std::vector<std::string> due(TimePoint now, typename TimePoint::duration wait) const {
    std::vector<std::string> out;
    for (const auto& [room, r] : rooms_)
      if (r.gap_open && (now - r.gap_since >= wait || r.held.size() >= max_held_ ||
                         r.waiting.size() >= max_held_))
        out.push_back(room);
    return out;
  }

  /// The store's messages of `room` from next_seq() on, oldest first, as
  /// (seq, item made from the store). Each seq still missing is delivered
  /// from `from_store`; a held one is delivered as held (it names who not
  /// to send it to). What stays missing after the last one given reopens
  /// the gap at `now`. `store_end`: the store has nothing after these; then
  /// events waiting for a seq beyond its end (a stamp from another
  /// lineage) go out now rather than wait for a message that never comes.
  std::vector<delivery> fill(const std::string& room, std::vector<std::pair<std::uint64_t, Item>> from_store,
                             TimePoint now, bool store_end = false) {
    std::vector<delivery> out;
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return out;
    room_state& r = it->second;
    bool hole = false;
    for (auto& [seq, item] : from_store) {
      if (seq < r.next) continue;
      if (seq > r.next) {  // the store skipped one: never deliver past a hole
        hole = true;
        break;
      }
      auto h = r.held.find(seq);
      if (h != r.held.end()) {
        out.push_back({seq, std::move(h->second.item), true, h->second.since});
        r.held.erase(h);
      } else {
        out.push_back({seq, std::move(item), false, now});
      }
      ++r.next;
      release(r, out);
    }
    if (store_end && !hole && r.held.empty()) {
      for (auto& e : r.waiting) out.push_back({e.after, std::move(e.item), true, e.since, false});
      r.waiting.clear();
    }
    r.gap_open = !r.held.empty() || !r.waiting.empty();
    r.gap_since = now;
    return out;
  }

 private:
  struct held_item {
    Item item;
    TimePoint since;
  };
  struct held_event {
    std::uint64_t after;
    Item item;
    TimePoint since;
  };
  struct room_state {
    std::uint64_t next;
    std::map<std::uint64_t, held_item> held;
    std::deque<held_event> waiting;  // events, in arrival order
    bool gap_open;
    TimePoint gap_since;
  };

  /// Delivers the held messages that are next in line, each followed by the
  /// events that waited for it.
  static void release(room_state& r, std::vector<delivery>& out) {
    release_events(r, out);
    for (auto h = r.held.begin(); h != r.held.end() && h->first <= r.next;) {
      if (h->first == r.next) {
        out.push_back({h->first, std::move(h->second.item), true, h->second.since});
        ++r.next;
        release_events(r, out);
      }
      h = r.held.erase(h);
    }
    if (r.held.empty() && r.waiting.empty()) r.gap_open = false;
  }

  static void release_events(room_state& r, std::vector<delivery>& out) {
    while (!r.waiting.empty() && r.waiting.front().after < r.next) {
      held_event& e = r.waiting.front();
      out.push_back({e.after, std::move(e.item), true, e.since, false});
      r.waiting.pop_front();
    }
  }

  std::size_t max_held_;
  std::uint64_t events_forced_ = 0;
  std::unordered_map<std::string, room_state> rooms_;
};

}  // namespace livechat::cluster

#endif
