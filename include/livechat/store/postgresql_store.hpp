// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_POSTGRESQL_STORE_HPP
#define LIVECHAT_STORE_POSTGRESQL_STORE_HPP

// The MessageStore that several servers share (PROTOCOL.md "Cluster"): one
// PostgreSQL database holds the messages, the epoch, sessions, read
// positions and both dedupe records, and every server that opens it sees
// the same rooms. Target livechat::postgresql (links PostgreSQL::PostgreSQL,
// libpq). Tested with PostgreSQL 15 (Debian 12); needs 9.5 or newer
// (ON CONFLICT).

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/error.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/store/detail/fault_injection.hpp>
#include <livechat/store/detail/postgresql_appends.hpp>
#include <livechat/store/detail/postgresql_connection.hpp>
#include <livechat/store/detail/postgresql_schema.hpp>
#include <livechat/store/detail/postgresql_statement.hpp>
#include <livechat/store/detail/room_positions.hpp>
#include <livechat/store/detail/sql_rows.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/store/postgresql_options.hpp>

namespace livechat {

/// MessageStore on a PostgreSQL database, with the same semantics as
/// `memory_store` and `sqlite_store` (the conformance tests run all three),
/// shared by any number of processes.
///
/// **Across processes.** A room's `seq` is assigned by bumping the room's
/// counter row in the transaction that inserts the message: the row stays
/// locked until commit, so writers to one room, in any process, take seqs
/// one after the other, and a rolled-back write gives its seq back (seqs
/// stay gapless). The dedupe records are primary keys, claimed before the
/// message is written: a writer racing another with the same key waits for
/// it, then returns its message as the duplicate. `save_session_if` is one
/// conditional UPDATE: of two claims racing from two servers, one wins.
///
/// **Group commit.** As `sqlite_store`: the first write after a flush
/// opens a transaction, later writes join it, `flush()` commits it. Reads
/// on this store see the pending writes; other connections don't. The
/// batch holds the row lock of every room it wrote to until the flush, so
/// another server's write to such a room waits for it (one event-loop turn
/// of this server). PostgreSQL aborts a transaction at its first error, so
/// a failed write loses its whole batch: the store then refuses every
/// write until `flush()`, which reports the loss (`errc::store_failure`),
/// and no write of that batch can be acknowledged. A batch locks its rooms
/// in ascending order (by their names' bytes), the same order in every
/// process, so two servers never deadlock on each other's rooms: a write
/// to a room below one the batch already wrote to commits the batch
/// first (`ordered_commits()`), and the next batch starts with it.
///
/// **Outages.** A call that finds the connection dead fails with
/// `errc::store_failure` (a read or a write that had not started yet first
/// reconnects once and retries), and so does the batch it belonged to.
/// Every later call tries to reconnect, at most once per
/// `reconnect_interval`, re-preparing the statements; in between, calls
/// fail at once. So nothing is acknowledged that is not committed, and the
/// store recovers by itself when the server is back (`reconnects()`).
///
/// **Errors.** Every failure is `errc::store_failure`; `last_error()` says
/// what failed and why (the server's message). Nothing is cached from the
/// database besides the epoch.
///
/// **Schema.** Versioned (`schema_version`, the `schema_version` row of
/// `livechat_meta`); open runs the missing `detail::pg_migrations` in one
/// transaction, under a lock that makes servers starting together migrate
/// one after the other, and refuses a schema from a newer livechat.
///
/// Costs: one round trip per read; an append is one statement, dedupe
/// keys included, and returns the room's session with the message (a
/// duplicate costs a second one, which reads the original, and a file
/// message reads its attachment first); a write in a batch adds nothing
/// else, and the flush one round trip. The owner's thread waits for each
/// round trip.
///
/// **Queued appends.** With group commit `queue_append` sends nothing: the
/// flush sends the queued appends (in ascending room order, the lock order)
/// and COMMIT in one pipeline, so a turn of k text messages (keyed by a
/// `client_msg_id` or a `webhook_event_id`, not both) costs one round
/// trip (one per `max_pipeline` appends). A call that runs a statement
/// meanwhile carries them in its own pipeline, before its statement, so it
/// sees them at no extra round trip. A statement that fails in a pipeline
/// aborts the transaction and the server skips the rest: the whole batch
/// is lost, as after any failed write. A duplicate's original is read
/// after the commit (one more round trip).
///
/// Tests can make it fail on purpose like the other stores: after
/// `fail_after(n)` the next `n` `do_*` calls run and every later one returns
/// `errc::store_failure` without touching the database.
///
/// @par Thread Safety
/// None: one connection, used by the owner's thread (the hub's). Other
/// processes and other stores (connections) on the same database may read
/// and write meanwhile.
///
/// @par Exception Safety
/// Only `std::bad_alloc` can escape; the transaction it interrupts is
/// rolled back by the next error or left for `flush()`.
///
/// @code
/// livechat::postgresql_options opts;
/// opts.conninfo = "postgresql://livechat@db.internal:5432/livechat";
/// std::string why;
/// auto opened = livechat::postgresql_store::open(opts, why);
/// if (!opened) { std::cerr << why << '\n'; return 1; }
/// livechat::postgresql_store& store = **opened;
/// auto r = store.append(req);   // seq assigned in the open transaction
/// if (r && store.flush()) { /* committed: acknowledge */ }
/// @endcode
class postgresql_store final : public message_store, public detail::fault_injection {
 public:
  /// The room an attachment write counts as in the batch's lock order
  /// (see detail::pg_connection::begin_write): below every room name, so
  /// an attachment row is always locked before any room's rows, in every
  /// process, and the two kinds cannot wait for each other in a cycle.
  static constexpr std::string_view attachment_lock_room{};

