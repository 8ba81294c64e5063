// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_SQLITE_STORE_HPP
#define LIVECHAT_STORE_SQLITE_STORE_HPP

// The durable MessageStore (PROTOCOL.md "Durability"): one SQLite file in
// WAL mode holds the messages, the epoch, sessions, read positions and both
// dedupe records, so all of them survive a restart, SIGKILL included.
// Target livechat::sqlite (links SQLite::SQLite3). Needs SQLite >= 3.24
// (UPSERT); Debian 12 has 3.40.

#include <sqlite3.h>

#include <algorithm>  // std::reverse
#include <array>
#include <chrono>
#include <climits>  // INT_MAX
#include <cstddef>
#include <cstdint>
#include <cstdlib>   // std::strtol
#include <iterator>  // std::size
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/store/memory_store.hpp>  // detail::random_epoch
#include <livechat/store/message_store.hpp>

#if SQLITE_VERSION_NUMBER < 3024000
#error "livechat/store/sqlite_store.hpp needs SQLite 3.24 or newer (UPSERT)"
#endif

namespace livechat {

/// `PRAGMA synchronous` for the WAL journal.
enum class sqlite_synchronous {
  /// No fsync per commit. A committed write survives a crash of the
  /// process (SIGKILL included); the last commits before a power loss or
  /// an OS crash may be rolled back. The database is never corrupted.
  normal,
  /// fsync of the WAL on every commit: committed writes survive a power
  /// loss too, for one fsync per `flush()` (milliseconds on most disks).
  full,
};

/// How `sqlite_store::open` sets up the connection.
struct sqlite_options {
  /// The database file, created if missing (with its `-wal` and `-shm`
  /// companions beside it). Must not be empty.
  std::string path;
  /// Durability of a commit against power loss; see `sqlite_synchronous`.
  sqlite_synchronous synchronous = sqlite_synchronous::normal;
  /// How long a statement waits for another connection's lock before it
  /// fails with `errc::store_failure` (sqlite3_busy_timeout). The hub's
  /// thread blocks meanwhile, so keep it short where latency matters.
  std::chrono::milliseconds busy_timeout{5000};
  /// true: writes go into one open transaction that `flush()` commits,
  /// so N writes between two flushes cost one commit (and, with `full`,
  /// one fsync). false: every write commits on its own and `flush()` does
  /// nothing; simpler to reason about, one commit per write.
  bool group_commit = true;
  /// SQLite may refuse WAL and keep the rollback journal without an error:
  /// on a file system without shared memory (some network and container
  /// mounts), or for ":memory:". Readers would then block the writer and
  /// "committed survives SIGKILL" rests on a journal livechat is not
  /// tested with, so `open` fails by default ("journal_mode is 'delete',
  /// not 'wal'"). true: accept it; `journal_mode()` tells which one runs.
  bool allow_rollback_journal = false;
};

namespace detail {

/// One use of a prepared statement: binds parameters left to right, steps,
/// reads columns, and on destruction resets the statement and clears its
/// bindings, so it is ready for the next use and holds no read lock.
/// Strings are bound without a copy: they must outlive the query.
class sqlite_query {
 public:
  explicit sqlite_query(sqlite3_stmt* s) noexcept : s_(s) {}
  ~sqlite_query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  sqlite_query(const sqlite_query&) = delete;
  sqlite_query& operator=(const sqlite_query&) = delete;

  /// Bound with its length: embedded NUL bytes are kept.
  sqlite_query& text(std::string_view v) noexcept {
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_text64(s_, ++index_, v.data() != nullptr ? v.data() : "",
                                static_cast<sqlite3_uint64>(v.size()), nullptr /* static */,
                                SQLITE_UTF8);
    return *this;
  }
  /// NULL for an empty string.
  sqlite_query& text_or_null(std::string_view v) noexcept {
    return v.empty() ? null() : text(v);
  }
  sqlite_query& integer(std::int64_t v) noexcept {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(s_, ++index_, v);
    return *this;
  }
  sqlite_query& null() noexcept {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_null(s_, ++index_);
    return *this;
  }

  /// SQLITE_ROW, SQLITE_DONE, or the error of a bind or of the step.
  int step() noexcept { return rc_ != SQLITE_OK ? rc_ : sqlite3_step(s_); }

