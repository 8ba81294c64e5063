// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQLITE_STATEMENT_HPP
#define LIVECHAT_STORE_DETAIL_SQLITE_STATEMENT_HPP

// sqlite_store's statements: every query it runs, prepared once per
// connection and reused, and the wrapper that binds and reads one use of a
// statement (a row and a parameter list for detail/sql_rows.hpp).

#include <sqlite3.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>


namespace livechat::detail {

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
  /// Bound without a copy, as text: the bytes must outlive the query.
  sqlite_query& blob(std::string_view v) noexcept {
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_blob64(s_, ++index_, v.data() != nullptr ? v.data() : "",
                                static_cast<sqlite3_uint64>(v.size()), nullptr /* static */);
    return *this;
  }
  sqlite_query& real(double v) noexcept {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_double(s_, ++index_, v);
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
  double real_at(int col) const noexcept { return sqlite3_column_double(s_, col); }
  std::string blob_at(int col) const {
    const void* p = sqlite3_column_blob(s_, col);  // before _bytes, as documented
    const int n = sqlite3_column_bytes(s_, col);
    if (p == nullptr || n <= 0) return {};
    return std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
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

// Prepared once when the store opens, reused with reset + clear_bindings.
enum class sqlite_sid : std::size_t {
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
  put_attachment,
  find_attachment,
  attachment_content,
  claim_attachment,
  finish_attachment,
  select_message_at,
  read_positions,
  pending_attachments,
  room_state,
  update_room,
  count_
};

inline constexpr std::size_t sqlite_stmt_count = static_cast<std::size_t>(sqlite_sid::count_);

// The conversation list after a cursor, with a filter: `where` adds the
// filter's terms (parameters from ?3), `limit` is the LIMIT's parameter
// number. The row-value comparison is what lets SQLite seek the index
// to the cursor; the partial indexes' WHERE terms are spelled out.
// A message's columns (sql_read_message's order, detail/sql_rows.hpp;
// schema v3 on) and the join that brings its file's metadata.
#define LIVECHAT_SQLITE_MESSAGE_ "m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, " \
  "m.text, m.created_at, m.client_msg_id, m.kind, m.attachment_id, m.sticker_package_id, "         \
  "m.sticker_id, m.location_title, m.location_address, m.latitude, m.longitude, a.status, "        \
  "a.content_type, a.size, a.name, a.duration_ms"
#define LIVECHAT_SQLITE_FILE_ " LEFT JOIN attachments a ON a.id = m.attachment_id "

#define LIVECHAT_SQLITE_LIST_(where, limit)                                                       \
  "SELECT " LIVECHAT_SQLITE_MESSAGE_ ", r.session_status, r.claimed_by_id, r.claimed_by_name, "   \
  "r.session_updated_at, r.session_version, r.last_at, r.last_order FROM rooms r "                \
  "JOIN messages m ON m.room = r.room AND m.seq = r.last_seq" LIVECHAT_SQLITE_FILE_               \
  "WHERE r.last_order IS NOT NULL AND (r.last_at, r.last_order) < (?1, ?2)" where                 \
  " ORDER BY r.last_at DESC, r.last_order DESC LIMIT ?" limit

// In `sqlite_sid` order. Message columns always come first, in sql_read_message's order;
// the parameters of save_session, put_attachment and finish_attachment and the
// list queries' are in sql_rows.hpp's binders' order.
inline constexpr std::array<const char*, sqlite_stmt_count> sqlite_sql = {{
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT livechat_write",
    "RELEASE livechat_write",
    "ROLLBACK TO livechat_write",
    "SELECT " LIVECHAT_SQLITE_MESSAGE_ " FROM webhook_events w JOIN messages m "
    "ON m.room = w.room AND m.seq = w.seq" LIVECHAT_SQLITE_FILE_ "WHERE w.event_id = ?1",
    // find_client_msg: through the partial index messages_by_client_msg_id (v4).
    "SELECT " LIVECHAT_SQLITE_MESSAGE_ " FROM messages m" LIVECHAT_SQLITE_FILE_
    "WHERE m.room = ?1 AND m.sender_id = ?2 AND m.client_msg_id = ?3",
    "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_order'",
    "UPDATE meta SET value = ?1 WHERE key = 'last_order'",
    "INSERT INTO rooms(room, last_seq, last_order, last_at) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(room) DO UPDATE SET last_seq = excluded.last_seq, "
    "last_order = excluded.last_order, last_at = excluded.last_at",
    "INSERT INTO messages(room, seq, id, sender_type, sender_id, sender_name, text, "
    "created_at, client_msg_id, kind, attachment_id, sticker_package_id, sticker_id, "
    "location_title, location_address, latitude, longitude) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    "INSERT INTO webhook_events(event_id, room, seq) VALUES(?1, ?2, ?3)",
    "SELECT last_seq FROM rooms WHERE room = ?1",
    "SELECT " LIVECHAT_SQLITE_MESSAGE_ " FROM messages m" LIVECHAT_SQLITE_FILE_
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
    "SELECT " LIVECHAT_SQLITE_MESSAGE_ " FROM messages m" LIVECHAT_SQLITE_FILE_
    "WHERE m.room = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq DESC",
    LIVECHAT_SQLITE_LIST_("", "3"),
    LIVECHAT_SQLITE_LIST_(" AND coalesce(r.session_status, 'open') = ?3", "4"),
    LIVECHAT_SQLITE_LIST_(" AND r.claimed_by_id IS NOT NULL AND r.claimed_by_id = ?3", "4"),
    LIVECHAT_SQLITE_LIST_(
        " AND r.claimed_by_id IS NOT NULL AND r.claimed_by_id = ?3"
        " AND coalesce(r.session_status, 'open') = ?4",
        "5"),
    "INSERT INTO attachments(id, owner, status, content_type, size, name, duration_ms, "
    "created_at, content) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO NOTHING",
    "SELECT id, owner, room, seq, status, content_type, size, name, duration_ms, created_at "
    "FROM attachments WHERE id = ?1",
    "SELECT content FROM attachments WHERE id = ?1 AND status = 'ready'",
    "UPDATE attachments SET room = ?2, seq = ?3 WHERE id = ?1 AND seq IS NULL",
    "UPDATE attachments SET status = ?2, size = ?3, content = ?4, "
    "content_type = coalesce(?5, content_type) WHERE id = ?1 "
    "AND (status = 'pending' OR (status = 'failed' AND ?2 = 'ready'))",
    "SELECT " LIVECHAT_SQLITE_MESSAGE_ " FROM messages m" LIVECHAT_SQLITE_FILE_
    "WHERE m.room = ?1 AND m.seq = ?2",
    // read_positions: ?2 is a JSON array of rooms; each is a primary-key lookup.
    "SELECT room, seq FROM read_positions "
    "WHERE user_id = ?1 AND room IN (SELECT value FROM json_each(?2))",
    // pending_attachments: once at startup, so a scan is fine (no index to maintain).
    "SELECT id FROM attachments WHERE status = 'pending' ORDER BY created_at, id LIMIT ?1",
    // room_state: an append's first look at a room in a batch, seq and session in one read.
    "SELECT last_seq, session_status, claimed_by_id, claimed_by_name, session_updated_at, "
    "session_version FROM rooms WHERE room = ?1",
    // update_room: bump_room for a room whose row exists, without the
    // INSERT that an upsert tries first.
    "UPDATE rooms SET last_seq = ?2, last_order = ?3, last_at = ?4 WHERE room = ?1",
}};
#undef LIVECHAT_SQLITE_LIST_
#undef LIVECHAT_SQLITE_MESSAGE_
#undef LIVECHAT_SQLITE_FILE_

/// The prepared statements of one connection, by `sqlite_sid`.
class sqlite_statements {
 public:
  sqlite_statements() = default;
  sqlite_statements(const sqlite_statements&) = delete;
  sqlite_statements& operator=(const sqlite_statements&) = delete;
  ~sqlite_statements() { finalize(); }

  /// Prepares every statement on `db`: SQLITE_OK or the first error.
  int prepare(sqlite3* db) noexcept {
    for (std::size_t i = 0; i < sqlite_stmt_count; ++i) {
      const int rc =
          sqlite3_prepare_v3(db, sqlite_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[i], nullptr);
      if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
  }

  /// Before the connection closes.
  void finalize() noexcept {
    for (sqlite3_stmt*& s : stmts_) {
      sqlite3_finalize(s);  // a no-op on nullptr
      s = nullptr;
    }
  }

  sqlite3_stmt* operator[](sqlite_sid id) const noexcept {
    return stmts_[static_cast<std::size_t>(id)];
  }

  /// Steps a statement without parameters once: SQLITE_OK or the error.
  int step_once(sqlite_sid id) noexcept {
    sqlite_query q((*this)[id]);
    const int rc = q.step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }

 private:
  std::array<sqlite3_stmt*, sqlite_stmt_count> stmts_{};
};

// One-off statements, for opening and migrating: each returns false on
// failure and sets `error` to "<what>: <SQLite's message>".

/// "<what>: " and SQLite's message for `rc`; returns false.
inline bool sqlite_failed(sqlite3* db, int rc, const char* what, std::string& error) {
  error.assign(what).append(": ");
  error.append(db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  return false;
}

/// Runs `sql` (one or more statements) to the end.
inline bool sqlite_exec(sqlite3* db, const char* sql, const char* what, std::string& error) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return true;
  error.assign(what).append(": ").append(msg != nullptr ? msg : sqlite3_errstr(rc));
  sqlite3_free(msg);
  return false;
}

/// Runs one statement and reads its first column as text into `out`
/// (left alone when it returns no row).
inline bool sqlite_query_text(sqlite3* db, const char* sql, const char* what, std::string& out,
                              std::string& error) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
  if (rc == SQLITE_OK) {
    sqlite_query q(s);
    rc = q.step();
    if (rc == SQLITE_ROW) out = q.text_at(0);
  }
  const bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
  if (!ok) sqlite_failed(db, rc, what, error);
  sqlite3_finalize(s);
  return ok;
}

}  // namespace livechat::detail

#endif
