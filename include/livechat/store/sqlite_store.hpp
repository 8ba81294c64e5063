// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_SQLITE_STORE_HPP
#define LIVECHAT_STORE_SQLITE_STORE_HPP

// The durable MessageStore (PROTOCOL.md "Durability"): one SQLite file in
// WAL mode holds the messages, the epoch, sessions, read positions and both
// dedupe records, so all of them survive a restart, SIGKILL included.
// Target livechat::sqlite (links SQLite::SQLite3). Needs SQLite >= 3.24
// (UPSERT); Debian 12 has 3.40.

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/store/detail/fault_injection.hpp>
#include <livechat/store/detail/room_positions.hpp>
#include <livechat/store/detail/sqlite_batch_counters.hpp>
#include <livechat/store/detail/sqlite_open.hpp>
#include <livechat/store/detail/sqlite_schema.hpp>
#include <livechat/store/detail/sqlite_statement.hpp>
#include <livechat/store/detail/sqlite_transaction.hpp>
#include <livechat/store/detail/sql_rows.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/store/sqlite_options.hpp>

#if SQLITE_VERSION_NUMBER < 3024000
#error "livechat/store/sqlite_store.hpp needs SQLite 3.24 or newer (UPSERT)"
#endif

namespace livechat {

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
/// atomic on its own (a savepoint inside the batch, or for a plain message
/// its single INSERT): a failed write leaves no trace and the earlier
/// pending writes stay pending.
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
/// plus a commit per flush; with group commit an append inserts its
/// message row only (one statement, no savepoint, its client_msg_id
/// indexed with it), and the batch writes the id counter and each written
/// room's row once, before its COMMIT (detail/sqlite_batch_counters.hpp);
/// `history` O(log n + limit) (a room's messages are consecutive rows,
/// clustered by (room, seq)), stopping at the byte budget;
/// `list_conversations` O(log n + limit) through an index per filter (v2),
/// never a scan and sort.
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
/// A process that owns its SQLite can call
/// `sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0)` before its first SQLite
/// call: SQLite then stops counting its memory, and with the count a
/// global mutex taken on every allocation (about 7 % of an append's
/// instructions). The bundled server does; a library cannot, as the
/// setting is the whole process's.
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
class sqlite_store final : public message_store, public detail::fault_injection {
 public:
  /// The schema version this code writes; `PRAGMA user_version` of a
  /// database it has opened.
  static constexpr int schema_version = detail::sqlite_schema_version;

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
    if (db_ != nullptr && tx_.open() &&
        (write_deferred("close: write the batch's counters") || tx_.commit() != SQLITE_OK))
      tx_.rollback();
    close();
  }

  /// The epoch of every room in this store: created with the database,
  /// never changed afterwards.
  const std::string& epoch() const noexcept { return epoch_; }
  using message_store::epoch;

  /// What the last failure was, for logs ("append: database is locked").
  const std::string& last_error() const noexcept { return last_error_; }

