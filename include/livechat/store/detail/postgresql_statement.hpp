// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_POSTGRESQL_STATEMENT_HPP
#define LIVECHAT_STORE_DETAIL_POSTGRESQL_STATEMENT_HPP

// postgresql_store's statements: every query it runs, prepared once per
// connection (again after a reconnect), the parameters of one execution,
// the result that owns a PGresult and a row of it (the parameter list and
// the row detail/sql_rows.hpp's binders and readers take).
//
// Every parameter and every result column travels in binary format: the
// strings a user chose (ids, names, text, dedupe keys) are `bytea`
// columns, stored and returned byte for byte (NUL bytes included, which a
// `text` column refuses), and integers are 8-byte `bigint`s, so nothing is
// parsed or escaped on either side. Each parameter is cast in the SQL, so
// the server never has to guess a type.

#include <libpq-fe.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>


namespace livechat::detail {

/// Owns a PGresult (PQclear on destruction).
class pg_result {
 public:
  pg_result() = default;
  explicit pg_result(PGresult* r) noexcept : r_(r) {}

  PGresult* get() const noexcept { return r_.get(); }
  /// The server answered the statement (a command or rows), no error.
  bool ok() const noexcept {
    const ExecStatusType s = PQresultStatus(r_.get());  // PGRES_FATAL_ERROR for nullptr
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const noexcept { return r_ ? PQntuples(r_.get()) : 0; }
  bool is_null(int row, int col) const noexcept { return PQgetisnull(r_.get(), row, col) == 1; }

  /// A `bigint` (or smaller integer) column; 0 for NULL.
  std::int64_t integer_at(int row, int col) const noexcept {
    const int n = PQgetlength(r_.get(), row, col);
    if (n != 8 && n != 4 && n != 2) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col));
    std::uint64_t v = (p[0] & 0x80u) != 0 ? ~std::uint64_t{0} : 0;  // sign-extend
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
    return static_cast<std::int64_t>(v);
  }
  std::uint64_t unsigned_at(int row, int col) const noexcept {
    const std::int64_t v = integer_at(row, col);
    return v < 0 ? 0 : static_cast<std::uint64_t>(v);
  }
  /// A `double precision` column; 0 for NULL.
  double real_at(int row, int col) const noexcept {
    if (PQgetlength(r_.get(), row, col) != 8) return 0;
    const auto bits = static_cast<std::uint64_t>(integer_at(row, col));
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  /// A `text` or `bytea` column, byte for byte; empty for NULL.
  std::string text_at(int row, int col) const {
    const int n = PQgetlength(r_.get(), row, col);
    if (n <= 0) return {};
    return std::string(PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(n));
  }

  /// The server's message (one line, no trailing newline) and SQLSTATE.
  std::string error_message() const {
    std::string m = r_ ? PQresultErrorMessage(r_.get()) : "";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }
  std::string_view sqlstate() const noexcept {
    const char* s = r_ ? PQresultErrorField(r_.get(), PG_DIAG_SQLSTATE) : nullptr;
    return s != nullptr ? std::string_view(s) : std::string_view();
  }

 private:
  struct clear {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
  };
  std::unique_ptr<PGresult, clear> r_;
};

/// The parameters of one execution, left to right, in binary format.
/// Strings are sent without a copy: they must outlive the execution.
class pg_params {
 public:
  static constexpr int capacity = 20;

  pg_params() = default;
  pg_params(const pg_params&) = delete;
  pg_params& operator=(const pg_params&) = delete;

  /// For `text` and `bytea` parameters alike (binary `text` is its bytes;
  /// the server checks their encoding).
  pg_params& text(std::string_view v) noexcept {
    // A non-null pointer even for "", which would otherwise read as NULL.
    return add(v.data() != nullptr ? v.data() : "", v.size());
  }
  /// NULL for an empty string.
  pg_params& text_or_null(std::string_view v) noexcept { return v.empty() ? null() : text(v); }
  pg_params& integer(std::int64_t v) noexcept {
    if (n_ == capacity) return add(nullptr, 0);  // records the overflow
    auto u = static_cast<std::uint64_t>(v);
    char* out = numbers_[static_cast<std::size_t>(n_)].data();
    for (int i = 7; i >= 0; --i) {
      out[i] = static_cast<char>(u & 0xffu);
      u >>= 8;
    }
    return add(out, 8);
  }
  /// The same as `text`: a `bytea` parameter is its bytes in binary format.
  pg_params& blob(std::string_view v) noexcept { return text(v); }
  pg_params& null() noexcept { return add(nullptr, 0); }
  /// A `double precision` (float8): its IEEE 754 bits, big-endian.
  pg_params& real(double v) noexcept {
    std::uint64_t bits = 0;
    static_assert(sizeof bits == sizeof v, "IEEE 754 double");
    std::memcpy(&bits, &v, sizeof bits);
    return integer(static_cast<std::int64_t>(bits));
  }