  /// The schema version this code writes.
  static constexpr int schema_version = detail::pg_schema_version;

  /// Connects, migrates and prepares. On failure the error is
  /// `errc::store_failure` and `error_message` says why (the database and
  /// host, then libpq's or the server's message; never the password).
  static result<std::unique_ptr<postgresql_store>> open(const postgresql_options& options,
                                                        std::string& error_message) {
    error_message.clear();
    std::unique_ptr<postgresql_store> store(new postgresql_store(options));
    if (!store->init()) {
      error_message = "postgresql_store " + store->conn_.where() + ": " + store->conn_.error();
      return errc::store_failure;
    }
    return store;
  }

  static result<std::unique_ptr<postgresql_store>> open(const postgresql_options& options) {
    std::string ignored;
    return open(options, ignored);
  }

  /// Commits an open transaction (best effort: nothing was acknowledged
  /// from it yet), then closes the connection.
  ~postgresql_store() override { conn_.commit_and_close(); }

  /// The epoch of every room in this database: created with the schema,
  /// never changed afterwards.
  const std::string& epoch() const noexcept { return epoch_; }
  using message_store::epoch;

  /// What the last failure was, for logs.
  const std::string& last_error() const noexcept { return conn_.error(); }

  /// Batches committed before their flush, to keep the lock order (see
  /// "Group commit" above).
  std::size_t ordered_commits() const noexcept { return conn_.ordered_commits(); }
  /// Statements this store sent and waited for (BEGIN and COMMIT included).
  std::uint64_t round_trips() const noexcept { return conn_.round_trips(); }
  /// The time the owner's thread waited for those round trips, in total.
  std::chrono::steady_clock::duration wait_time() const noexcept { return conn_.waited(); }
  /// Of those, the round trips made while a write transaction was open
  /// (from the statement that carried its BEGIN to its COMMIT, reads in
  /// between included): what one event-loop turn's group commit costs.
  std::uint64_t batch_round_trips() const noexcept { return conn_.batch_round_trips(); }
  /// The time the owner's thread waited for `batch_round_trips()`.
  std::chrono::steady_clock::duration batch_wait_time() const noexcept { return conn_.batch_waited(); }

  /// Writes in the open transaction or queued, waiting for `flush()`.
  std::size_t pending_writes() const noexcept { return conn_.pending() + appends_.size(); }

  /// With group commit: `queue_append` sends nothing until the flush (or
  /// the next statement), which carries the queued appends and its own
  /// statement in one pipeline.
  bool defers_appends() const noexcept override { return options_.group_commit; }