  /// Writes in the open transaction, waiting for `flush()`.
  std::size_t pending_writes() const noexcept { return tx_.pending(); }

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
    if (db_ != nullptr) tx_.rollback();
    close();
  }

 protected:
  result<append_result> do_append(const append_request& req) override {
    return append_message(req);
  }
  result<append_result> do_append_owned(append_request&& req) override {
    return append_message(std::move(req));
  }

  result<std::uint64_t> do_last_seq(std::string_view room) override {
    if (auto ec = precheck()) return ec;
    // The rooms row may wait for the batch's commit (write_deferred).
    if (tx_.open())
      if (const auto known = counters_.last_seq(tx_.batch(), room)) return *known;
    return last_seq_of(room, "last_seq");
  }

  result<void> do_read_messages(std::string_view room, const seq_range& r,
                                history_sink& out) override {
    if (auto ec = precheck()) return ec;
    detail::sqlite_query q(stmt(r.newest_first ? sid::select_messages_desc : sid::select_messages));
    q.text(room)
        .integer(static_cast<std::int64_t>(r.after))
        .integer(static_cast<std::int64_t>(r.through));
    int rc;
    while ((rc = q.step()) == SQLITE_ROW)
      if (!out.add(detail::sql_read_message(q, 0))) return {};
    if (rc != SQLITE_DONE) return fail(rc, "history");
    return {};
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
    return detail::sql_read_session(q, 0);
  }

  result<void> do_save_session(std::string_view room, const session_state& s) override {
    if (auto ec = precheck()) return ec;
    detail::sqlite_transaction::write w(tx_, db_);
    if (int rc = w.begin(); rc != SQLITE_OK) return fail(rc, "save_session: begin");
    counters_.forget_session(room);
    {
      detail::sqlite_query q(stmt(sid::save_session));
      detail::sql_bind_session(q, room, s);
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
    detail::sqlite_transaction::write w(tx_, db_);
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

  result<void> do_read_positions(std::string_view user_id, const std::vector<std::string>& rooms,
                                 std::vector<std::uint64_t>& out) override {
    if (auto ec = precheck()) return ec;
    const std::string list = detail::room_list_json(rooms);
    detail::room_positions found;
    detail::sqlite_query q(stmt(sid::read_positions));
    q.text(user_id).text(list);
    // At most one row per distinct room: bounded by rooms.size().
    for (std::size_t n = 0; n <= rooms.size(); ++n) {
      const int rc = q.step();
      if (rc == SQLITE_DONE) {
        found.fill(rooms, out);
        return {};
      }
      if (rc != SQLITE_ROW) return fail(rc, "read_positions");
      found.add(q.text_at(0), q.unsigned_at(1));
    }
    return fail(SQLITE_ERROR, "read_positions: more rows than rooms");
  }

  result<void> do_list_conversations(const conversation_query& cq,
                                     const std::optional<conversation_position>& after,
                                     conversation_sink& out) override {
    if (auto ec = precheck()) return ec;
    // The list reads the rooms rows: they must hold the batch's counters.
    if (auto ec = write_deferred("list_conversations: write the batch's counters")) {
      tx_.lose();  // partly written: the batch cannot be committed as it is
      return ec;
    }
    detail::sqlite_query q(stmt(detail::sql_list_statement<sid>(cq)));
    detail::sql_bind_list(q, cq, after);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW)
      if (!detail::sql_add_conversation(q, out)) return {};
    if (rc != SQLITE_DONE) return fail(rc, "list_conversations");
    return {};
  }

  /// Commits the open transaction; on failure rolls it back (the pending
  /// writes are lost) and returns `errc::store_failure`.
  result<void> do_flush() override {
    if (auto ec = precheck()) return ec;
    if (tx_.take_lost()) {
      // SQLite rolled the batch back on its own after an error (an I/O
      // error, a full disk); the failed call reported it, and the writes
      // before it must not be acknowledged either.
      last_error_ = "flush: the pending writes were rolled back after an earlier error";
      return errc::store_failure;
    }
    if (!tx_.open()) return {};
    if (auto ec = write_deferred("flush: write the batch's counters")) {
      tx_.drop();
      return ec;
    }
    if (const int rc = tx_.commit(); rc != SQLITE_OK) {
      auto ec = fail(rc, "flush: commit");
      tx_.drop();  // a failed COMMIT may leave it open
      return ec;
    }
    return {};
  }

  // The attachment hooks; their bodies are in impl/sqlite_attachments.hpp.
  result<void> do_put_attachment(const attachment_record& a, std::string_view content) override;
  result<std::optional<attachment_record>> do_find_attachment(std::string_view id) override;
  result<std::optional<std::string>> do_attachment_content(std::string_view id) override;
  result<attachment_update> do_finish_attachment(std::string_view id, attachment_status status,
                                                 std::string_view content,
                                                 std::string_view content_type) override;
  result<std::vector<std::string>> do_pending_attachments(std::size_t limit) override;

 private:
  /// do_append's body; `Request` is `const append_request&` or
  /// `append_request` (an owned request: its strings move into the result).
  template <class Request>
  result<append_result> append_message(Request&& req) {
    if (auto ec = precheck()) return ec;
    // With group commit, a message without a file to link or a webhook
    // event to record is one INSERT, the last step that can fail: atomic by
    // itself, so it needs no savepoint inside the batch
    // (sqlite_transaction::write). Everything it needs is read before it.
    // (Without group commit every write is a transaction of its own.)
    const auto* file_ref = std::get_if<file_attachment>(&req.attachment);
    const bool one_statement =
        options_.group_commit && file_ref == nullptr && req.webhook_event_id.empty();
    detail::sqlite_transaction::write w(tx_, db_);
    if (int rc = w.begin(one_statement); rc != SQLITE_OK) return fail(rc, "append: begin");

    // The dedupe lookups run inside the write transaction, so no other
    // connection can store the same key between the lookup and the insert.
    std::optional<message> original;
    if (!req.webhook_event_id.empty()) {
      detail::sqlite_query q(stmt(sid::find_webhook));
      q.text(req.webhook_event_id);
      const int rc = q.step();
      if (rc == SQLITE_ROW) original = detail::sql_read_message(q, 0);
      else if (rc != SQLITE_DONE) return fail(rc, "append: webhook dedupe lookup");
    }
    if (!original && !req.client_msg_id.empty()) {
      detail::sqlite_query q(stmt(sid::find_client_msg));
      q.text(req.room).text(req.sender.id).text(req.client_msg_id);
      const int rc = q.step();
      if (rc == SQLITE_ROW) original = detail::sql_read_message(q, 0);
      else if (rc != SQLITE_DONE) return fail(rc, "append: client_msg_id dedupe lookup");
    }
    if (original) {
      // Nothing written: nothing to undo, nothing added to the batch.
      if (int rc = w.finish(false); rc != SQLITE_OK) return fail(rc, "append: commit");
      return append_result{std::move(*original), true, session_state{}};
    }

    // Counters are read inside the write transaction, and kept only for
    // the rest of it (sqlite_batch_counters), so a rolled-back batch leaves
    // nothing stale behind. With group commit their writes wait for the
    // batch's commit (write_deferred): only the batch's last values count.
    const bool defer = options_.group_commit;
    const std::uint64_t batch = tx_.batch();
    // The room's entry for this batch, taken before anything is written.
    detail::sqlite_batch_counters::room_entry* known =
        defer ? &counters_.entry_of(batch, req.room) : nullptr;
    std::uint64_t seq = 0;
    std::string id;
    std::int64_t order = 0;
    if (const auto last = counters_.order(batch)) {
      order = *last + 1;  // this batch wrote it last: no read
    } else {
      detail::sqlite_query q(stmt(sid::read_order));
      const int rc = q.step();
      if (rc != SQLITE_ROW) return fail(rc, "append: read the message counter");
      order = q.integer_at(0) + 1;
    }
    if (!defer) {
      detail::sqlite_query q(stmt(sid::write_order));
      q.integer(order);
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: bump the message counter");
    }
    // A file message needs its attachment: the record is what it shows.
    std::optional<attachment_record> file;
    if (file_ref != nullptr) {
      auto found = read_attachment(file_ref->id);
      if (!found) return found.error();
      if (!*found) return errc::validation_error;  // nothing written yet: the savepoint rolls back
      file = std::move(*found);
    }
    if (known != nullptr && known->has_seq) {
      seq = known->bump.seq + 1;
    } else if (known != nullptr) {
      // The batch's first message in this room: its seq and session are
      // one row, read once.
      detail::sqlite_query q(stmt(sid::room_state));
      q.text(req.room);
      const int rc = q.step();
      known->session = rc == SQLITE_ROW ? detail::sql_read_session(q, 1) : session_state{};
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(rc, "append: read the room");
      known->has_session = true;
      known->has_row = rc == SQLITE_ROW;
      seq = (rc == SQLITE_ROW ? q.unsigned_at(0) : 0) + 1;
    } else {
      auto last = last_seq_of(req.room, "append: read the room's seq");
      if (!last) return last.error();
      seq = *last + 1;
    }
    const std::int64_t created_ms = req.now.time_since_epoch().count();
    const detail::sqlite_batch_counters::room_bump bump{seq, order, created_ms};
    if (!defer) {
      if (const int rc = write_room_bump(req.room, bump); rc != SQLITE_DONE)
        return fail(rc, "append: bump the room's seq");
    }
    // The session for the caller's conversation_activity, so the caller
    // doesn't read it again: read once per room and batch (only
    // save_session changes it, and it forgets what was read).
    session_state session;
    if (known != nullptr && known->has_session) {
      session = known->session;
    } else {
      detail::sqlite_query q(stmt(sid::load_session));
      q.text(req.room);
      const int rc = q.step();
      if (rc == SQLITE_ROW)
        session = detail::sql_read_session(q, 0);
      else if (rc != SQLITE_DONE)
        return fail(rc, "append: read the session");
      if (known != nullptr) {
        known->session = session;
        known->has_session = true;
      }
    }
    id.reserve(epoch_.size() + 21);
    id.append(epoch_).append(1, '-').append(std::to_string(order));
    {
      // Its client_msg_id is the dedupe key too (messages_by_client_msg_id).
      detail::sqlite_query q(stmt(sid::insert_message));
      q.text(req.room)
          .integer(static_cast<std::int64_t>(seq))
          .text(id)
          .text(to_string(req.sender.type))
          .text(req.sender.id)
          .text(req.sender.name)
          .text(req.text)
          .integer(created_ms)
          .text_or_null(req.client_msg_id);
      detail::sql_bind_rich(q, req.kind, req.attachment);
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: insert message");
    }
    // Only a write in a savepoint goes on from here (!one_statement).
    if (file && file->seq == 0) {
      detail::sqlite_query q(stmt(sid::claim_attachment));
      q.text(file->id).text(req.room).integer(static_cast<std::int64_t>(seq));
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: link the attachment");
    }
    if (!req.webhook_event_id.empty()) {
      detail::sqlite_query q(stmt(sid::insert_webhook));
      q.text(req.webhook_event_id).text(req.room).integer(static_cast<std::int64_t>(seq));
      const int rc = q.step();
      if (rc != SQLITE_DONE) return fail(rc, "append: insert webhook event record");
    }
    if (int rc = w.finish(true); rc != SQLITE_OK) return fail(rc, "append: commit");
    if (known != nullptr && tx_.open()) counters_.wrote(*known, order, bump, defer);

    append_result out{std::forward<Request>(req).stored_as(seq, std::move(id)), false,
                      std::move(session)};
    if (file) out.message.attachment = file->as_file();
    return out;
  }

  using sid = detail::sqlite_sid;

  /// The record of attachment `id`, if any (no precheck: the caller's).
  result<std::optional<attachment_record>> read_attachment(std::string_view id);

  explicit sqlite_store(const sqlite_options& options)
      : options_(options), tx_(stmts_, options_.group_commit) {}

  sqlite3_stmt* stmt(sid id) const noexcept { return stmts_[id]; }

  /// Injected failures first (they don't touch anything), then a closed store.
  std::error_code precheck() {
    if (injected_failure()) {
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
    tx_.sync(db_);
    return errc::store_failure;
  }

  int write_room_bump(std::string_view room, const detail::sqlite_batch_counters::room_bump& b) {
    detail::sqlite_query q(stmt(sid::bump_room));
    q.text(room).integer(static_cast<std::int64_t>(b.seq)).integer(b.order).integer(b.at_ms);
    return q.step();
  }

  /// Writes the counters the open batch deferred (the message order, each
  /// written room's row): before its COMMIT, and before this connection
  /// reads the rows. On failure the batch is partly written: the caller
  /// rolls it back.
  std::error_code write_deferred(std::string_view what) {
    if (!tx_.open() || !counters_.pending(tx_.batch())) return {};
    int rc = SQLITE_DONE;
    {
      detail::sqlite_query q(stmt(sid::write_order));
      q.integer(counters_.pending_order());
      rc = q.step();
    }
    if (rc == SQLITE_DONE)
      counters_.each_pending_room(
          [&](std::string_view room, const detail::sqlite_batch_counters::room_entry& e) {
            if (e.has_row) {
              // Rows are never deleted; but should it be gone, the upsert
              // below writes it again.
              detail::sqlite_query q(stmt(sid::update_room));
              q.text(room)
                  .integer(static_cast<std::int64_t>(e.bump.seq))
                  .integer(e.bump.order)
                  .integer(e.bump.at_ms);
              rc = q.step();
              if (rc != SQLITE_DONE || sqlite3_changes(db_) > 0) return rc == SQLITE_DONE;
            }
            rc = write_room_bump(room, e.bump);
            return rc == SQLITE_DONE;
          });
    if (rc != SQLITE_DONE) return fail(rc, what);
    counters_.written();
    return {};
  }

  result<std::uint64_t> last_seq_of(std::string_view room, std::string_view what) {
    detail::sqlite_query q(stmt(sid::room_last_seq));
    q.text(room);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return std::uint64_t{0};
    if (rc != SQLITE_ROW) return fail(rc, what);
    return q.unsigned_at(0);
  }

  /// Sets last_error_ and returns false on failure; the destructor cleans up.
  bool init() {
    if (!detail::sqlite_open(options_, db_, journal_mode_, last_error_) ||
        !detail::sqlite_migrate(db_, last_error_) ||
        !detail::sqlite_load_epoch(db_, epoch_, last_error_))
      return false;
    if (const int rc = stmts_.prepare(db_); rc != SQLITE_OK)
      return detail::sqlite_failed(db_, rc, "prepare", last_error_);
    return true;
  }

  void close() noexcept {
    stmts_.finalize();
    sqlite3_close_v2(db_);  // a no-op on nullptr
    db_ = nullptr;
  }

  sqlite_options options_;
  sqlite3* db_ = nullptr;
  detail::sqlite_statements stmts_;
  detail::sqlite_transaction tx_;
  detail::sqlite_batch_counters counters_;  ///< the open batch's counters, never read twice
  std::string epoch_;
  std::string last_error_;
  std::string journal_mode_;
};

}  // namespace livechat

#include <livechat/store/impl/sqlite_attachments.hpp>

#endif
