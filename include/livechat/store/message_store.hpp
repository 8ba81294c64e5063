// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_MESSAGE_STORE_HPP
#define LIVECHAT_STORE_MESSAGE_STORE_HPP

// The MessageStore runtime interface. Public non-virtual methods validate,
// count, and do what every store shares (paging history and the
// conversation list under a row limit and a byte budget); backends
// implement the protected `do_*` hooks, which only run queries (spdlog's
// sink pattern). See docs/concepts.md for the contract of each hook; the
// pages and sinks the hooks read into are in store/pages.hpp.

#include <algorithm>  // std::reverse, std::min
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/store/attachment_record.hpp>
#include <livechat/store/pages.hpp>

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
  /// Not text: what the message carries. For a file, `attachment` holds
  /// the record's metadata (`attachment_record::as_file`); the store keeps
  /// only its id with the message and reads the rest from the attachment.
  message_kind kind = message_kind::text;
  message_attachment attachment{};

  /// The message this request becomes once stored as `seq` with `id`: one
  /// place that says which request fields a message keeps, for every store.
  livechat::message stored_as(std::uint64_t seq, std::string id) const& {
    return make_message(*this, seq, std::move(id));
  }
  /// The same, taking the request's strings instead of copying them (the
  /// request keeps `webhook_event_id`; the rest is left valid but unspecified).
  livechat::message stored_as(std::uint64_t seq, std::string id) && {
    return make_message(std::move(*this), seq, std::move(id));
  }

 private:
  // Copies from an lvalue request, moves from an rvalue one.
  template <class Request>
  static livechat::message make_message(Request&& r, std::uint64_t seq, std::string id) {
    livechat::message m;
    m.seq = seq;
    m.id = std::move(id);
    m.room = std::forward<Request>(r).room;
    m.sender = std::forward<Request>(r).sender;
    m.text = std::forward<Request>(r).text;
    m.created_at = r.now;
    m.client_msg_id = std::forward<Request>(r).client_msg_id;
    m.kind = r.kind;
    m.attachment = std::forward<Request>(r).attachment;
    return m;
  }
};

struct append_result {
  livechat::message message;  ///< the stored message (the original one on a duplicate)
  bool duplicate = false;     ///< true: nothing was stored, `message` is the earlier one
  /// The room's session as the append found it (a stored message, not a
  /// duplicate): what conversation_activity carries, read by the write
  /// itself so the caller needs no second read (a round trip with a
  /// database server). Default on a duplicate.
  session_state session{};
};