  /// Most appends one pipeline carries (a longer turn: a round trip per this many).
  static constexpr std::size_t max_pipeline = detail::pg_append_queue::max_pipeline;

  /// The connection is up (as of the last call; a dead one is noticed by
  /// the next call).
  bool connected() const noexcept { return conn_.connected(); }

  /// Successful reconnections since open.
  std::size_t reconnects() const noexcept { return conn_.reconnects(); }

  const postgresql_options& options() const noexcept { return options_; }

  /// The connection, for tools. Don't leave a transaction open on it, and
  /// don't use it from another thread.
  PGconn* native_handle() const noexcept { return conn_.native(); }

  /// Test hook: simulates a crash. Closes the connection without
  /// committing (the server rolls the open transaction back); every later
  /// call fails with `errc::store_failure`.
  void abandon() noexcept { conn_.close(); }

 protected:
  // The hooks follow sqlite_store's one for one (the same signatures, the
  // precheck first): what both compute, the rows and the parameters, is
  // detail/sql_rows.hpp's; what stays here is libpq's round trips, the
  // batch's lock order and the reconnects, which SQLite has no use for.
  result<append_result> do_append(const append_request& req) override {
    return append_message(req);
  }
  result<append_result> do_append_owned(append_request&& req) override {
    return append_message(std::move(req));
  }

  /// Queues a text append for the next pipeline (see `defers_appends`).
  /// A file message (it reads its attachment first), one with both dedupe
  /// keys (a duplicate may have to release the webhook key it claimed) or
  /// a store without group commit appends at once.
  result<std::size_t> do_queue_append(const append_request& req) override {
    return queue_message(req);
  }
  result<std::size_t> do_queue_append_owned(append_request&& req) override {
    return queue_message(std::move(req));
  }

  result<std::uint64_t> do_last_seq(std::string_view room) override {
    if (auto ec = precheck()) return ec;
    detail::pg_params p;
    p.text(room);
    auto r = run(sid::room_last_seq, p);
    if (!r.ok()) return fail(r, "last_seq");
    return r.rows() == 0 ? std::uint64_t{0} : r.unsigned_at(0, 0);
  }

  result<void> do_read_messages(std::string_view room, const seq_range& range,
                                history_sink& out) override {
    if (auto ec = precheck()) return ec;
    detail::pg_params p;
    p.text(room).integer(detail::sql_int(range.after)).integer(detail::sql_int(range.through));
    auto r = run(range.newest_first ? sid::select_messages_desc : sid::select_messages, p);
    if (!r.ok()) return fail(r, "history");
    for (int row = 0; row < r.rows(); ++row)
      if (!out.add(detail::sql_read_message(detail::pg_row(r, row), 0))) break;
    return {};
  }

  result<std::string> do_epoch(std::string_view) override {
    if (auto ec = precheck()) return ec;
    return epoch_;
  }

  result<session_state> do_load_session(std::string_view room) override {
    if (auto ec = precheck()) return ec;
    detail::pg_params p;
    p.text(room);
    auto r = run(sid::load_session, p);
    if (!r.ok()) return fail(r, "load_session");
    if (r.rows() == 0) return session_state{};
    return detail::sql_read_session(detail::pg_row(r, 0), 0);
  }

  result<void> do_save_session(std::string_view room, const session_state& s) override {
    if (auto ec = precheck()) return ec;
    if (auto ec = begin_write("save_session: begin", room)) return ec;
    detail::pg_params p;
    detail::sql_bind_session(p, room, s);
    auto r = run(sid::save_session, p);
    if (!r.ok()) return fail(r, "save_session");
    if (auto ec = conn_.finish_write(true, "save_session: commit")) return ec;
    return {};
  }