  int count() const noexcept { return n_; }
  const char* const* values() const noexcept { return values_.data(); }
  const int* lengths() const noexcept { return lengths_.data(); }
  const int* formats() const noexcept { return formats_.data(); }
  /// A string longer than libpq can send (2 GiB): the execution must not run.
  bool overflow() const noexcept { return overflow_; }

 private:
  pg_params& add(const char* p, std::size_t size) noexcept {
    if (n_ == capacity || size > 0x7fffffffu) {
      overflow_ = true;
      return *this;
    }
    const auto i = static_cast<std::size_t>(n_++);
    values_[i] = p;
    lengths_[i] = static_cast<int>(size);
    formats_[i] = 1;
    return *this;
  }

  int n_ = 0;
  bool overflow_ = false;
  std::array<const char*, capacity> values_{};
  std::array<int, capacity> lengths_{};
  std::array<int, capacity> formats_{};
  std::array<std::array<char, 8>, capacity> numbers_{};
};

// Prepared once per connection as "livechat_<index>". The names follow
// sqlite_sid's where both stores run the same query: sql_list_statement
// picks `list_*` by name from either enum.
enum class pg_sid : std::size_t {
  unclaim_webhook,
  find_webhook,
  find_client_msg,
  append,
  room_last_seq,
  select_messages,
  select_messages_desc,
  load_session,
  save_session,
  replace_session,
  create_session,
  mark_read,
  read_position,
  list_all,
  list_status,
  list_claimer,
  list_claimer_status,
  put_attachment,
  find_attachment,
  attachment_content,
  finish_attachment,
  select_message_at,
  read_positions,
  pending_attachments,
  count_
};

inline constexpr std::size_t pg_stmt_count = static_cast<std::size_t>(pg_sid::count_);

// The columns of a message, in sql_read_message's order (detail/sql_rows.hpp;
// schema v2 on), and the join that brings its file's metadata.
#define LIVECHAT_PG_MESSAGE_COLUMNS_                                                      \
  "m.room, m.seq, m.id, m.sender_type, m.sender_id, m.sender_name, m.text, m.created_at, " \
  "m.client_msg_id, m.kind, m.attachment_id, m.sticker_package_id, m.sticker_id, "        \
  "m.location_title, m.location_address, m.latitude, m.longitude, a.status, "              \
  "a.content_type, a.size, a.name, a.duration_ms"
#define LIVECHAT_PG_FILE_ " LEFT JOIN livechat_attachments a ON a.id = m.attachment_id "

// The conversation list after a cursor ($1, $2), with a filter: `where`
// adds its terms (parameters from $3), `limit` is the LIMIT's parameter.
// The partial indexes' WHERE terms are spelled out so the planner uses them.
#define LIVECHAT_PG_LIST_(where, limit)                                                       \
  "SELECT " LIVECHAT_PG_MESSAGE_COLUMNS_                                                      \
  ", r.session_status, r.claimed_by_id, r.claimed_by_name, r.session_updated_at, "            \
  "r.session_version, r.last_at, r.last_order FROM livechat_rooms r "                         \
  "JOIN livechat_messages m ON m.room = r.room AND m.seq = r.last_seq" LIVECHAT_PG_FILE_       \
  "WHERE r.last_order IS NOT NULL AND (r.last_at, r.last_order) < ($1::bigint, $2::bigint)" \
  where " ORDER BY r.last_at DESC, r.last_order DESC LIMIT $" limit "::bigint"

// In `pg_sid` order. Tables are unqualified: they live in the first schema
// of the connection's search_path.
inline constexpr std::array<const char*, pg_stmt_count> pg_sql = {{
    // unclaim_webhook: the webhook key an append claimed for a message it
    // then did not store (its client_msg_id was a duplicate). $2 that
    // message's id.
    "DELETE FROM livechat_webhook_events WHERE event_id = $1::bytea AND message_id = $2::text",
    // find_webhook
    "SELECT " LIVECHAT_PG_MESSAGE_COLUMNS_
    " FROM livechat_webhook_events w JOIN livechat_messages m "
    "ON m.id = w.message_id" LIVECHAT_PG_FILE_ "WHERE w.event_id = $1::bytea",
    // find_client_msg
    "SELECT " LIVECHAT_PG_MESSAGE_COLUMNS_
    " FROM livechat_client_msg_ids d JOIN livechat_messages m "
    "ON m.id = d.message_id" LIVECHAT_PG_FILE_
    "WHERE d.room = $1::text AND d.sender_id = $2::bytea AND d.client_msg_id = $3::bytea",
    // append: one statement, one round trip, dedupe keys included.
    // $1 room, $2 created_at, $3 epoch, $4 sender_type, $5 sender_id,
    // $6 sender_name, $7 text, $8 client_msg_id, $9 webhook_event_id (both
    // NULL when absent), $10-$17 kind, attachment_id, sticker and location
    // metadata (schema v2).
    //  - `ord`: the message's order, so its id (`epoch-order`) is known
    //    before its seq (schema v3: the dedupe records hold the id).
    //  - The dedupe keys are claimed first (the webhook key, then the
    //    client_msg_id unless the webhook key was taken): a key already
    //    stored, or being stored by a transaction that then commits (the
    //    insert waits for it), is not claimed, and nothing else is written.
    //  - `bumped`: only when every key was claimed, the room's counter row
    //    is bumped (or created) and locked until the transaction ends, so
    //    concurrent writers to one room, whatever their process, take seqs
    //    one after the other. It returns the room's session too, for the
    //    caller's conversation_activity; the row stays locked, so it stays
    //    current until commit.
    //  - The message gets that seq; a file not yet carried by a message
    //    gets this one's (room, seq).
    //  - A duplicate's original is not read here: find_webhook or
    //    find_client_msg reads it (a second round trip, for a resend). In
    //    this statement it would cost every append about a third more
    //    server CPU (a larger plan to start), and an original that another
    //    transaction committed while this one waited for its key is not in
    //    this statement's snapshot anyway.
    // One row: seq, id (NULL on a duplicate), the session (5 columns), the
    // id a claimed webhook key names (NULL if none).
    "WITH ord AS (SELECT nextval('livechat_order') AS o), "
    "webhook_claim AS ("
    "INSERT INTO livechat_webhook_events(event_id, room, message_id) "
    "SELECT $9::bytea, $1::text, $3::text || '-' || o::text FROM ord WHERE $9::bytea IS NOT NULL "
    "ON CONFLICT DO NOTHING RETURNING message_id), "
    "client_claim AS ("
    "INSERT INTO livechat_client_msg_ids(room, sender_id, client_msg_id, message_id) "
    "SELECT $1::text, $5::bytea, $8::bytea, $3::text || '-' || o::text FROM ord "
    "WHERE $8::bytea IS NOT NULL AND ($9::bytea IS NULL OR EXISTS (SELECT 1 FROM webhook_claim)) "
    "ON CONFLICT DO NOTHING RETURNING message_id), "
    "fresh AS (SELECT o FROM ord "
    "WHERE ($9::bytea IS NULL OR EXISTS (SELECT 1 FROM webhook_claim)) "
    "AND ($8::bytea IS NULL OR EXISTS (SELECT 1 FROM client_claim))), "
    "bumped AS ("
    "INSERT INTO livechat_rooms AS r (room, last_seq, last_order, last_at) "
    "SELECT $1::text, 1, f.o, $2::bigint FROM fresh f "
    "ON CONFLICT (room) DO UPDATE SET last_seq = r.last_seq + 1, "
    "last_order = excluded.last_order, last_at = excluded.last_at "
    "RETURNING r.last_seq, r.last_order, r.session_status, r.claimed_by_id, r.claimed_by_name, "
    "r.session_updated_at, r.session_version), "
    "stored AS ("
    "INSERT INTO livechat_messages(room, seq, id, sender_type, sender_id, sender_name, text, "
    "created_at, client_msg_id, kind, attachment_id, sticker_package_id, sticker_id, "
    "location_title, location_address, latitude, longitude) "
    "SELECT $1::text, b.last_seq, $3::text || '-' || b.last_order::text, $4::text, $5::bytea, "
    "$6::bytea, $7::bytea, $2::bigint, $8::bytea, $10::text, $11::text, $12::bytea, $13::bytea, "
    "$14::bytea, $15::bytea, $16::float8, $17::float8 FROM bumped b RETURNING seq, id), "
    "file_link AS (UPDATE livechat_attachments a SET room = $1::text, seq = s.seq FROM stored s "
    "WHERE $11::text IS NOT NULL AND a.id = $11::text AND a.seq IS NULL RETURNING a.seq) "
    "SELECT s.seq, s.id, b.session_status, b.claimed_by_id, b.claimed_by_name, "
    "b.session_updated_at, b.session_version, (SELECT message_id FROM webhook_claim) "
    "FROM (SELECT 1) AS one LEFT JOIN stored s ON true LEFT JOIN bumped b ON true",
    // room_last_seq
    "SELECT last_seq FROM livechat_rooms WHERE room = $1::text",
    // select_messages
    "SELECT " LIVECHAT_PG_MESSAGE_COLUMNS_
    " FROM livechat_messages m" LIVECHAT_PG_FILE_ "WHERE m.room = $1::text AND m.seq > $2::bigint "
    "AND m.seq <= $3::bigint ORDER BY m.seq",
    // select_messages_desc
    "SELECT " LIVECHAT_PG_MESSAGE_COLUMNS_
    " FROM livechat_messages m" LIVECHAT_PG_FILE_ "WHERE m.room = $1::text AND m.seq > $2::bigint "
    "AND m.seq <= $3::bigint ORDER BY m.seq DESC",
    // load_session
    "SELECT session_status, claimed_by_id, claimed_by_name, session_updated_at, "
    "session_version FROM livechat_rooms WHERE room = $1::text",
    // save_session: $1 room, $2 status, $3 claimed_by id, $4 name, $5 updated_at, $6 version
    "INSERT INTO livechat_rooms(room, last_seq, session_status, claimed_by_id, claimed_by_name, "
    "session_updated_at, session_version) "
    "VALUES($1::text, 0, $2::text, $3::bytea, $4::bytea, $5::bigint, $6::bigint) "
    "ON CONFLICT (room) DO UPDATE SET session_status = excluded.session_status, "
    "claimed_by_id = excluded.claimed_by_id, claimed_by_name = excluded.claimed_by_name, "
    "session_updated_at = excluded.session_updated_at, "
    "session_version = excluded.session_version",
    // replace_session: the conditional update of a claim. Under READ
    // COMMITTED a concurrent update of the row makes this one wait, then
    // re-check the version against the committed row: of two writers that
    // read the same version, exactly one matches. $7 the expected version.
    "UPDATE livechat_rooms SET session_status = $2::text, claimed_by_id = $3::bytea, "
    "claimed_by_name = $4::bytea, session_updated_at = $5::bigint, session_version = $6::bigint "
    "WHERE room = $1::text AND coalesce(session_version, 0) = $7::bigint RETURNING session_version",
    // create_session: replace_session for a room without a row (expected
    // version 0); a row created meanwhile by anyone makes it lose.
    "INSERT INTO livechat_rooms(room, last_seq, session_status, claimed_by_id, claimed_by_name, "
    "session_updated_at, session_version) "
    "VALUES($1::text, 0, $2::text, $3::bytea, $4::bytea, $5::bigint, $6::bigint) "
    "ON CONFLICT (room) DO NOTHING RETURNING session_version",
    // mark_read: forward only, and the position now stored in one trip.
    "INSERT INTO livechat_read_positions AS p (room, user_id, seq) "
    "VALUES($1::text, $2::bytea, $3::bigint) "
    "ON CONFLICT (room, user_id) DO UPDATE SET seq = greatest(p.seq, excluded.seq) "
    "RETURNING p.seq",
    // read_position
    "SELECT seq FROM livechat_read_positions WHERE room = $1::text AND user_id = $2::bytea",
    LIVECHAT_PG_LIST_("", "3"),
    LIVECHAT_PG_LIST_(" AND coalesce(r.session_status, 'open') = $3::text", "4"),
    LIVECHAT_PG_LIST_(" AND r.claimed_by_id IS NOT NULL AND r.claimed_by_id = $3::bytea", "4"),
    LIVECHAT_PG_LIST_(
        " AND r.claimed_by_id IS NOT NULL AND r.claimed_by_id = $3::bytea"
        " AND coalesce(r.session_status, 'open') = $4::text",
        "5"),
    // put_attachment: $1 id, $2 owner, $3 status, $4 content_type, $5 size,
    // $6 name, $7 duration_ms, $8 created_at, $9 content. No row: the id is taken.
    "INSERT INTO livechat_attachments(id, owner, status, content_type, size, name, duration_ms, "
    "created_at, content) VALUES($1::text, $2::bytea, $3::text, $4::bytea, $5::bigint, $6::bytea, "
    "$7::bigint, $8::bigint, $9::bytea) ON CONFLICT (id) DO NOTHING RETURNING id",
    // find_attachment
    "SELECT id, owner, room, seq, status, content_type, size, name, duration_ms, created_at "
    "FROM livechat_attachments WHERE id = $1::text",
    // attachment_content
    "SELECT content FROM livechat_attachments WHERE id = $1::text AND status = 'ready'",
    // finish_attachment: only a pending one changes, or a failed one becomes
    // ready (a retried fetch). $1 id, $2 status, $3 size, $4 content,
    // $5 content_type (NULL: keep).
    "UPDATE livechat_attachments SET status = $2::text, size = $3::bigint, content = $4::bytea, "
    "content_type = coalesce($5::bytea, content_type) WHERE id = $1::text "
    "AND (status = 'pending' OR (status = 'failed' AND $2::text = 'ready')) RETURNING id",
    // select_message_at
    "SELECT " LIVECHAT_PG_MESSAGE_COLUMNS_ " FROM livechat_messages m" LIVECHAT_PG_FILE_
    "WHERE m.room = $1::text AND m.seq = $2::bigint",
    // read_positions: $2 is a JSON array of rooms; each is a primary-key lookup.
    "SELECT room, seq FROM livechat_read_positions "
    "WHERE user_id = $1::bytea AND room IN (SELECT jsonb_array_elements_text($2::text::jsonb))",
    // pending_attachments: once at startup, so a scan is fine (no index to maintain).
    "SELECT id FROM livechat_attachments WHERE status = 'pending' ORDER BY created_at, id "
    "LIMIT $1::bigint",
}};
#undef LIVECHAT_PG_LIST_
#undef LIVECHAT_PG_MESSAGE_COLUMNS_
#undef LIVECHAT_PG_FILE_

/// "livechat_<index>": the server-side name of a prepared statement.
inline std::string pg_statement_name(pg_sid id) {
  return "livechat_" + std::to_string(static_cast<std::size_t>(id));
}

/// Runs a prepared statement; binary results.
inline pg_result pg_exec(PGconn* conn, pg_sid id, const pg_params& p) {
  const std::string name = pg_statement_name(id);
  return pg_result(PQexecPrepared(conn, name.c_str(), p.count(), p.values(), p.lengths(),
                                  p.formats(), 1));
}

/// Runs one statement without parameters (BEGIN, COMMIT, DDL; several
/// statements separated by ';' in one string are allowed).
inline pg_result pg_exec(PGconn* conn, const char* sql) { return pg_result(PQexec(conn, sql)); }

/// Runs `sql` with parameters, unprepared; binary results.
inline pg_result pg_exec(PGconn* conn, const char* sql, const pg_params& p) {
  return pg_result(PQexecParams(conn, sql, p.count(), nullptr, p.values(), p.lengths(),
                                p.formats(), 1));
}

/// Prepares every statement on `conn`; the failed result, or an ok one.
inline pg_result pg_prepare_all(PGconn* conn) {
  for (std::size_t i = 0; i < pg_stmt_count; ++i) {
    const std::string name = pg_statement_name(static_cast<pg_sid>(i));
    pg_result r(PQprepare(conn, name.c_str(), pg_sql[i], 0, nullptr));
    if (!r.ok() || i + 1 == pg_stmt_count) return r;
  }
  return pg_result();
}

/// "<what>: <the server's or libpq's message>"; returns false.
inline bool pg_failed(PGconn* conn, const pg_result& r, const char* what, std::string& error) {
  std::string m = r.get() != nullptr ? r.error_message() : std::string();
  if (m.empty() && conn != nullptr) {
    m = PQerrorMessage(conn);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  }
  error.assign(what).append(": ").append(m.empty() ? "unknown error" : m);
  return false;
}

/// One row of a result, as detail/sql_rows.hpp's readers take it.
class pg_row {
 public:
  pg_row(const pg_result& r, int row) noexcept : r_(r), row_(row) {}
  bool is_null(int col) const noexcept { return r_.is_null(row_, col); }
  std::int64_t integer_at(int col) const noexcept { return r_.integer_at(row_, col); }
  std::uint64_t unsigned_at(int col) const noexcept { return r_.unsigned_at(row_, col); }
  double real_at(int col) const noexcept { return r_.real_at(row_, col); }
  std::string text_at(int col) const { return r_.text_at(row_, col); }

 private:
  const pg_result& r_;
  int row_;
};

}  // namespace livechat::detail

#endif
