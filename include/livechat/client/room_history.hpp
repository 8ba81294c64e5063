// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_ROOM_HISTORY_HPP
#define LIVECHAT_CLIENT_ROOM_HISTORY_HPP

// One room's history on the client and the repair of its gaps: the lineage
// (epoch), the last seq applied, the join that asks for what is missing
// (since_seq + epoch), paging through `has_more` replies, and the reset when
// the server's lineage is not ours (`recovered: false`, a new epoch, or a
// server that has less than we saw). It decides; client::session sends the
// joins it asks for and delivers what it applies.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <livechat/client/room_view.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/model.hpp>

namespace livechat::client {

/// The history of one room, kept so that every seq of a lineage is applied
/// once, in order.
///
/// Messages are applied only in order (`seq == last_seq + 1`). A message
/// at or below `last_seq` is a duplicate and ignored; a jump is a gap,
/// repaired by joining again with `since_seq` (the server's reply holds the
/// missing messages and the one that showed the gap). A reply that stops
/// short of the server's `last_seq` (`has_more`, or a hole) asks again from
/// where it stopped, unless a fill just brought nothing.
///
/// The view it keeps (`view()`) also holds what the session tracks beside
/// the history (members, session, pending messages); room_history touches
/// only `epoch`, `last_seq`, `messages` and `loaded`.
///
/// @par Thread Safety
/// None (owned by one session).
/// @code
/// room_history h("conversation:U1", 1000);
/// send(h.join_request());  h.join_sent();
/// h.on_update(reply, false, on_reset, on_applied);  // the snapshot
/// if (h.on_live(m, on_applied) == room_history::live::gap) { send(h.join_request()); h.join_sent(true); }
/// @endcode
class room_history {
 public:
  /// What a live message did.
  enum class live {
    ignored,  ///< before the first snapshot, or already applied
    applied,  ///< the next one: applied
    gap,      ///< later than the next one: a fill (join with since_seq) is due
  };

  explicit room_history(std::string name = {}, std::size_t max_history = 1000)
      : max_history_(max_history) {
    view_.name = std::move(name);
  }

  const room_view& view() const noexcept { return view_; }
  /// For what the session keeps beside the history (members, session, pending).
  room_view& view() noexcept { return view_; }

  // ------------------------------------------------------------ joins

  /// The join_room to send: with since_seq and epoch once the history is
  /// known, so the server answers with what we miss (or a new lineage).
  client_events::join_room join_request() const {
    client_events::join_room j{view_.name, std::nullopt, std::nullopt};
    if (view_.loaded) {
      j.since_seq = view_.last_seq;
      j.epoch = view_.epoch;
    }
    return j;
  }

  /// A join was sent; `fill`: to repair a gap.
  void join_sent(bool fill = false) noexcept {
    join_outstanding_ = true;
    if (fill) filling_ = true;
  }

  /// The outstanding join was answered (conversation_update or error).
  /// False when none was outstanding.
  bool join_answered() noexcept {
    if (!join_outstanding_) return false;
    join_outstanding_ = false;
    filling_ = false;
    return true;
  }

  /// The connection ended: no answer will come to the join sent on it.
  void connection_lost() noexcept {
    join_outstanding_ = false;
    filling_ = false;
  }

  /// A join of this connection awaits its answer.
  bool join_outstanding() const noexcept { return join_outstanding_; }
  /// ... and it was sent to fill a gap.
  bool filling() const noexcept { return filling_; }

  // ------------------------------------------------------------ messages

  /// A live message (new_message, message_sent). `applied(const message&)`
  /// is called when it is applied. On `gap` nothing is kept: the fill's
  /// conversation_update will contain it.
  template <class Applied>
  live on_live(const message& m, Applied&& applied) {
    if (!view_.loaded || m.seq <= view_.last_seq) return live::ignored;
    if (m.seq != view_.last_seq + 1) return live::gap;
    apply(m);
    applied(m);
    return live::applied;
  }

  /// A conversation_update for this room (a join's reply, or a fill's).
  /// `was_fill`: it answers the fill join we sent (tell before
  /// `join_answered`). The history is kept when the epoch is the same and
  /// the server has at least what we have; otherwise it is replaced by the
  /// reply's, `reset()` is called first if there was one, and the reply is
  /// taken from its start. `applied(const message&)` is called for each
  /// message applied, in seq order. True when another fill is due: the
  /// server has more than the reply brought us to, no join is outstanding,
  /// and this is not a fill that brought nothing (asking again would loop).
  template <class Reset, class Applied>
  bool on_update(const server_events::conversation_update& e, bool was_fill, Reset&& reset,
                 Applied&& applied) {
    const std::uint64_t before = view_.last_seq;
    const bool kept = view_.loaded && e.epoch == view_.epoch && e.last_seq >= view_.last_seq;
    if (!kept) {
      const bool had_history = view_.loaded;
      view_.epoch = e.epoch;
      view_.messages.clear();
      view_.last_seq = 0;
      view_.loaded = true;
      if (had_history) reset();
      // A snapshot (the latest page) starts anywhere; take it in order.
      for (const auto& m : e.messages)
        if (m.seq > view_.last_seq) {
          apply(m);
          applied(m);
        }
      if (e.messages.empty()) view_.last_seq = e.last_seq;
    } else {
      for (const auto& m : e.messages) {
        if (m.seq <= view_.last_seq) continue;
        if (m.seq != view_.last_seq + 1) break;  // a hole: the fill asks again
        apply(m);
        applied(m);
      }
    }
    return view_.last_seq < e.last_seq && !join_outstanding_ &&
           !(was_fill && view_.last_seq == before);
  }

 private:
  /// `m` becomes the newest message; the oldest beyond max_history go.
  void apply(const message& m) {
    view_.last_seq = m.seq;
    view_.messages.push_back(m);
    if (view_.messages.size() > max_history_) {
      const auto excess = static_cast<std::ptrdiff_t>(view_.messages.size() - max_history_);
      view_.messages.erase(view_.messages.begin(), view_.messages.begin() + excess);
    }
  }

  room_view view_;
  std::size_t max_history_;
  bool join_outstanding_ = false;  // a join_room of this connection awaits its answer
  bool filling_ = false;           // that join fills a gap
};

}  // namespace livechat::client

#endif