  result<bool> do_save_session_if(std::string_view room, std::uint64_t expected_version,
                                  const session_state& s) override {
    if (auto ec = precheck()) return ec;
    if (auto ec = begin_write("save_session_if: begin", room)) return ec;
    detail::pg_params p;
    detail::sql_bind_session(p, room, s);
    p.integer(detail::sql_int(expected_version));
    auto r = run(sid::replace_session, p);
    if (!r.ok()) return fail(r, "save_session_if");
    bool saved = r.rows() > 0;
    if (!saved && expected_version == 0) {
      // No row matched: either the room has no row yet (version 0, create
      // it) or its version moved on (the insert then finds the row).
      detail::pg_params c;
      detail::sql_bind_session(c, room, s);
      auto created = run(sid::create_session, c);
      if (!created.ok()) return fail(created, "save_session_if: create");
      saved = created.rows() > 0;
    }
    if (auto ec = conn_.finish_write(saved, "save_session_if: commit")) return ec;
    return saved;
  }

  result<std::uint64_t> do_mark_read(std::string_view room, std::string_view user_id,
                                     std::uint64_t seq) override {
    if (auto ec = precheck()) return ec;
    // bigint is signed; no room gets near 2^63 messages.
    if (seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      conn_.set_error("mark_read: seq out of range");
      return errc::validation_error;
    }
    if (auto ec = begin_write("mark_read: begin", room)) return ec;
    detail::pg_params p;
    p.text(room).text(user_id).integer(static_cast<std::int64_t>(seq));
    auto r = run(sid::mark_read, p);
    if (!r.ok()) return fail(r, "mark_read");
    if (r.rows() != 1) return fail_logic("mark_read: no position returned");
    const std::uint64_t stored = r.unsigned_at(0, 0);
    if (auto ec = conn_.finish_write(true, "mark_read: commit")) return ec;
    return stored;
  }

  result<std::uint64_t> do_read_position(std::string_view room,
                                         std::string_view user_id) override {
    if (auto ec = precheck()) return ec;
    detail::pg_params p;
    p.text(room).text(user_id);
    auto r = run(sid::read_position, p);
    if (!r.ok()) return fail(r, "read_position");
    return r.rows() == 0 ? std::uint64_t{0} : r.unsigned_at(0, 0);
  }

  result<void> do_read_positions(std::string_view user_id, const std::vector<std::string>& rooms,
                                 std::vector<std::uint64_t>& out) override {
    if (auto ec = precheck()) return ec;
    const std::string list = detail::room_list_json(rooms);
    detail::pg_params p;
    p.text(user_id).text(list);
    auto r = run(sid::read_positions, p);
    if (!r.ok()) return fail(r, "read_positions");
    detail::room_positions found;
    for (int row = 0; row < r.rows(); ++row) found.add(r.text_at(row, 0), r.unsigned_at(row, 1));
    found.fill(rooms, out);
    return {};
  }

  result<void> do_list_conversations(const conversation_query& cq,
                                     const std::optional<conversation_position>& after,
                                     conversation_sink& out) override {
    if (auto ec = precheck()) return ec;
    detail::pg_params p;
    detail::sql_bind_list(p, cq, after);
    auto r = run(detail::sql_list_statement<sid>(cq), p);
    if (!r.ok()) return fail(r, "list_conversations");
    for (int row = 0; row < r.rows(); ++row)
      if (!detail::sql_add_conversation(detail::pg_row(r, row), out)) break;
    return {};
  }

  /// Commits the open transaction. Fails (`errc::store_failure`) when the
  /// commit fails or when the batch was already lost to an earlier error:
  /// either way none of its writes is stored.
  result<void> do_flush() override {
    std::error_code ec = injected();
    if (!ec && (appends_.empty() || conn_.lost())) {
      appends_.drop_queued();  // a lost batch: never sent, their results stay failures
      ec = conn_.flush();
    } else if (!ec) {
      ec = send_queued(nullptr, nullptr, true);
    }
    appends_.drop_queued();
    const auto duplicates = appends_.take_duplicates();
    if (ec) return ec;
    detail::pg_append_queue::read_originals(conn_, duplicates, [&](std::size_t ticket, append_result r) {
      held_result(ticket) = std::move(r);
    });
    return {};
  }

