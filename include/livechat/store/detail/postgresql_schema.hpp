// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_POSTGRESQL_SCHEMA_HPP
#define LIVECHAT_STORE_DETAIL_POSTGRESQL_SCHEMA_HPP

// postgresql_store's schema: its history as migration steps, and the code
// that brings a database up to date. The version is the `schema_version`
// row of `livechat_meta`; several servers starting at once migrate one
// after the other (a transaction-scoped advisory lock), and none of them
// touches a schema written by a newer livechat. Why this runner is not
// sqlite_schema.hpp's: detail/sql_migration.hpp.

#include <libpq-fe.h>

#include <cstdlib>   // std::strtol
#include <string>

#include <livechat/store/detail/sql_migration.hpp>
#include <livechat/store/detail/postgresql_statement.hpp>
#include <livechat/store/detail/random_epoch.hpp>

namespace livechat::detail {

using pg_migration = sql_migration;

/// The schema history, oldest first. Append new steps; never edit one that
/// has shipped (databases in the field have already run it).
///
/// v1. The tables of sqlite_store's v2, prefixed `livechat_` so they can
/// share a schema with an application's own. What a user chose (ids,
/// names, text, dedupe keys) is `bytea`: kept byte for byte, NUL included.
/// `livechat_order` numbers messages store-wide (message ids
/// `epoch-order`, ties in the conversation list); a sequence, not a
/// counter row, so appends to different rooms never wait for each other
/// (its gaps after a rollback are harmless: nobody saw those ids).
/// `livechat_rooms.last_seq` is the room's counter: the append bumps it
/// with the row locked until commit, which is what makes seqs gapless and
/// unique across processes. A NULL `session_status` is the default
/// session (open, version 0).
///
/// v2. Rich messages, as sqlite_store's v3: a message's `kind` (NULL:
/// text, so every older row reads as before) and what it carries; the
/// files with their bytes in `livechat_attachments` (`bytea`, TOASTed out
/// of line, so a metadata read never touches the content).
///
/// v3. The dedupe records name their message by id instead of seq. The id
/// (`epoch-order`) is known before the room's counter is bumped, the seq
/// only after; so the record can be claimed first and the message written
/// in the same statement (one round trip per append), and a duplicate
/// still bumps nothing. Old records get the id of the message at their seq.
inline constexpr pg_migration pg_migrations[] = {
    {1, R"sql(
CREATE SEQUENCE livechat_order;
CREATE TABLE livechat_rooms(
  room text PRIMARY KEY,
  last_seq bigint NOT NULL DEFAULT 0,
  last_order bigint,
  last_at bigint,
  session_status text CHECK (session_status IN ('open', 'claimed', 'closed')),
  claimed_by_id bytea,
  claimed_by_name bytea,
  session_updated_at bigint,
  session_version bigint
);
CREATE INDEX livechat_rooms_by_last_message ON livechat_rooms(last_at, last_order)
  WHERE last_order IS NOT NULL;
CREATE INDEX livechat_rooms_by_status ON livechat_rooms((coalesce(session_status, 'open')),
                                                       last_at, last_order)
  WHERE last_order IS NOT NULL;
CREATE INDEX livechat_rooms_by_claimer ON livechat_rooms(claimed_by_id, last_at, last_order)
  WHERE last_order IS NOT NULL AND claimed_by_id IS NOT NULL;
CREATE INDEX livechat_rooms_by_claimer_status
  ON livechat_rooms(claimed_by_id, (coalesce(session_status, 'open')), last_at, last_order)
  WHERE last_order IS NOT NULL AND claimed_by_id IS NOT NULL;
CREATE TABLE livechat_messages(
  room text NOT NULL,
  seq bigint NOT NULL,
  id text NOT NULL UNIQUE,
  sender_type text NOT NULL CHECK (sender_type IN ('operator', 'user', 'system')),
  sender_id bytea NOT NULL,
  sender_name bytea NOT NULL,
  text bytea NOT NULL,
  created_at bigint NOT NULL,
  client_msg_id bytea,
  PRIMARY KEY (room, seq)
);
CREATE TABLE livechat_client_msg_ids(
  room text NOT NULL,
  sender_id bytea NOT NULL,
  client_msg_id bytea NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (room, sender_id, client_msg_id)
);
CREATE TABLE livechat_webhook_events(
  event_id bytea PRIMARY KEY,
  room text NOT NULL,
  seq bigint NOT NULL
);
CREATE TABLE livechat_read_positions(
  room text NOT NULL,
  user_id bytea NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (room, user_id)
);
)sql"},
    {2, R"sql(
ALTER TABLE livechat_messages ADD COLUMN kind text, ADD COLUMN attachment_id text,
  ADD COLUMN sticker_package_id bytea, ADD COLUMN sticker_id bytea,
  ADD COLUMN location_title bytea, ADD COLUMN location_address bytea,
  ADD COLUMN latitude double precision, ADD COLUMN longitude double precision;
CREATE TABLE livechat_attachments(
  id text PRIMARY KEY,
  owner bytea NOT NULL,
  room text,
  seq bigint,
  status text NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
  content_type bytea NOT NULL,
  size bigint NOT NULL,
  name bytea NOT NULL,
  duration_ms bigint,
  created_at bigint NOT NULL,
  content bytea
);
)sql"},
    {3, R"sql(
ALTER TABLE livechat_client_msg_ids ADD COLUMN message_id text;
UPDATE livechat_client_msg_ids d SET message_id = m.id FROM livechat_messages m
  WHERE m.room = d.room AND m.seq = d.seq;
DELETE FROM livechat_client_msg_ids WHERE message_id IS NULL;
ALTER TABLE livechat_client_msg_ids ALTER COLUMN message_id SET NOT NULL, DROP COLUMN seq;
ALTER TABLE livechat_webhook_events ADD COLUMN message_id text;
UPDATE livechat_webhook_events w SET message_id = m.id FROM livechat_messages m
  WHERE m.room = w.room AND m.seq = w.seq;
DELETE FROM livechat_webhook_events WHERE message_id IS NULL;
ALTER TABLE livechat_webhook_events ALTER COLUMN message_id SET NOT NULL, DROP COLUMN seq;
)sql"},
};

/// The version the newest step writes.
inline constexpr int pg_schema_version = sql_newest_version(pg_migrations);

/// Runs `sql` (one or more statements) to the end; false with `error` set.
inline bool pg_run(PGconn* conn, const char* sql, const char* what, std::string& error) {
  const pg_result r = pg_exec(conn, sql);
  return r.ok() || pg_failed(conn, r, what, error);
}

/// Reads one value of `livechat_meta` (empty when missing; text format).
inline bool pg_read_meta(PGconn* conn, const char* key, std::string& out, std::string& error) {
  const std::string sql = std::string("SELECT value FROM livechat_meta WHERE key = '") + key + "'";
  const pg_result r(PQexec(conn, sql.c_str()));
  if (!r.ok()) return pg_failed(conn, r, "reading livechat_meta", error);
  out.clear();
  if (r.rows() > 0) out = PQgetvalue(r.get(), 0, 0);
  return true;
}

/// Rolls back the migration in progress; returns false (failure).
inline bool pg_abandon_migration(PGconn* conn) {
  pg_exec(conn, "ROLLBACK");
  return false;
}

/// In one transaction: waits for any other migrating server, refuses a
/// schema newer than this code, runs the steps it lacks and stores a new
/// epoch if there is none. Then reads the epoch into `epoch`. False with
/// `error` set on failure; a failed migration changes nothing.
inline bool pg_migrate(PGconn* conn, std::string& epoch, std::string& error) {
  if (!pg_run(conn, "BEGIN", "migration: begin", error)) return false;
  // 0x6c69766563686174 is "livechat": one lock for every livechat schema
  // of the database, held until COMMIT or ROLLBACK.
  if (!pg_run(conn,
              "SELECT pg_advisory_xact_lock(7811905206482395508); "
              "CREATE TABLE IF NOT EXISTS livechat_meta(key text PRIMARY KEY, value text NOT NULL)",
              "migration: creating livechat_meta", error))
    return pg_abandon_migration(conn);
  std::string v;
  if (!pg_read_meta(conn, "schema_version", v, error)) return pg_abandon_migration(conn);
  const long version = v.empty() ? 0 : std::strtol(v.c_str(), nullptr, 10);
  if (version < 0) {
    error = "schema version '" + v + "' was not written by livechat";
    return pg_abandon_migration(conn);
  }
  if (version > pg_schema_version) {
    error = sql_newer_schema(v, pg_schema_version);
    return pg_abandon_migration(conn);
  }
  for (const pg_migration& m : pg_migrations) {
    if (m.version <= version) continue;
    const std::string step = sql_step_name(m.version);
    if (!pg_run(conn, m.sql, step.c_str(), error)) return pg_abandon_migration(conn);
  }
  // Only digits and hex digits: safe to splice into the SQL.
  const std::string meta =
      "INSERT INTO livechat_meta(key, value) VALUES('schema_version', '" +
      std::to_string(pg_schema_version) +
      "') ON CONFLICT (key) DO UPDATE SET value = excluded.value; "
      "INSERT INTO livechat_meta(key, value) VALUES('epoch', '" +
      random_epoch() + "') ON CONFLICT (key) DO NOTHING";
  if (!pg_run(conn, meta.c_str(), "migration: writing the version and the epoch", error) ||
      !pg_run(conn, "COMMIT", "migration: commit", error))
    return pg_abandon_migration(conn);
  if (!pg_read_meta(conn, "epoch", epoch, error)) return false;
  return sql_epoch_found(epoch, error);
}

}  // namespace livechat::detail

#endif
