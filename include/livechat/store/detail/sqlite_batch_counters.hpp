// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQLITE_BATCH_COUNTERS_HPP
#define LIVECHAT_STORE_DETAIL_SQLITE_BATCH_COUNTERS_HPP

// sqlite_store's counters (the store-wide message order, each room's last
// seq) as the open write transaction left them. The transaction holds the
// database's write lock (BEGIN IMMEDIATE) from its first write to its
// commit, so no other connection can change them meanwhile: within one
// batch, the values this connection wrote last are the database's. They
// are kept for one batch only (a new batch number forgets them), and
// only a write that finished updates them, so a write undone by its
// savepoint leaves them as they were. That saves an append two of its
// statements: the reads of both counters.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace livechat::detail {

class sqlite_batch_counters {
 public:
  /// The last message order written in `batch`, if an append of that
  /// batch wrote one.
  std::optional<std::int64_t> order(std::uint64_t batch) const noexcept {
    if (batch != batch_ || !has_order_) return std::nullopt;
    return order_;
  }

  /// The room's last seq as written in `batch`, if an append of that batch
  /// stored a message there.
  std::optional<std::uint64_t> last_seq(std::uint64_t batch, std::string_view room) const {
    if (batch != batch_) return std::nullopt;
    // One allocation per lookup at most (a room name longer than the
    // small-string buffer); C++17 has no heterogeneous lookup.
    const auto it = rooms_.find(std::string(room));
    if (it == rooms_.end()) return std::nullopt;
    return it->second;
  }

  /// A finished append of `batch` wrote `written_order` and `seq` in `room`. The
  /// map holds one entry per room written in the batch, so it is bounded
  /// by what one batch writes.
  void wrote(std::uint64_t batch, std::int64_t written_order, std::string_view room,
             std::uint64_t seq) {
    if (batch != batch_) {
      rooms_.clear();
      batch_ = batch;
    }
    order_ = written_order;
    has_order_ = true;
    rooms_[std::string(room)] = seq;
  }

 private:
  std::uint64_t batch_ = 0;  ///< 0: no batch (the transaction numbers its batches from 1)
  std::int64_t order_ = 0;
  bool has_order_ = false;
  std::unordered_map<std::string, std::uint64_t> rooms_;
};

}  // namespace livechat::detail

#endif