  bool is_null(int col) const noexcept { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::int64_t integer_at(int col) const noexcept { return sqlite3_column_int64(s_, col); }
  std::uint64_t unsigned_at(int col) const noexcept {
    return static_cast<std::uint64_t>(sqlite3_column_int64(s_, col));
  }
  std::string text_at(int col) const {
    const unsigned char* p = sqlite3_column_text(s_, col);  // before _bytes, as documented
    const int n = sqlite3_column_bytes(s_, col);
    if (p == nullptr || n <= 0) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }

 private:
  sqlite3_stmt* s_;
  int index_ = 0;
  int rc_ = SQLITE_OK;
};

/// A schema step: `sql` takes the database from `version - 1` to `version`.
struct sqlite_migration {
  int version;
  const char* sql;
};

/// The schema history, oldest first. Append new steps; never edit one that
/// has shipped (databases in the field have already run it).
///
/// v1. `meta` holds `epoch` (16 hex digits, written once when the database
/// is created) and `last_order`, a store-wide counter bumped by every
/// stored message: it orders conversations whose last messages share a
/// `created_at` (most recent append first) and numbers message ids
/// (`epoch-last_order`), which are therefore unique across rooms and
/// restarts (a rolled-back write gives its number back, but it was never
/// acknowledged, so nobody saw that id). `rooms.last_seq` is the room's
/// newest seq (0 while it only has a session); `last_at`/`last_order`
/// describe its last message (NULL: none yet) and feed the conversation
/// index. A NULL `session_status` is the default session (open, version
/// 0). The CHECKs spell out ORs: an IN list in a CHECK builds a temporary
/// table on every insert (SQLite 3.40), which cost more than the rest of
/// an append together.
///
/// v2. The filtered conversation list (`list_conversations` with `status`,
/// `claimed_by` or both) gets an index each, in list order, so every page
/// is an index range (SEARCH ... USING INDEX, no sort), however many rooms
/// there are and however few match. A NULL status is `open`, hence the
/// expression, which the queries repeat word for word.
inline constexpr sqlite_migration sqlite_migrations[] = {
    {1, R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES('last_order', '0');
CREATE TABLE rooms(
  room TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL DEFAULT 0,
  last_order INTEGER,
  last_at INTEGER,
  session_status TEXT CHECK(session_status = 'open' OR session_status = 'claimed'
                            OR session_status = 'closed'),
  claimed_by_id TEXT,
  claimed_by_name TEXT,
  session_updated_at INTEGER,
  session_version INTEGER
) WITHOUT ROWID;
CREATE INDEX rooms_by_last_message ON rooms(last_at DESC, last_order DESC)
  WHERE last_order IS NOT NULL;
CREATE TABLE messages(
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE,
  sender_type TEXT NOT NULL CHECK(sender_type = 'operator' OR sender_type = 'user'
                                  OR sender_type = 'system'),
  sender_id TEXT NOT NULL,
  sender_name TEXT NOT NULL,
  text TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  client_msg_id TEXT,
  PRIMARY KEY(room, seq)
) WITHOUT ROWID;
CREATE TABLE client_msg_ids(
  room TEXT NOT NULL,
  sender_id TEXT NOT NULL,
  client_msg_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(room, sender_id, client_msg_id)
) WITHOUT ROWID;
CREATE TABLE webhook_events(
  event_id TEXT PRIMARY KEY,
  room TEXT NOT NULL,
  seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE read_positions(
  room TEXT NOT NULL,
  user_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(room, user_id)
) WITHOUT ROWID;
)sql"},
    {2, R"sql(
CREATE INDEX rooms_by_status ON rooms(coalesce(session_status, 'open'), last_at DESC,
                                      last_order DESC)
  WHERE last_order IS NOT NULL;
CREATE INDEX rooms_by_claimer ON rooms(claimed_by_id, last_at DESC, last_order DESC)
  WHERE last_order IS NOT NULL AND claimed_by_id IS NOT NULL;
CREATE INDEX rooms_by_claimer_status ON rooms(claimed_by_id, coalesce(session_status, 'open'),
                                              last_at DESC, last_order DESC)
  WHERE last_order IS NOT NULL AND claimed_by_id IS NOT NULL;
)sql"},
};

}  // namespace detail

/// MessageStore on one SQLite database file, with the same semantics as
/// `memory_store` (the conformance tests run both), plus durability.
///
/// **Group commit.** With `sqlite_options::group_commit` (the default) the
/// first write after a flush opens a transaction (`BEGIN IMMEDIATE`) and
/// later writes join it; `flush()` commits it. Reads on this store see the
/// pending writes; other connections don't. So a batch of writes followed
/// by one flush costs one commit. The hub flushes before it acknowledges or
/// broadcasts anything, which keeps "stored before acknowledged". When a
/// commit fails, the transaction is rolled back and `flush()` returns
/// `errc::store_failure`: every write since the previous successful flush
/// is gone (their seqs are reused by the next appends, so no seq is ever
/// skipped), and their callers must be told they failed. Each write is
/// atomic on its own (a savepoint inside the batch): a failed write leaves
/// no trace and the earlier pending writes stay pending.
///
/// **Errors.** Every SQLite error is `errc::store_failure`; `last_error()`
/// says what failed and why (sqlite3_errmsg). Nothing is cached from the
/// database besides the epoch, so the store stays consistent and usable
/// after any error. A lock held too long by another connection fails after
/// `busy_timeout`.
///
/// **Schema.** Versioned with `PRAGMA user_version` (`schema_version`); open
/// runs the missing `detail::sqlite_migrations`, each in its own
/// transaction, and refuses a database from a newer livechat.
///
/// Costs: `append` is a handful of B-tree lookups and inserts (O(log n)),
/// plus a commit per flush; `history` O(log n + limit), stopping at the
/// byte budget; `list_conversations` O(log n + limit) through an index per
/// filter (v2), never a scan and sort.
///
/// Tests can make it fail on purpose like `memory_store`: after
/// `fail_after(n)` the next `n` `do_*` calls run and every later one
/// returns `errc::store_failure` without touching the database (an
/// injected `flush()` failure leaves the transaction open).
///
/// @par Thread Safety
/// None: the connection is opened with SQLITE_OPEN_NOMUTEX and the owner
/// (the hub's thread) serialises all calls. Other connections and
/// processes may read the file meanwhile (WAL). Two stores may even write
/// to one file, as every write reads its counters inside its own write
/// transaction, but an open batch holds the write lock until `flush()`,
/// so the other waits up to `busy_timeout` and then fails.
///
/// @par Exception Safety
/// Only `std::bad_alloc` can escape; a write interrupted by it is undone.
///
/// @code
/// livechat::sqlite_options opts;
/// opts.path = "livechat.db";
/// std::string why;
/// auto opened = livechat::sqlite_store::open(opts, why);
/// if (!opened) { std::cerr << why << '\n'; return 1; }
/// livechat::sqlite_store& store = **opened;
/// auto r = store.append(req);   // seq assigned in the open transaction
/// if (r && store.flush()) { /* durable: acknowledge */ }
/// @endcode
class sqlite_store final : public message_store {
 public:
  /// The schema version this code writes; `PRAGMA user_version` of a
  /// database it has opened.
  static constexpr int schema_version =
      detail::sqlite_migrations[std::size(detail::sqlite_migrations) - 1].version;

