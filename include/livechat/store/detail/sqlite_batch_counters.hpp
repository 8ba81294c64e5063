// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQLITE_BATCH_COUNTERS_HPP
#define LIVECHAT_STORE_DETAIL_SQLITE_BATCH_COUNTERS_HPP

// sqlite_store's counters (the store-wide message order, each room's last
// seq, last message time and session) as the open write transaction left
// them, and the counter writes it defers to its commit. The transaction
// holds the database's write lock (BEGIN IMMEDIATE) from its first write to
// its commit, so no other connection can change them meanwhile: within one
// batch, the values this connection wrote last are the database's. They
// are kept for one batch only (a new batch number forgets them), and only
// a write that finished updates the counters, so a write undone (by its
// savepoint, or its one statement failing) leaves them as they were; what
// it read (a room's session, whether the room has a row) stays true.
//
// Why defer: every append of a batch used to rewrite the `meta` counter
// row and its room's `rooms` row (and with it two conversation indexes),
// each inside the append's savepoint, which copies every page it touches.
// Only the last values of a batch are ever seen by another connection, so
// the batch writes them once per room, just before its COMMIT (and before
// this connection reads the conversation list; an UPDATE where the room's
// row was seen, the upsert otherwise); an append is left with its message
// row, one statement.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <livechat/protocol/model.hpp>

namespace livechat::detail {

class sqlite_batch_counters {
 public:
  /// A room's counters as the batch wrote them, not yet in `rooms`.
  struct room_bump {
    std::uint64_t seq = 0;
    std::int64_t order = 0;
    std::int64_t at_ms = 0;
  };

  /// A room's counters and session in one batch.
  struct room_entry {
    room_bump bump;
    session_state session;
    bool has_seq = false;      ///< `bump` holds what the batch wrote last
    bool has_session = false;  ///< `session` was read in this batch and not changed since
    bool pending = false;      ///< `bump` waits to be written (write_deferred)
    bool has_row = false;      ///< the room has a `rooms` row (seen in this batch)
  };

  /// The last message order written in `batch`, if an append of that
  /// batch wrote one.
  std::optional<std::int64_t> order(std::uint64_t batch) const noexcept {
    if (batch != batch_ || !has_order_) return std::nullopt;
    return order_;
  }

  /// The room's last seq as written in `batch`, if an append of that batch
  /// stored a message there.
  std::optional<std::uint64_t> last_seq(std::uint64_t batch, std::string_view room) const {
    const room_entry* e = find(batch, room);
    if (e == nullptr || !e->has_seq) return std::nullopt;
    return e->bump.seq;
  }

  /// The entry of `room` in `batch`, made if needed (this may allocate):
  /// an append takes it before it writes, so that recording the write
  /// afterwards (wrote) cannot fail. The map holds one entry per room
  /// written in the batch, so it is bounded by what one batch writes; the
  /// reference stays valid until a later batch takes an entry.
  room_entry& entry_of(std::uint64_t batch, std::string_view room) { return entry(batch, room); }

  /// The session of `room` is being changed: read it again next time.
  void forget_session(std::string_view room) {
    const auto it = rooms_.find(std::string(room));
    if (it != rooms_.end()) it->second.has_session = false;
  }

  /// A finished append of the batch `e` belongs to wrote `written_order`
  /// and `bump` in e's room; `deferred`: the database does not have them
  /// yet (pending() lists them until written()).
  void wrote(room_entry& e, std::int64_t written_order, const room_bump& bump,
             bool deferred) noexcept {
    order_ = written_order;
    has_order_ = true;
    order_pending_ = order_pending_ || deferred;
    e.bump = bump;
    e.has_seq = true;
    e.pending = e.pending || deferred;
  }

  /// Whether `batch` has counters not written yet.
  bool pending(std::uint64_t batch) const noexcept { return batch == batch_ && order_pending_; }
  /// The message order to write, when pending.
  std::int64_t pending_order() const noexcept { return order_; }

  /// Calls `f(room, entry)` for every room whose counters wait to be
  /// written, until `f` returns false; false then, true when all were visited.
  template <class F>
  bool each_pending_room(F&& f) const {
    for (const auto& [room, e] : rooms_)
      if (e.pending && !f(std::string_view(room), e)) return false;
    return true;
  }

  /// Everything pending() listed is in the database now (in this batch).
  void written() noexcept {
    order_pending_ = false;
    for (auto& kv : rooms_) kv.second.pending = false;
  }

 private:
  const room_entry* find(std::uint64_t batch, std::string_view room) const {
    if (batch != batch_) return nullptr;
    // One allocation per lookup at most (a room name longer than the
    // small-string buffer); C++17 has no heterogeneous lookup.
    const auto it = rooms_.find(std::string(room));
    return it == rooms_.end() ? nullptr : &it->second;
  }

  room_entry& entry(std::uint64_t batch, std::string_view room) {
    if (batch != batch_) {
      rooms_.clear();
      batch_ = batch;
      has_order_ = false;
      order_pending_ = false;
    }
    return rooms_[std::string(room)];
  }

  std::uint64_t batch_ = 0;  ///< 0: no batch (the transaction numbers its batches from 1)
  std::int64_t order_ = 0;
  bool has_order_ = false;
  bool order_pending_ = false;
  std::unordered_map<std::string, room_entry> rooms_;
};

}  // namespace livechat::detail

#endif
