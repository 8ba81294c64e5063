// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_MESSAGE_STORE_HPP
#define LIVECHAT_STORE_MESSAGE_STORE_HPP

// The MessageStore runtime interface. Public non-virtual methods validate
// and count; backends implement the protected `do_*` hooks (spdlog's sink
// pattern). See docs/concepts.md for the contract of each hook.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>

namespace livechat {

/// What `append` is asked to store.
struct append_request {
  std::string room;  ///< a valid room name
  livechat::sender sender;
  std::string text;  ///< already validated and trimmed
  /// Dedupe key per (sender.id, room); empty = none.
  std::string client_msg_id;
  /// Dedupe key across the whole store (LINE `webhookEventId`); empty = none.
  std::string webhook_event_id;
  system_time now{};
};

struct append_result {
  livechat::message message;  ///< the stored message (the original one on a duplicate)
  bool duplicate = false;     ///< true: nothing was stored, `message` is the earlier one
};

/// A slice of a room's history, oldest first.
struct history_page {
  std::vector<message> messages;
  std::uint64_t last_seq = 0;  ///< the room's newest seq (0: no message yet)
  bool has_more = false;       ///< see PROTOCOL.md `conversation_update.messages`
};

/// Counters kept by the non-virtual layer; read them for metrics.
struct store_stats {
  std::uint64_t appended = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t failures = 0;
};

/// @par Thread Safety
/// None: a store is owned by the hub's thread, like the hub.
class message_store {
 public:
  virtual ~message_store() = default;
  message_store() = default;
  message_store(const message_store&) = delete;
  message_store& operator=(const message_store&) = delete;

  /// Stores a message with the room's next `seq`, or returns the earlier
  /// one for a repeated `client_msg_id` / `webhook_event_id`.
  result<append_result> append(const append_request& req) {
    if (!is_valid_room(req.room) || req.text.empty()) return count(errc::validation_error);
    auto r = do_append(req);
    if (!r) return count(r.error());
    if (r->duplicate)
      ++stats_.duplicates;
    else
      ++stats_.appended;
    return r;
  }

  /// Without `since_seq`: the latest `limit` messages and `has_more` if
  /// older ones exist. With it: messages with seq > since_seq, the first
  /// `limit` of them, and `has_more` if more remain. `limit` ≥ 1.
  result<history_page> history(std::string_view room, std::optional<std::uint64_t> since_seq,
                               std::size_t limit) {
    if (!is_valid_room(room) || limit == 0) return count(errc::validation_error);
    return counted(do_history(room, since_seq, limit));
  }

  /// The room's history lineage; stable while the store keeps the room.
  result<std::string> epoch(std::string_view room) {
    if (!is_valid_room(room)) return count(errc::validation_error);
    return counted(do_epoch(room));
  }

  /// The room's session (status open, version 0 when never changed).
  result<session_state> load_session(std::string_view room) {
    if (!is_valid_room(room)) return count(errc::validation_error);
    return counted(do_load_session(room));
  }

  result<void> save_session(std::string_view room, const session_state& s) {
    if (!is_valid_room(room)) return count(errc::validation_error);
    return counted(do_save_session(room, s));
  }

  /// Moves the user's read position forward to `seq` (never back) and
  /// returns the position now stored.
  result<std::uint64_t> mark_read(std::string_view room, std::string_view user_id,
                                  std::uint64_t seq) {
    if (!is_valid_room(room) || user_id.empty()) return count(errc::validation_error);
    return counted(do_mark_read(room, user_id, seq));
  }

  /// 0 when the user never marked anything read.
  result<std::uint64_t> read_position(std::string_view room, std::string_view user_id) {
    if (!is_valid_room(room)) return count(errc::validation_error);
    return counted(do_read_position(room, user_id));
  }

  /// Conversations with at least one message, newest last message first.
  result<std::vector<conversation_summary>> conversations(std::size_t limit) {
    return counted(do_conversations(limit));
  }

  /// Makes every write so far durable. Stores that group writes commit
  /// here; the hub calls it before it acknowledges or broadcasts a write.
  result<void> flush() { return counted(do_flush()); }

  const store_stats& stats() const noexcept { return stats_; }

 protected:
  virtual result<append_result> do_append(const append_request& req) = 0;
  virtual result<history_page> do_history(std::string_view room,
                                          std::optional<std::uint64_t> since_seq,
                                          std::size_t limit) = 0;
  virtual result<std::string> do_epoch(std::string_view room) = 0;
  virtual result<session_state> do_load_session(std::string_view room) = 0;
  virtual result<void> do_save_session(std::string_view room, const session_state& s) = 0;
  virtual result<std::uint64_t> do_mark_read(std::string_view room, std::string_view user_id,
                                             std::uint64_t seq) = 0;
  virtual result<std::uint64_t> do_read_position(std::string_view room,
                                                 std::string_view user_id) = 0;
  virtual result<std::vector<conversation_summary>> do_conversations(std::size_t limit) = 0;
  virtual result<void> do_flush() { return {}; }

 private:
  std::error_code count(std::error_code ec) {
    ++stats_.failures;
    return ec;
  }
  template <class R>
  R counted(R r) {
    if (!r) ++stats_.failures;
    return r;
  }

  store_stats stats_;
};

}  // namespace livechat

#endif