  /// Opens (creating if needed) and migrates the database. On failure the
  /// error is `errc::store_failure` and `error_message` says why (the path,
  /// then SQLite's message or the schema problem).
  static result<std::unique_ptr<sqlite_store>> open(const sqlite_options& options,
                                                    std::string& error_message) {
    error_message.clear();
    std::unique_ptr<sqlite_store> store(new sqlite_store(options));
    if (!store->init()) {
      error_message = "sqlite_store '" + options.path + "': " + store->last_error_;
      return errc::store_failure;
    }
    return store;
  }

  static result<std::unique_ptr<sqlite_store>> open(const sqlite_options& options) {
    std::string ignored;
    return open(options, ignored);
  }

  /// Commits an open transaction (best effort: nothing was acknowledged
  /// from it yet), then closes the database.
  ~sqlite_store() override {
    if (db_ != nullptr && in_tx_ && step_once(sid::commit) != SQLITE_OK) step_once(sid::rollback);
    close();
  }

  /// The epoch of every room in this store: created with the database,
  /// never changed afterwards.
  const std::string& epoch() const noexcept { return epoch_; }
  using message_store::epoch;

  /// What the last failure was, for logs ("append: database is locked").
  const std::string& last_error() const noexcept { return last_error_; }

  /// Writes in the open transaction, waiting for `flush()`.
  std::size_t pending_writes() const noexcept { return pending_; }

  const sqlite_options& options() const noexcept { return options_; }

  /// What `PRAGMA journal_mode=WAL` answered: "wal", or another mode when
  /// `allow_rollback_journal` let the store open without WAL.
  const std::string& journal_mode() const noexcept { return journal_mode_; }

  /// The connection, for tools (backups, diagnostics). Don't leave a
  /// transaction open on it, and don't use it from another thread.
  sqlite3* native_handle() const noexcept { return db_; }

  /// Test hook: simulates a crash. Rolls back the open transaction (the
  /// unflushed writes are lost, as after a SIGKILL) and closes the
  /// database; every later call fails with `errc::store_failure`.
  void abandon() noexcept {
    if (db_ != nullptr && in_tx_) step_once(sid::rollback);
    in_tx_ = false;
    pending_ = 0;
    close();
  }

  /// After `calls` more `do_*` calls, every `do_*` call fails with
  /// `errc::store_failure` until `fail_after` or `clear_failure` is called.
  void fail_after(std::size_t calls) noexcept { fail_at_ = calls_ + calls; }
  void clear_failure() noexcept { fail_at_.reset(); }

  /// How many `do_*` calls were made, failed ones included.
  std::size_t calls() const noexcept { return calls_; }

