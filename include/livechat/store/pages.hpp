// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_PAGES_HPP
#define LIVECHAT_STORE_PAGES_HPP

// The pages a MessageStore reads: which slice of a room's history or of
// the conversation list is asked for, what comes back, the conversation
// cursor, and the sinks a store's read hooks fill (they keep the row limit
// and the byte budget, so no store counts them itself).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>

namespace livechat {

class message_store;

/// A slice of a room's history, oldest first.
struct history_page {
  std::vector<message> messages;
  std::uint64_t last_seq = 0;  ///< the room's newest seq (0: no message yet)
  bool has_more = false;       ///< see PROTOCOL.md `conversation_update.messages`
};

/// Which slice of a room's history `history` returns.
struct history_query {
  /// Messages with seq > since_seq, the first `limit` of them (recovery).
  std::optional<std::uint64_t> since_seq;
  /// Without since_seq: messages with seq < before_seq, the latest `limit`
  /// of them (paging back). Neither: the latest `limit`.
  std::optional<std::uint64_t> before_seq;
  std::size_t limit = 50;  ///< >= 1
  /// Byte budget: the page stops before the `raw_size` of its messages
  /// passes this, keeping at least one message, and says `has_more`. The
  /// encoded size of a message is never below its raw size, so a caller
  /// that caps the encoded page at N asks for N here and trims the rest
  /// (store/page_cap.hpp) without ever loading many times N.
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
};

/// The bytes of a message's strings: a lower bound of its JSON size (JSON
/// escapes only ever lengthen a string).
inline std::size_t raw_size(const message& m) noexcept {
  std::size_t extra = 0;
  if (const auto* f = std::get_if<file_attachment>(&m.attachment))
    extra = f->id.size() + f->content_type.size() + f->name.size() + f->url.size();
  else if (const auto* s = std::get_if<sticker_attachment>(&m.attachment))
    extra = s->package_id.size() + s->sticker_id.size();
  else if (const auto* l = std::get_if<location_attachment>(&m.attachment))
    extra = l->title.size() + l->address.size();
  return m.id.size() + m.room.size() + m.sender.id.size() + m.sender.name.size() + m.text.size() +
         m.client_msg_id.size() + extra;
}

/// A place in the conversation list (newest last message first): the last
/// message's `created_at` in ms, then the store-wide append counter, which
/// is unique, so ties in time still give every conversation one place.
struct conversation_position {
  std::int64_t last_at = 0;
  std::int64_t order = 0;  ///< >= 0
};

/// The opaque `next_cursor` of PROTOCOL.md: "<last_at>.<order>". Clients
/// must not build or read it; the format is shared by the stores only so
/// the non-virtual layer can check it once.
inline std::string format_cursor(const conversation_position& p) {
  return std::to_string(p.last_at) + '.' + std::to_string(p.order);
}

/// nullopt for anything `format_cursor` cannot have written.
inline std::optional<conversation_position> parse_cursor(std::string_view s) noexcept {
  // A signed decimal without leading zeros that fits int64; `allow_sign` for last_at.
  auto number = [](std::string_view d, bool allow_sign) -> std::optional<std::int64_t> {
    bool negative = false;
    if (allow_sign && !d.empty() && d.front() == '-') {
      negative = true;
      d.remove_prefix(1);
    }
    if (d.empty() || d.size() > 19 || (d.size() > 1 && d.front() == '0')) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (v > max || (negative && v == 0)) return std::nullopt;
    return negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v);
  };
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto at = number(s.substr(0, dot), true);
  const auto order = number(s.substr(dot + 1), false);
  if (!at || !order) return std::nullopt;
  return conversation_position{*at, *order};
}

/// Which page of the conversation list `list_conversations` returns.
struct conversation_query {
  std::size_t limit = 100;  ///< >= 1
  /// Empty: the first page; else the `next_cursor` of an earlier page.
  std::string cursor;
  std::optional<session_status> status;  ///< only conversations in this state
  std::string claimed_by;                ///< non-empty: only those claimed_by this user id
  /// Byte budget on the summaries' last messages (`raw_size` plus the
  /// room twice), as `history_query::max_bytes`.
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
};