/// Counters kept by the non-virtual layer; read them for metrics.
struct store_stats {
  std::uint64_t appended = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t failures = 0;
};

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
    if (!acceptable(req)) return count(errc::validation_error);
    return counted_append(do_append(req));
  }

  /// The same for a request the caller is done with: a store may take its
  /// strings for the stored message instead of copying them (the memory
  /// store keeps them; the SQL stores move them into the result). After
  /// the call `req` is valid but unspecified.
  result<append_result> append(append_request&& req) {
    if (!acceptable(req)) return count(errc::validation_error);
    return counted_append(do_append_owned(std::move(req)));
  }

  /// True when `queue_append` defers its statement to the next `flush()`
  /// (or to the next call that runs a statement), so that one turn's
  /// appends and its commit travel together (PostgreSQL: one pipeline,
  /// one round trip). False: `queue_append` appends at once.
  virtual bool defers_appends() const noexcept { return false; }

  /// Queues an append whose result `take_appends()` hands out after the
  /// next `flush()`: the value is its ticket, the result's index there.
  /// Checked as `append` is; an error here means nothing was queued. A
  /// store that does not defer appends now (its result waits all the
  /// same). Calls made meanwhile see the queued appends, as they would
  /// see appends made with `append`.
  result<std::size_t> queue_append(const append_request& req) {
    if (!acceptable(req)) return count(errc::validation_error);
    return counted(do_queue_append(req));
  }

  /// The same for a request the caller is done with (see `append(append_request&&)`).
  result<std::size_t> queue_append(append_request&& req) {
    if (!acceptable(req)) return count(errc::validation_error);
    return counted(do_queue_append_owned(std::move(req)));
  }

  /// The results of the appends queued before the last `flush()`, by
  /// ticket, and forgets them (tickets start at 0 again). After a failed
  /// flush none of them is stored, whatever the results say.
  std::vector<result<append_result>> take_appends() {
    std::vector<result<append_result>> out;
    out.swap(queued_results_);
    for (const auto& r : out) {
      if (!r)
        ++stats_.failures;
      else if (r->duplicate)
        ++stats_.duplicates;
      else
        ++stats_.appended;
    }
    return out;
  }

  /// Without `since_seq`: the latest `limit` messages and `has_more` if
  /// older ones exist. With it: messages with seq > since_seq, the first
  /// `limit` of them, and `has_more` if more remain. `limit` ≥ 1.
  result<history_page> history(std::string_view room, std::optional<std::uint64_t> since_seq,
                               std::size_t limit) {
    history_query q;
    q.since_seq = since_seq;
    q.limit = limit;
    return history(room, q);
  }

  /// The slice `q` describes, oldest first (see `history_query`). With
  /// `before_seq` the page is the latest `limit` below it and `has_more`
  /// says older ones exist. A page cut by `max_bytes` has `has_more`.
  /// since_seq and before_seq together, or `limit` 0, are refused.
  result<history_page> history(std::string_view room, const history_query& q) {
    if (!is_valid_room(room) || q.limit == 0 || (q.since_seq && q.before_seq))
      return count(errc::validation_error);
    auto last = do_last_seq(room);
    if (!last) return count(last.error());
    history_page page;
    const std::uint64_t n = *last;
    page.last_seq = n;
    const seq_range r = page_range(q, n);
    if (r.through == r.after) return page;
    history_sink sink(q.max_bytes);
    const std::uint64_t span = r.through - r.after;
    sink.messages_.reserve(static_cast<std::size_t>(span < 512 ? span : 512));
    if (auto read = do_read_messages(room, r, sink); !read) return count(read.error());
    page.messages = std::move(sink.messages_);
    const auto taken = static_cast<std::uint64_t>(page.messages.size());
    if (r.newest_first) {
      std::reverse(page.messages.begin(), page.messages.end());
      page.has_more = r.through - taken > 0;
    } else {
      page.has_more = r.after + taken < n;
    }
    return page;
  }

  /// The room's newest seq; 0 for a room without messages.
  result<std::uint64_t> last_seq(std::string_view room) {
    if (!is_valid_room(room)) return count(errc::validation_error);
    return counted(do_last_seq(room));
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

  /// Saves `s` only if the room's stored session still has version
  /// `expected_version` (compare-and-set): the value is true when `s` was
  /// saved, false when another writer changed the session first (nothing
  /// saved; load it again). Of two writers that loaded the same version and
  /// both call this, exactly one gets true, across processes too with a
  /// store they share (PostgreSQL): that is how a claim has one winner.
  /// Note `ok()` (and `operator bool`) say the call worked; `*r` is the verdict.
  result<bool> save_session_if(std::string_view room, std::uint64_t expected_version,
                               const session_state& s) {
    if (!is_valid_room(room)) return count(errc::validation_error);
    return counted(do_save_session_if(room, expected_version, s));
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

  /// Most rooms one `read_positions` call takes (a page of the REST list is
  /// at most 500): a bound on the query the store builds.
  static constexpr std::size_t max_read_positions = 1000;

  /// The user's read positions in `rooms`, in their order (0 where none).
  /// One store query for the whole list, so a page of summaries does not
  /// cost one query per conversation. More than `max_read_positions`
  /// rooms, an invalid room or an empty user → `errc::validation_error`.
  result<std::vector<std::uint64_t>> read_positions(std::string_view user_id,
                                                    const std::vector<std::string>& rooms) {
    if (user_id.empty() || rooms.size() > max_read_positions) return count(errc::validation_error);
    for (const auto& r : rooms)
      if (!is_valid_room(r)) return count(errc::validation_error);
    std::vector<std::uint64_t> out(rooms.size(), 0);
    if (rooms.empty()) return out;
    if (auto read = do_read_positions(user_id, rooms, out); !read) return count(read.error());
    return out;
  }

  /// Sets each summary's `read_seq` to the user's read position: one
  /// `read_positions` lookup per `max_read_positions` summaries (one for
  /// any page the server hands out).
  result<void> fill_read_seq(std::string_view user_id, std::vector<conversation_summary>& list) {
    std::vector<std::string> rooms;
    for (std::size_t start = 0; start < list.size(); start += max_read_positions) {
      const std::size_t end = std::min(list.size(), start + max_read_positions);
      rooms.clear();
      rooms.reserve(end - start);
      for (std::size_t i = start; i < end; ++i) rooms.push_back(list[i].room);
      auto positions = read_positions(user_id, rooms);
      if (!positions) return positions.error();
      for (std::size_t i = start; i < end; ++i) list[i].read_seq = (*positions)[i - start];
    }
    return {};
  }

  /// The first `limit` conversations with at least one message, newest
  /// last message first (`list_conversations` without a filter).
  result<std::vector<conversation_summary>> conversations(std::size_t limit) {
    if (limit == 0) return std::vector<conversation_summary>{};
    conversation_query q;
    q.limit = limit;
    auto page = list_conversations(q);
    if (!page) return page.error();
    return std::move(page->conversations);
  }

  /// One page of the conversations with at least one message, newest last
  /// message first, filtered by `status` and `claimed_by`; walking the
  /// pages with `next_cursor` returns each one exactly once while nothing
  /// changes. A bad cursor or `limit` 0 → `errc::validation_error`.
  result<conversation_page> list_conversations(const conversation_query& q) {
    if (q.limit == 0) return count(errc::validation_error);
    std::optional<conversation_position> after;
    if (!q.cursor.empty()) {
      after = parse_cursor(q.cursor);
      if (!after) return count(errc::validation_error);
    }
    conversation_sink sink(q.limit, q.max_bytes);
    if (auto read = do_list_conversations(q, after, sink); !read) return count(read.error());
    return std::move(sink.page_);
  }

  // ---------------------------------------------------------- attachments

  /// Stores a new attachment: its record and, when `ready`, its bytes
  /// (`size` is taken from them). Refused: a bad id or an id already used
  /// (validation_error), content above `max_attachment_bytes`
  /// (limit_exceeded), content on a record that is not `ready`.
  result<void> put_attachment(const attachment_record& a, std::string_view content) {
    if (!is_valid_attachment_id(a.id) || a.owner.empty() ||
        (a.status != attachment_status::ready && !content.empty()))
      return count(errc::validation_error);
    if (content.size() > max_attachment_bytes_) return count(errc::limit_exceeded);
    attachment_record r = a;
    r.room.clear();
    r.seq = 0;
    if (r.status == attachment_status::ready) r.size = content.size();
    return counted(do_put_attachment(r, content));
  }

  /// The record; nullopt for an id the store does not hold.
  result<std::optional<attachment_record>> find_attachment(std::string_view id) {
    if (!is_valid_attachment_id(id)) return std::optional<attachment_record>();
    return counted(do_find_attachment(id));
  }

  /// The bytes of a `ready` attachment; nullopt when there is no such
  /// attachment or it is not ready.
  result<std::optional<std::string>> attachment_content(std::string_view id) {
    if (!is_valid_attachment_id(id)) return std::optional<std::string>();
    return counted(do_attachment_content(id));
  }

  /// A `pending` attachment becomes `ready` with `content` (and its
  /// `content_type` when one is given) or `failed` (no content); a `failed`
  /// one may still become `ready` (a fetch retried after a transient
  /// failure). Returns the record as stored and the message that carries
  /// it. An unknown id → not_found; any other change, or content on a
  /// failure → validation_error; content above the bound → limit_exceeded
  /// (the caller marks it failed).
  result<attachment_update> finish_attachment(std::string_view id, attachment_status status,
                                              std::string_view content,
                                              std::string_view content_type = {}) {
    if (!is_valid_attachment_id(id) || status == attachment_status::pending ||
        (status == attachment_status::failed && !content.empty()))
      return count(errc::validation_error);
    if (content.size() > max_attachment_bytes_) return count(errc::limit_exceeded);
    return counted(do_finish_attachment(id, status, content, content_type));
  }

  /// The ids of up to `limit` attachments still `pending`, oldest first:
  /// the fetches a stopped server left unfinished, for the next to resume.
  result<std::vector<std::string>> pending_attachments(std::size_t limit) {
    if (limit == 0) return std::vector<std::string>();
    return counted(do_pending_attachments(limit));
  }

  /// The bound on one attachment's bytes (default 10 MiB).
  void set_max_attachment_bytes(std::size_t n) noexcept { max_attachment_bytes_ = n; }
  std::size_t max_attachment_bytes() const noexcept { return max_attachment_bytes_; }

  /// Makes every write so far durable. Stores that group writes commit
  /// here; the hub calls it before it acknowledges or broadcasts a write.
  result<void> flush() { return counted(do_flush()); }

  const store_stats& stats() const noexcept { return stats_; }

 protected:
  virtual result<append_result> do_append(const append_request& req) = 0;
  /// `do_append` of a request the store may take strings from. The
  /// default copies, as `do_append` does: a store written before this
  /// hook existed keeps working unchanged.
  virtual result<append_result> do_append_owned(append_request&& req) { return do_append(req); }
  /// Appends now and keeps the result for `take_appends`; a store that
  /// defers overrides it (and fills the kept result with `held_result`).
  virtual result<std::size_t> do_queue_append(const append_request& req) {
    auto r = do_append(req);
    if (!r) return r.error();
    return hold_result(std::move(r));
  }
  /// `do_queue_append` of a request the store may take strings from; the
  /// default is `do_queue_append`.
  virtual result<std::size_t> do_queue_append_owned(append_request&& req) {
    return do_queue_append(req);
  }
  /// Keeps `r` for `take_appends`; its ticket.
  std::size_t hold_result(result<append_result> r) {
    queued_results_.push_back(std::move(r));
    return queued_results_.size() - 1;
  }
  /// The kept result of `ticket` (one `hold_result` returned).
  result<append_result>& held_result(std::size_t ticket) { return queued_results_[ticket]; }
  /// 0 for a room the store does not know.
  virtual result<std::uint64_t> do_last_seq(std::string_view room) = 0;
  /// The messages of `r` (never empty, within the room's last seq), in its
  /// order, into `out` until `out.add` refuses one.
  virtual result<void> do_read_messages(std::string_view room, const seq_range& r,
                                        history_sink& out) = 0;
  virtual result<std::string> do_epoch(std::string_view room) = 0;
  virtual result<session_state> do_load_session(std::string_view room) = 0;
  virtual result<void> do_save_session(std::string_view room, const session_state& s) = 0;
  /// The default loads, compares and saves: atomic for a store that one
  /// thread owns alone (memory, a SQLite file with one writer). A store
  /// that several processes write overrides it with one conditional update.
  virtual result<bool> do_save_session_if(std::string_view room, std::uint64_t expected_version,
                                          const session_state& s) {
    auto current = do_load_session(room);
    if (!current) return current.error();
    if (current->version != expected_version) return false;
    if (auto saved = do_save_session(room, s); !saved) return saved.error();
    return true;
  }
  virtual result<std::uint64_t> do_mark_read(std::string_view room, std::string_view user_id,
                                             std::uint64_t seq) = 0;
  virtual result<std::uint64_t> do_read_position(std::string_view room,
                                                 std::string_view user_id) = 0;
  /// The positions of `rooms` (valid, not empty, may repeat) into `out`
  /// (same size, all 0 on entry). The default asks `do_read_position` for
  /// each room; a store with a query round trip overrides it with one query.
  virtual result<void> do_read_positions(std::string_view user_id,
                                         const std::vector<std::string>& rooms,
                                         std::vector<std::uint64_t>& out) {
    for (std::size_t i = 0; i < rooms.size(); ++i) {
      auto r = do_read_position(rooms[i], user_id);
      if (!r) return r.error();
      out[i] = *r;
    }
    return {};
  }
  /// The rooms with a message, in list order after `after` (the parsed
  /// `q.cursor`; nullopt: from the top), filtered by `q.status` and
  /// `q.claimed_by`, into `out` until `out.add` refuses one (it does at row
  /// `q.limit + 1` at the latest).
  virtual result<void> do_list_conversations(const conversation_query& q,
                                             const std::optional<conversation_position>& after,
                                             conversation_sink& out) = 0;
  virtual result<void> do_flush() { return {}; }
  // Attachments. The defaults refuse (a store written before attachments
  // existed keeps compiling and says it cannot). `do_append` of a message
  // with a file records its (room, seq) on the attachment when it has none.
  virtual result<void> do_put_attachment(const attachment_record&, std::string_view) {
    return errc::store_failure;
  }
  virtual result<std::optional<attachment_record>> do_find_attachment(std::string_view) {
    return errc::store_failure;
  }
  virtual result<std::optional<std::string>> do_attachment_content(std::string_view) {
    return errc::store_failure;
  }
  /// A store without attachments has none pending.
  virtual result<std::vector<std::string>> do_pending_attachments(std::size_t) {
    return std::vector<std::string>();
  }
  /// Only a pending record changes, or a failed one becomes ready (else
  /// validation_error; unknown: not_found).
  virtual result<attachment_update> do_finish_attachment(std::string_view, attachment_status,
                                                         std::string_view, std::string_view) {
    return errc::store_failure;
  }

 private:
  /// The seqs `q` asks for in a room whose newest is `n`; empty when none.
  static seq_range page_range(const history_query& q, std::uint64_t n) noexcept {
    const auto lim = static_cast<std::uint64_t>(q.limit);
    seq_range r;
    if (q.since_seq) {
      // The first `limit` after since_seq; `n - after` avoids overflowing on a huge limit.
      if (*q.since_seq >= n) return seq_range{n, n, false};
      r.after = *q.since_seq;
      r.through = lim < n - r.after ? r.after + lim : n;
    } else {
      // The latest `limit` below before_seq (seq < before_seq), or of all.
      r.newest_first = true;
      r.through = n;
      if (q.before_seq && *q.before_seq <= n)
        r.through = *q.before_seq == 0 ? 0 : *q.before_seq - 1;
      r.after = lim < r.through ? r.through - lim : 0;
    }
    return r;
  }

  /// What every append checks before the store sees it.
  static bool acceptable(const append_request& req) noexcept {
    return is_valid_room(req.room) && !req.text.empty() && attachment_matches(req);
  }

  /// The kind and the attachment agree: a file kind with a valid id, a
  /// sticker or a location with theirs, text with none.
  static bool attachment_matches(const append_request& req) noexcept {
    switch (req.kind) {
      case message_kind::text: return req.attachment.index() == 0;
      case message_kind::sticker: return std::holds_alternative<sticker_attachment>(req.attachment);
      case message_kind::location:
        return std::holds_alternative<location_attachment>(req.attachment);
      default: {
        const auto* f = std::get_if<file_attachment>(&req.attachment);
        return f != nullptr && is_valid_attachment_id(f->id);
      }
    }
  }

  result<append_result> counted_append(result<append_result> r) {
    if (!r) return count(r.error());
    if (r->duplicate)
      ++stats_.duplicates;
    else
      ++stats_.appended;
    return r;
  }

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
  std::vector<result<append_result>> queued_results_;  ///< see queue_append
  std::size_t max_attachment_bytes_ = default_max_attachment_bytes;
};

}  // namespace livechat

#endif