 protected:
  result<append_result> do_append(const append_request& req) override {
    if (auto ec = precheck()) return ec;
    write_scope w(*this);
    if (int rc = w.begin(); rc != SQLITE_OK) return fail(rc, "append: begin");

    // The dedupe lookups run inside the write transaction, so no other
    // connection can store the same key between the lookup and the insert.
    std::optional<message> original;
    if (!req.webhook_event_id.empty()) {
      detail::sqlite_query q(stmt(sid::find_webhook));
      q.text(req.webhook_event_id);
      const int rc = q.step();
      if (rc == SQLITE_ROW) original = read_message(q, 0);
      else if (rc != SQLITE_DONE) return fail(rc, "append: webhook dedupe lookup");
    }
    if (!original && !req.client_msg_id.empty()) {
      detail::sqlite_query q(stmt(sid::find_client_msg));
      q.text(req.room).text(req.sender.id).text(req.client_msg_id);
      const int rc = q.step();
      if (rc == SQLITE_ROW) original = read_message(q, 0);
      else if (rc != SQLITE_DONE) return fail(rc, "append: client_msg_id dedupe lookup");
    }
    if (original) {
      // Nothing written: nothing to undo, nothing added to the batch.
      if (int rc = w.finish(false); rc != SQLITE_OK) return fail(rc, "append: commit");
      return append_result{std::move(*original), true};
    }

    // Counters are read inside the write transaction, never cached, so a
    // rolled-back batch leaves nothing stale behind. (Plain SELECT + write
    // rather than RETURNING, which would need SQLite 3.35.)
    message m;
    std::int64_t order = 0;
    {
      detail::sqlite_query q(stmt(sid::read_order));
      const int rc = q.step();
      if (rc != SQLITE_ROW) return fail(rc, "append: read the message counter");
      order = q.integer_at(0) + 1;
    }
    {
      detail::sqlite_query q(stmt(sid::write_order));
      q.integer(order);
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: bump the message counter");
    }
    auto last = last_seq_of(req.room, "append: read the room's seq");
    if (!last) return last.error();
    m.seq = *last + 1;
    const std::int64_t created_ms = req.now.time_since_epoch().count();
    {
      detail::sqlite_query q(stmt(sid::bump_room));
      q.text(req.room).integer(static_cast<std::int64_t>(m.seq)).integer(order).integer(created_ms);
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: bump the room's seq");
    }
    m.id.reserve(epoch_.size() + 21);
    m.id.append(epoch_).append(1, '-').append(std::to_string(order));
    {
      detail::sqlite_query q(stmt(sid::insert_message));
      q.text(req.room)
          .integer(static_cast<std::int64_t>(m.seq))
          .text(m.id)
          .text(to_string(req.sender.type))
          .text(req.sender.id)
          .text(req.sender.name)
          .text(req.text)
          .integer(created_ms)
          .text_or_null(req.client_msg_id);
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: insert message");
    }
    if (!req.client_msg_id.empty()) {
      detail::sqlite_query q(stmt(sid::insert_client_msg));
      q.text(req.room).text(req.sender.id).text(req.client_msg_id).integer(
          static_cast<std::int64_t>(m.seq));
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: insert client_msg_id record");
    }
    if (!req.webhook_event_id.empty()) {
      detail::sqlite_query q(stmt(sid::insert_webhook));
      q.text(req.webhook_event_id).text(req.room).integer(static_cast<std::int64_t>(m.seq));
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: insert webhook event record");
    }
    if (int rc = w.finish(true); rc != SQLITE_OK) return fail(rc, "append: commit");

    m.room = req.room;
    m.sender = req.sender;
    m.text = req.text;
    m.created_at = req.now;
    m.client_msg_id = req.client_msg_id;
    return append_result{std::move(m), false};
  }

  result<history_page> do_history(std::string_view room, const history_query& hq) override {
    if (auto ec = precheck()) return ec;
    history_page page;
    auto last = last_seq_of(room, "history");
    if (!last) return last.error();
    const std::uint64_t n = *last;
    page.last_seq = n;
    // seqs are contiguous (1..n), so the page is within a seq range:
    // (lo, hi], read from the end the page keeps (the oldest after
    // since_seq, else the newest), stepping no further than the budget.
    const std::uint64_t lim = static_cast<std::uint64_t>(hq.limit);
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    const bool ascending = hq.since_seq.has_value();
    if (ascending) {
      if (*hq.since_seq >= n) return page;
      lo = *hq.since_seq;
      hi = lim < n - lo ? lo + lim : n;
    } else {
      hi = n;
      if (hq.before_seq && *hq.before_seq <= n) hi = *hq.before_seq == 0 ? 0 : *hq.before_seq - 1;
      lo = lim < hi ? hi - lim : 0;
    }
    if (hi == lo) return page;
    page.messages.reserve(static_cast<std::size_t>(hi - lo < 512 ? hi - lo : 512));
    detail::sqlite_query q(stmt(ascending ? sid::select_messages : sid::select_messages_desc));
    q.text(room).integer(static_cast<std::int64_t>(lo)).integer(static_cast<std::int64_t>(hi));
    std::size_t used = 0;
    bool cut = false;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      message m = read_message(q, 0);
      const std::size_t size = raw_size(m);
      if (!page.messages.empty() && (size > hq.max_bytes || used > hq.max_bytes - size)) {
        cut = true;
        break;
      }
      used += size;
      page.messages.push_back(std::move(m));
    }
    if (!cut && rc != SQLITE_DONE) return fail(rc, "history");
    const auto count = static_cast<std::uint64_t>(page.messages.size());
    if (ascending) {
      page.has_more = lo + count < n;
    } else {
      std::reverse(page.messages.begin(), page.messages.end());
      page.has_more = hi - count > 0;
    }
    return page;
  }

  result<std::string> do_epoch(std::string_view) override {
    if (auto ec = precheck()) return ec;
    return epoch_;
  }

  result<session_state> do_load_session(std::string_view room) override {
    if (auto ec = precheck()) return ec;
    detail::sqlite_query q(stmt(sid::load_session));
    q.text(room);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return session_state{};
    if (rc != SQLITE_ROW) return fail(rc, "load_session");
    return read_session(q, 0);
  }

  result<void> do_save_session(std::string_view room, const session_state& s) override {
    if (auto ec = precheck()) return ec;
    write_scope w(*this);
    if (int rc = w.begin(); rc != SQLITE_OK) return fail(rc, "save_session: begin");
    {
      detail::sqlite_query q(stmt(sid::save_session));
      q.text(room).text(to_string(s.status));
      if (s.claimed_by)
        q.text(s.claimed_by->user_id).text(s.claimed_by->name);
      else
        q.null().null();
      q.integer(s.updated_at.time_since_epoch().count())
          .integer(static_cast<std::int64_t>(s.version));
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "save_session");
    }
    if (int rc = w.finish(true); rc != SQLITE_OK) return fail(rc, "save_session: commit");
    return {};
  }