/// One page of the conversation list, newest last message first.
struct conversation_page {
  std::vector<conversation_summary> conversations;
  /// `cursors[i]` continues the list right after `conversations[i]`, so a
  /// caller that cuts the page shorter (store/page_cap.hpp) still hands out
  /// a cursor that skips nothing.
  std::vector<std::string> cursors;
  /// Empty on the last page.
  std::string next_cursor;
};

/// What `conversation_query::max_bytes` counts for one summary.
inline std::size_t raw_size(const conversation_summary& c) noexcept {
  return (c.last_message ? raw_size(*c.last_message) : 0) + c.room.size() +
         c.conversation_id.size();
}

/// The seqs one history page may hold: (after, through]. A room's seqs are
/// 1..last_seq without holes, so every page is such a range, and a store
/// reads it with one range query.
struct seq_range {
  std::uint64_t after = 0;
  std::uint64_t through = 0;   ///< > after
  bool newest_first = false;   ///< read from `through` down (latest and before_seq pages)
};

/// Where `do_read_messages` puts the messages it reads, in the range's
/// order. `add` returns false once the page is full (the byte budget); the
/// store then stops reading. The row limit is already in the range.
class history_sink {
 public:
  explicit history_sink(std::size_t max_bytes) noexcept : max_bytes_(max_bytes) {}
  history_sink(const history_sink&) = delete;
  history_sink& operator=(const history_sink&) = delete;

  /// Takes `m` if it fits in the budget (the first message always does).
  bool add(message&& m) {
    if (!fits(m)) return false;
    messages_.push_back(std::move(m));
    return true;
  }
  /// The same, copying `m` only when it is taken.
  bool add(const message& m) {
    if (!fits(m)) return false;
    messages_.push_back(m);
    return true;
  }

 private:
  friend class message_store;

  bool fits(const message& m) noexcept {
    const std::size_t size = raw_size(m);
    if (!messages_.empty() && (size > max_bytes_ || used_ > max_bytes_ - size)) return false;
    used_ += size;
    return true;
  }

  std::size_t max_bytes_;
  std::size_t used_ = 0;
  std::vector<message> messages_;
};

/// Where `do_list_conversations` puts the rooms it reads, in list order
/// from the cursor on: the room's last message, its session and its place
/// in the list. `add` returns false once the page is complete (the row
/// limit or the byte budget, which also sets `next_cursor`); the store then
/// stops reading. A store that reads `limit + 1` rows lets the page tell
/// whether a next one exists.
class conversation_sink {
 public:
  conversation_sink(std::size_t limit, std::size_t max_bytes) noexcept
      : limit_(limit), max_bytes_(max_bytes) {}
  conversation_sink(const conversation_sink&) = delete;
  conversation_sink& operator=(const conversation_sink&) = delete;

  bool add(message&& last, const session_state& session, const conversation_position& at) {
    return take(std::move(last), session, at);
  }
  /// The same, copying `last` only when there is room for a row.
  bool add(const message& last, const session_state& session, const conversation_position& at) {
    return take(last, session, at);
  }

 private:
  friend class message_store;

  template <class Message>
  bool take(Message&& last, const session_state& session, const conversation_position& at) {
    if (page_.conversations.size() == limit_) return full();
    conversation_summary c;
    c.room = last.room;
    c.conversation_id =
        c.room.size() > room_prefix.size() ? c.room.substr(room_prefix.size()) : std::string();
    c.last_seq = last.seq;
    c.last_message = std::forward<Message>(last);
    c.session = session;
    const std::size_t size = raw_size(c);
    if (!page_.conversations.empty() && (size > max_bytes_ || used_ > max_bytes_ - size))
      return full();
    used_ += size;
    page_.conversations.push_back(std::move(c));
    page_.cursors.push_back(format_cursor(at));
    return true;
  }

  bool full() {
    page_.next_cursor = page_.cursors.back();
    return false;
  }

  std::size_t limit_;
  std::size_t max_bytes_;
  std::size_t used_ = 0;
  conversation_page page_;
};

/// @par Thread Safety
}  // namespace livechat

#endif