  // The attachment hooks; their bodies are in impl/postgresql_attachments.hpp.
  result<void> do_put_attachment(const attachment_record& a, std::string_view content) override;
  result<std::optional<attachment_record>> do_find_attachment(std::string_view id) override;
  result<std::optional<std::string>> do_attachment_content(std::string_view id) override;
  result<attachment_update> do_finish_attachment(std::string_view id, attachment_status status,
                                                 std::string_view content,
                                                 std::string_view content_type) override;

 private:
  /// do_append's body; `Request` is `const append_request&` or
  /// `append_request` (an owned request: its strings move into the result).
  template <class Request>
  result<append_result> append_message(Request&& req) {
    if (auto ec = precheck()) return ec;
    // A file message needs its attachment (the record is what it shows),
    // checked before anything is written or claimed. Attachments are never
    // deleted, so the record cannot go away before the insert.
    std::optional<attachment_record> file;
    if (const auto* f = std::get_if<file_attachment>(&req.attachment)) {
      auto found = read_attachment(f->id);
      if (!found) return found.error();
      if (!*found) return errc::validation_error;
      file = std::move(*found);
    }
    if (auto ec = begin_write("append: begin", req.room)) return ec;

    // One statement claims the dedupe keys, bumps the room's counter,
    // stores the message and returns the session (pg_sql's `append`); a
    // duplicate writes nothing and returns the original.
    detail::pg_params p;
    detail::pg_bind_append(p, req, epoch_);
    if (p.overflow()) return fail_logic("append: a field is too long for PostgreSQL");
    auto r = run(sid::append, p);
    if (!r.ok()) return fail(r, "append");
    if (r.rows() != 1) return fail_logic("append: the statement returned no row");
    const detail::pg_row row(r, 0);
    if (!row.is_null(0)) {
      const std::uint64_t seq = row.unsigned_at(0);
      if (auto ec = conn_.finish_write(true, "append: commit")) return ec;
      append_result out{std::forward<Request>(req).stored_as(seq, row.text_at(1)), false,
                        detail::sql_read_session(row, 2)};
      if (file) out.message.attachment = file->as_file();
      return out;
    }
    auto original = duplicate_of(req, row);
    if (!original) return original.error();
    if (auto ec = conn_.finish_write(false, "append: commit")) return ec;
    return append_result{std::move(*original), true, session_state{}};
  }

  /// do_queue_append's body (see append_message for `Request`).
  template <class Request>
  result<std::size_t> queue_message(Request&& req) {
    if (!options_.group_commit ||
        (!req.webhook_event_id.empty() && !req.client_msg_id.empty()) ||
        std::holds_alternative<file_attachment>(req.attachment))
      return hold_appended(append_message(std::forward<Request>(req)));
    if (auto ec = precheck()) return ec;
    if (auto ec = conn_.writable("append")) return ec;
    detail::pg_params p;
    detail::pg_bind_append(p, req, epoch_);
    if (p.overflow()) return conn_.set_error("append: a field is too long for PostgreSQL");
    // Memory stays bounded: a full queue goes out now, in the open batch.
    if (appends_.size() >= max_pipeline)
      if (auto ec = send_queued(nullptr, nullptr, false)) return ec;
    const std::size_t ticket = hold_result(errc::store_failure);  // until its pipeline answers
    appends_.push(std::forward<Request>(req), ticket);
    return ticket;
  }

  /// What the default do_queue_append does with an append made at once.
  result<std::size_t> hold_appended(result<append_result> r) {
    if (!r) return r.error();
    return hold_result(std::move(r));
  }

  using sid = detail::pg_sid;

  result<std::vector<std::string>> do_pending_attachments(std::size_t limit) override;