  result<std::uint64_t> do_mark_read(std::string_view room, std::string_view user_id,
                                     std::uint64_t seq) override {
    if (auto ec = precheck()) return ec;
    // SQLite integers are signed; no room gets near 2^63 messages.
    if (seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      last_error_ = "mark_read: seq out of range";
      return errc::validation_error;
    }
    write_scope w(*this);
    if (int rc = w.begin(); rc != SQLITE_OK) return fail(rc, "mark_read: begin");
    std::uint64_t stored = 0;
    {
      detail::sqlite_query q(stmt(sid::mark_read));
      q.text(room).text(user_id).integer(static_cast<std::int64_t>(seq));
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "mark_read");
    }
    {
      detail::sqlite_query q(stmt(sid::read_position));
      q.text(room).text(user_id);
      const int rc = q.step();
      if (rc != SQLITE_ROW) return fail(rc, "mark_read: read back");
      stored = q.unsigned_at(0);
    }
    if (int rc = w.finish(true); rc != SQLITE_OK) return fail(rc, "mark_read: commit");
    return stored;
  }

  result<std::uint64_t> do_read_position(std::string_view room,
                                         std::string_view user_id) override {
    if (auto ec = precheck()) return ec;
    detail::sqlite_query q(stmt(sid::read_position));
    q.text(room).text(user_id);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::uint64_t{0};
    if (rc != SQLITE_ROW) return fail(rc, "read_position");
    return q.unsigned_at(0);
  }

  result<conversation_page> do_list_conversations(
      const conversation_query& cq, const std::optional<conversation_position>& after) override {
    if (auto ec = precheck()) return ec;
    conversation_page page;
    const bool by_status = cq.status.has_value();
    const bool by_claimer = !cq.claimed_by.empty();
    const sid which = by_status && by_claimer ? sid::list_claimer_status
                      : by_claimer            ? sid::list_claimer
                      : by_status             ? sid::list_status
                                              : sid::list_all;
    constexpr std::int64_t top = std::numeric_limits<std::int64_t>::max();
    detail::sqlite_query q(stmt(which));
    q.integer(after ? after->last_at : top).integer(after ? after->order : top);
    if (by_claimer) q.text(cq.claimed_by);
    if (by_status) q.text(to_string(*cq.status));
    // One row more than the page tells whether a next page exists.
    constexpr auto max_limit = static_cast<std::uint64_t>(top - 1);
    const auto lim = static_cast<std::uint64_t>(cq.limit);
    q.integer(static_cast<std::int64_t>(lim < max_limit ? lim : max_limit) + 1);
    std::size_t used = 0;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      if (page.conversations.size() == cq.limit) {
        page.next_cursor = page.cursors.back();
        break;
      }
      conversation_summary c;
      c.last_message = read_message(q, 0);
      c.room = c.last_message->room;
      c.conversation_id = c.room.size() > room_prefix.size() ? c.room.substr(room_prefix.size())
                                                             : std::string();
      c.last_seq = c.last_message->seq;
      c.session = read_session(q, 9);
      const std::size_t size = raw_size(c);
      if (!page.conversations.empty() && (size > cq.max_bytes || used > cq.max_bytes - size)) {
        page.next_cursor = page.cursors.back();
        break;
      }
      used += size;
      page.conversations.push_back(std::move(c));
      page.cursors.push_back(format_cursor(conversation_position{q.integer_at(14), q.integer_at(15)}));
    }
    if (page.next_cursor.empty() && rc != SQLITE_DONE) return fail(rc, "list_conversations");
    return page;
  }

  /// Commits the open transaction; on failure rolls it back (the pending
  /// writes are lost) and returns `errc::store_failure`.
  result<void> do_flush() override {
    if (auto ec = precheck()) return ec;
    if (lost_) {
      // SQLite rolled the batch back on its own after an error (an I/O
      // error, a full disk); the failed call reported it, and the writes
      // before it must not be acknowledged either.
      lost_ = false;
      last_error_ = "flush: the pending writes were rolled back after an earlier error";
      return errc::store_failure;
    }
    if (!in_tx_) return {};
    const int rc = step_once(sid::commit);
    if (rc != SQLITE_OK) {
      auto ec = fail(rc, "flush: commit");
      if (in_tx_) step_once(sid::rollback);  // a failed COMMIT may leave it open
      in_tx_ = false;
      pending_ = 0;
      lost_ = false;
      return ec;
    }
    in_tx_ = false;
    pending_ = 0;
    return {};
  }

 private:
  // Prepared once in init(), reused with reset + clear_bindings.
  enum class sid : std::size_t {
    begin,
    commit,
    rollback,
    savepoint,
    release,
    rollback_to,
    find_webhook,
    find_client_msg,
    read_order,
    write_order,
    bump_room,
    insert_message,
    insert_client_msg,
    insert_webhook,
    room_last_seq,
    select_messages,
    load_session,
    save_session,
    mark_read,
    read_position,
    select_messages_desc,
    list_all,
    list_status,
    list_claimer,
    list_claimer_status,
    count_
  };

  static constexpr std::size_t stmt_count = static_cast<std::size_t>(sid::count_);

  // The conversation list after a cursor, with a filter: `where` adds the
  // filter's terms (parameters from ?3), `limit` is the LIMIT's parameter
  // number. The row-value comparison is what lets SQLite seek the index
  // to the cursor; the partial indexes' WHERE terms are spelled out.