  /// The earlier message of a duplicate append, whose result row is `row`
  /// (see pg_sql's `append`), read by a new statement: it also sees an
  /// original that another transaction committed while the append waited
  /// for its key. A webhook key claimed for the message that was not
  /// stored (its client_msg_id was the duplicate) is released.
  result<message> duplicate_of(const append_request& req, const detail::pg_row& row) {
    constexpr int claimed_webhook = 7;
    const bool webhook_taken = !req.webhook_event_id.empty() && row.is_null(claimed_webhook);
    if (!row.is_null(claimed_webhook)) {
      const std::string unused_id = row.text_at(claimed_webhook);
      detail::pg_params u;
      u.text(req.webhook_event_id).text(unused_id);
      auto undone = run(sid::unclaim_webhook, u);
      if (!undone.ok()) return fail(undone, "append: webhook dedupe release");
    }
    detail::pg_params f;
    if (webhook_taken)
      f.text(req.webhook_event_id);
    else
      f.text(req.room).text(req.sender.id).text(req.client_msg_id);
    auto found = run(webhook_taken ? sid::find_webhook : sid::find_client_msg, f);
    if (!found.ok()) return fail(found, "append: dedupe lookup");
    if (found.rows() == 0) return fail_logic("append: a dedupe record without message");
    return detail::sql_read_message(detail::pg_row(found, 0), 0);
  }

  /// The record of attachment `id`, if any (no precheck: the caller's).
  result<std::optional<attachment_record>> read_attachment(std::string_view id);

  explicit postgresql_store(const postgresql_options& options)
      : options_(options), conn_(options.group_commit, options.reconnect_interval) {}

  /// Injected failures (they touch nothing), counted as calls.
  std::error_code injected() {
    if (!injected_failure()) return {};
    return conn_.set_error("injected failure (fail_after)");
  }

  /// Injected failures first, then the connection: replaced when it is
  /// down and the interval allows.
  std::error_code precheck() {
    if (auto ec = injected()) return ec;
    return conn_.check();
  }

  /// A statement; while appends are queued, in one pipeline after them.
  detail::pg_result run(sid id, const detail::pg_params& p) {
    failed_in_pipeline_ = false;
    const bool write = tail_write_;
    tail_write_ = false;
    if (appends_.empty()) return conn_.run(id, p);
    const detail::pg_connection::step tail{id, tail_room_, write};
    detail::pg_result out;
    if (send_queued(&tail, &p, false, &out)) {
      failed_in_pipeline_ = true;
      return detail::pg_result();
    }
    return out;
  }
  std::error_code fail(const detail::pg_result& r, const char* what) {
    // A failed pipeline has said why and rolled the batch back already.
    if (failed_in_pipeline_) {
      failed_in_pipeline_ = false;
      return errc::store_failure;
    }
    return conn_.fail(r, what);
  }

  /// Opens a write in the batch (pg_connection::begin_write); while
  /// appends are queued, its statement follows them in their pipeline,
  /// which keeps the lock order.
  std::error_code begin_write(const char* what, std::string_view room) {
    if (appends_.empty()) return conn_.begin_write(what, room);
    if (auto ec = conn_.writable(what)) return ec;
    tail_room_.assign(room.data(), room.size());
    tail_write_ = true;
    return {};
  }

  /// The queued appends (see detail::pg_append_queue::send), their
  /// results into the kept ones.
  std::error_code send_queued(const detail::pg_connection::step* tail,
                              const detail::pg_params* tail_params, bool commit,
                              detail::pg_result* tail_result = nullptr) {
    return appends_.send(conn_, epoch_, tail, tail_params, commit, tail_result,
                         [&](std::size_t ticket, append_result r) { held_result(ticket) = std::move(r); });
  }
  std::error_code fail_logic(const char* what) { return conn_.fail_logic(what); }

  /// False with the reason in `conn_.error()`; the destructor cleans up.
  bool init() {
    if (options_.conninfo.empty()) {
      conn_.set_error("postgresql_options::conninfo is empty");
      return false;
    }
    return conn_.connect(options_.conninfo, options_.connect_timeout) &&
           detail::pg_migrate(conn_.native(), epoch_, conn_.error()) && conn_.prepare();
  }

  postgresql_options options_;
  detail::pg_connection conn_;
  std::string epoch_;
  detail::pg_append_queue appends_;  ///< queue_append's, not sent yet
  std::string tail_room_;                  ///< the room of the write begin_write opened
  bool tail_write_ = false;                ///< begin_write opened one with appends queued
  bool failed_in_pipeline_ = false;        ///< the last run's pipeline failed (and said why)
};

}  // namespace livechat

#include <livechat/store/impl/postgresql_attachments.hpp>

#endif