#define LIVECHAT_SQLITE_LIST_(where, limit)                                                     \
  "SELECT m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, m.text, "            \
  "m.created_at, m.client_msg_id, r.session_status, r.claimed_by_id, r.claimed_by_name, "     \
  "r.session_updated_at, r.session_version, r.last_at, r.last_order FROM rooms r "            \
  "JOIN messages m ON m.room = r.room AND m.seq = r.last_seq "                                \
  "WHERE r.last_order IS NOT NULL AND (r.last_at, r.last_order) < (?1, ?2)" where             \
  " ORDER BY r.last_at DESC, r.last_order DESC LIMIT ?" limit

  // In `sid` order. Message columns always come first, in read_message's order.
  static constexpr std::array<const char*, stmt_count> sql_ = {{
      "BEGIN IMMEDIATE",
      "COMMIT",
      "ROLLBACK",
      "SAVEPOINT livechat_write",
      "RELEASE livechat_write",
      "ROLLBACK TO livechat_write",
      "SELECT m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, m.text, "
      "m.created_at, m.client_msg_id FROM webhook_events w JOIN messages m "
      "ON m.room = w.room AND m.seq = w.seq WHERE w.event_id = ?1",
      "SELECT m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, m.text, "
      "m.created_at, m.client_msg_id FROM client_msg_ids d JOIN messages m "
      "ON m.room = d.room AND m.seq = d.seq "
      "WHERE d.room = ?1 AND d.sender_id = ?2 AND d.client_msg_id = ?3",
      "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_order'",
      "UPDATE meta SET value = ?1 WHERE key = 'last_order'",
      "INSERT INTO rooms(room, last_seq, last_order, last_at) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(room) DO UPDATE SET last_seq = excluded.last_seq, "
      "last_order = excluded.last_order, last_at = excluded.last_at",
      "INSERT INTO messages(room, seq, id, sender_type, sender_id, sender_name, text, "
      "created_at, client_msg_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      "INSERT INTO client_msg_ids(room, sender_id, client_msg_id, seq) VALUES(?1, ?2, ?3, ?4)",
      "INSERT INTO webhook_events(event_id, room, seq) VALUES(?1, ?2, ?3)",
      "SELECT last_seq FROM rooms WHERE room = ?1",
      "SELECT m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, m.text, "
      "m.created_at, m.client_msg_id FROM messages m "
      "WHERE m.room = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq",
      "SELECT session_status, claimed_by_id, claimed_by_name, session_updated_at, "
      "session_version FROM rooms WHERE room = ?1",
      "INSERT INTO rooms(room, last_seq, session_status, claimed_by_id, claimed_by_name, "
      "session_updated_at, session_version) VALUES(?1, 0, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT(room) DO UPDATE SET session_status = excluded.session_status, "
      "claimed_by_id = excluded.claimed_by_id, claimed_by_name = excluded.claimed_by_name, "
      "session_updated_at = excluded.session_updated_at, "
      "session_version = excluded.session_version",
      "INSERT INTO read_positions(room, user_id, seq) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(room, user_id) DO UPDATE SET seq = max(seq, excluded.seq)",
      "SELECT seq FROM read_positions WHERE room = ?1 AND user_id = ?2",
      "SELECT m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, m.text, "
      "m.created_at, m.client_msg_id FROM messages m "
      "WHERE m.room = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq DESC",
      LIVECHAT_SQLITE_LIST_("", "3"),
      LIVECHAT_SQLITE_LIST_(" AND coalesce(r.session_status, 'open') = ?3", "4"),
      LIVECHAT_SQLITE_LIST_(" AND r.claimed_by_id IS NOT NULL AND r.claimed_by_id = ?3", "4"),
      LIVECHAT_SQLITE_LIST_(
          " AND r.claimed_by_id IS NOT NULL AND r.claimed_by_id = ?3"
          " AND coalesce(r.session_status, 'open') = ?4",
          "5"),
  }};
#undef LIVECHAT_SQLITE_LIST_

  /// One write call. Outside a batch it opens the transaction; inside a
  /// batch that already holds writes it opens a savepoint, so a failure
  /// undoes this call alone. finish() makes it part of the batch (group
  /// commit) or commits it; the destructor undoes an unfinished write, on
  /// error returns and on exceptions alike.
  class write_scope {
   public:
    explicit write_scope(sqlite_store& s) noexcept : s_(s) {}
    write_scope(const write_scope&) = delete;
    write_scope& operator=(const write_scope&) = delete;
    ~write_scope() {
      if (open_ && !done_) undo();
    }

    int begin() noexcept {
      if (!s_.in_tx_) {
        if (int rc = s_.step_once(sid::begin); rc != SQLITE_OK) return rc;
        s_.in_tx_ = true;
      } else if (s_.pending_ > 0) {
        if (int rc = s_.step_once(sid::savepoint); rc != SQLITE_OK) return rc;
        savepoint_ = true;
      }
      open_ = true;
      return SQLITE_OK;
    }

    /// `wrote`: this call changed the database (a duplicate didn't).
    int finish(bool wrote) noexcept {
      if (savepoint_) {
        if (int rc = s_.step_once(sid::release); rc != SQLITE_OK) return rc;
        savepoint_ = false;
      }
      if (!s_.options_.group_commit) {
        if (int rc = s_.step_once(sid::commit); rc != SQLITE_OK) return rc;
        s_.in_tx_ = false;
      } else if (wrote) {
        ++s_.pending_;
      }
      done_ = true;
      return SQLITE_OK;
    }

   private:
    void undo() noexcept {
      s_.sync_transaction();
      if (!s_.in_tx_) return;  // SQLite already rolled everything back
      if (savepoint_ && s_.step_once(sid::rollback_to) == SQLITE_OK &&
          s_.step_once(sid::release) == SQLITE_OK)
        return;
      // No savepoint: the transaction holds nothing but this write.
      // (Or the savepoint could not be undone: drop the whole batch.)
      s_.step_once(sid::rollback);
      if (s_.pending_ > 0) s_.lost_ = true;
      s_.in_tx_ = sqlite3_get_autocommit(s_.db_) == 0;
      s_.pending_ = 0;
    }

    sqlite_store& s_;
    bool open_ = false;
    bool done_ = false;
    bool savepoint_ = false;
  };

  explicit sqlite_store(const sqlite_options& options) : options_(options) {}

  sqlite3_stmt* stmt(sid id) const noexcept { return stmts_[static_cast<std::size_t>(id)]; }

  /// Steps a statement without parameters once: SQLITE_OK or the error.
  int step_once(sid id) noexcept {
    detail::sqlite_query q(stmt(id));
    const int rc = q.step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }

  /// Injected failures first (they don't touch anything), then a closed store.
  std::error_code precheck() {
    const bool injected = fail_at_ && calls_ >= *fail_at_;
    ++calls_;
    if (injected) {
      last_error_ = "injected failure (fail_after)";
      return errc::store_failure;
    }
    if (db_ == nullptr) {
      last_error_ = "the database is closed";
      return errc::store_failure;
    }
    return {};
  }

  /// Records SQLite's message for `rc` and notices a transaction that
  /// SQLite rolled back on its own (I/O errors, a full disk, out of memory).
  std::error_code fail(int rc, std::string_view what) {
    last_error_.assign(what.data(), what.size()).append(": ");
    last_error_.append(db_ != nullptr && sqlite3_errcode(db_) == rc ? sqlite3_errmsg(db_)
                                                                    : sqlite3_errstr(rc));
    sync_transaction();
    return errc::store_failure;
  }

  void sync_transaction() noexcept {
    if (in_tx_ && db_ != nullptr && sqlite3_get_autocommit(db_) != 0) {
      if (pending_ > 0) lost_ = true;
      in_tx_ = false;
      pending_ = 0;
    }
  }

  result<std::uint64_t> last_seq_of(std::string_view room, std::string_view what) {
    detail::sqlite_query q(stmt(sid::room_last_seq));
    q.text(room);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::uint64_t{0};
    if (rc != SQLITE_ROW) return fail(rc, what);
    return q.unsigned_at(0);
  }

  static message read_message(const detail::sqlite_query& q, int col) {
    message m;
    m.room = q.text_at(col);
    m.seq = q.unsigned_at(col + 1);
    m.id = q.text_at(col + 2);
    // The schema's CHECK keeps anything else out.
    m.sender.type = parse_sender_type(q.text_at(col + 3)).value_or(sender_type::system);
    m.sender.id = q.text_at(col + 4);
    m.sender.name = q.text_at(col + 5);
    m.text = q.text_at(col + 6);
    m.created_at = system_time(std::chrono::milliseconds(q.integer_at(col + 7)));
    m.client_msg_id = q.text_at(col + 8);
    return m;
  }

  static session_state read_session(const detail::sqlite_query& q, int col) {
    session_state s;
    if (q.is_null(col)) return s;  // never saved: the default session
    s.status = parse_session_status(q.text_at(col)).value_or(session_status::open);
    if (!q.is_null(col + 1)) s.claimed_by = user_ref{q.text_at(col + 1), q.text_at(col + 2)};
    s.updated_at = system_time(std::chrono::milliseconds(q.integer_at(col + 3)));
    s.version = q.unsigned_at(col + 4);
    return s;
  }

  // --- opening --------------------------------------------------------------

  /// Sets last_error_ and returns false on failure; the destructor cleans up.
  bool init() {
    if (sqlite3_libversion_number() < 3024000) {
      last_error_ = "SQLite 3.24 or newer is required, this is ";
      last_error_ += sqlite3_libversion();
      return false;
    }
    if (options_.path.empty()) {
      last_error_ = "sqlite_options::path is empty";
      return false;
    }
    const int rc = sqlite3_open_v2(options_.path.c_str(), &db_,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK) return open_failed(rc, "open");
    const auto timeout = options_.busy_timeout.count();
    sqlite3_busy_timeout(db_, timeout <= 0         ? 0
                              : timeout >= INT_MAX ? INT_MAX
                                                   : static_cast<int>(timeout));

    // The first statement reads the file: garbage fails here ("file is
    // not a database").
    std::string mode;
    if (!query_text("PRAGMA journal_mode=WAL", "setting WAL mode", mode)) return false;
    // The pragma answers the mode now in force; it does not fail when WAL
    // is refused.
    for (char& ch : mode)
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    journal_mode_ = mode;
    if (mode != "wal" && !options_.allow_rollback_journal) {
      last_error_ = "journal_mode is '" + mode +
                    "', not 'wal': SQLite refused WAL (a file system without shared memory, or "
                    "an in-memory database); use a local file system, or set "
                    "allow_rollback_journal";
      return false;
    }
    if (sqlite3_db_readonly(db_, "main") == 1) {
      last_error_ = "the database file is read-only";
      return false;
    }
    const char* sync = options_.synchronous == sqlite_synchronous::full
                           ? "PRAGMA synchronous=FULL"
                           : "PRAGMA synchronous=NORMAL";
    if (!exec(sync, sync) || !exec("PRAGMA foreign_keys=ON", "enabling foreign keys")) return false;
    if (!migrate()) return false;
    if (!load_epoch()) return false;

    for (std::size_t i = 0; i < stmt_count; ++i) {
      const int prc =
          sqlite3_prepare_v3(db_, sql_[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[i], nullptr);
      if (prc != SQLITE_OK) return open_failed(prc, "prepare");
    }
    return true;
  }

  bool open_failed(int rc, const char* what) {
    last_error_.assign(what).append(": ");
    last_error_.append(db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    return false;
  }

  /// `what` names the step in the error message.
  bool exec(const char* sql, const char* what) {
    char* msg = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
    if (rc == SQLITE_OK) return true;
    last_error_.assign(what).append(": ").append(msg != nullptr ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return false;
  }

  /// Runs a one-off statement (during open only) and reads its first
  /// column as text; empty when it returns no row.
  bool query_text(const char* sql, const char* what, std::string& out) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr);
    if (rc == SQLITE_OK) {
      detail::sqlite_query q(s);
      rc = q.step();
      if (rc == SQLITE_ROW) out = q.text_at(0);
    }
    const bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    if (!ok) open_failed(rc, what);
    sqlite3_finalize(s);
    return ok;
  }

  bool user_version(int& out) {
    std::string v;
    if (!query_text("PRAGMA user_version", "reading the schema version", v)) return false;
    out = static_cast<int>(std::strtol(v.c_str(), nullptr, 10));
    return true;
  }

  bool migrate() {
    int version = 0;
    if (!user_version(version)) return false;
    if (version > schema_version) {
      last_error_ = "schema version " + std::to_string(version) +
                    " is newer than this livechat supports (" + std::to_string(schema_version) +
                    "); open it with a newer livechat";
      return false;
    }
    for (const detail::sqlite_migration& m : detail::sqlite_migrations) {
      if (m.version <= version) continue;
      const std::string step = "migration to schema version " + std::to_string(m.version);
      if (!exec("BEGIN IMMEDIATE", step.c_str())) return false;
      // Another process may have migrated since the check above.
      if (!user_version(version)) return abandon_migration();
      if (m.version <= version) {
        if (!exec("COMMIT", step.c_str())) return abandon_migration();
        continue;
      }
      const std::string bump = "PRAGMA user_version=" + std::to_string(m.version);
      if (!exec(m.sql, step.c_str()) || !exec(bump.c_str(), step.c_str()) ||
          !exec("COMMIT", step.c_str()))
        return abandon_migration();
      version = m.version;
    }
    return true;
  }

  /// Rolls back the migration step in progress; returns false (failure).
  bool abandon_migration() {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }

  bool load_epoch() {
    if (!query_text("SELECT value FROM meta WHERE key = 'epoch'", "reading the epoch", epoch_))
      return false;
    if (!epoch_.empty()) return true;
    // A new database (or one whose epoch row was lost: its history is
    // then a new lineage, which is what a new epoch tells clients).
    // Only hex digits: safe to splice into the SQL.
    const std::string fresh = detail::random_epoch();
    const std::string sql =
        "INSERT OR IGNORE INTO meta(key, value) VALUES('epoch', '" + fresh + "')";
    if (!exec(sql.c_str(), "storing the epoch")) return false;
    if (!query_text("SELECT value FROM meta WHERE key = 'epoch'", "reading the epoch", epoch_))
      return false;
    if (epoch_.empty()) {
      last_error_ = "the epoch could not be stored";
      return false;
    }
    return true;
  }

  void close() noexcept {
    for (sqlite3_stmt*& s : stmts_) {
      sqlite3_finalize(s);  // a no-op on nullptr
      s = nullptr;
    }
    sqlite3_close_v2(db_);  // a no-op on nullptr
    db_ = nullptr;
  }

  sqlite_options options_;
  sqlite3* db_ = nullptr;
  std::array<sqlite3_stmt*, stmt_count> stmts_{};
  std::string epoch_;
  std::string last_error_;
  std::string journal_mode_;
  bool in_tx_ = false;      ///< a group-commit batch (or a single write) is open
  bool lost_ = false;       ///< SQLite rolled back a batch on its own: the next flush fails
  std::size_t pending_ = 0; ///< writes in the open batch
  std::size_t calls_ = 0;
  std::optional<std::size_t> fail_at_;
};

}  // namespace livechat

#endif
