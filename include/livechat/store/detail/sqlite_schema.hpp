// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQLITE_SCHEMA_HPP
#define LIVECHAT_STORE_DETAIL_SQLITE_SCHEMA_HPP

// sqlite_store's schema: its history as migration steps, and the code that
// brings a database file up to date (`PRAGMA user_version`).

#include <sqlite3.h>

#include <cstdlib>   // std::strtol
#include <string>

#include <livechat/store/detail/sql_migration.hpp>
#include <livechat/store/detail/sqlite_statement.hpp>

namespace livechat::detail {

using sqlite_migration = sql_migration;

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
///
/// v3. Rich messages: a message's `kind` (NULL: text, so every older row
/// reads as before) and what it carries, a file's `attachment_id` or a
/// sticker's or a location's metadata; `attachments` holds each file's
/// record and its bytes. A rowid table, content last: a metadata read
/// stops before the BLOB's overflow pages, and WITHOUT ROWID suits small
/// rows only. `room`/`seq` name the first message that carries the file.
///
/// v4. The client_msg_id dedupe is served by a partial unique index on the
/// messages themselves, which always stored the key, instead of the
/// `client_msg_ids` table: a text message is then one INSERT, atomic on its
/// own, so it needs no savepoint inside its batch (sqlite_transaction).
/// Every key of the old table is the message's own (they were written
/// together); a message that somehow lacks it gets it back before the
/// table goes. Building the index reads every message once.
///
/// v5. `messages.id` loses its UNIQUE constraint, and with it the index
/// SQLite built for it: one more B-tree seek and insert on every append
/// (14 % of an append's instructions, batch share included) for a lookup
/// nothing makes. The ids stay unique by construction (v1:
/// `epoch-last_order`, the counter bumped in the write that stores the
/// message). SQLite cannot drop a
/// column constraint in place, so the table is rebuilt as its documented
/// recipe says: a copy without the constraint, every column in order, the
/// old table dropped (its client_msg_id index with it), the copy renamed,
/// the index built again. One pass over every message, in the step's own
/// transaction: an upgrade of a large database takes a while once, and an
/// interrupted one leaves version 4 as it was.
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
    {3, R"sql(
ALTER TABLE messages ADD COLUMN kind TEXT;
ALTER TABLE messages ADD COLUMN attachment_id TEXT;
ALTER TABLE messages ADD COLUMN sticker_package_id TEXT;
ALTER TABLE messages ADD COLUMN sticker_id TEXT;
ALTER TABLE messages ADD COLUMN location_title TEXT;
ALTER TABLE messages ADD COLUMN location_address TEXT;
ALTER TABLE messages ADD COLUMN latitude REAL;
ALTER TABLE messages ADD COLUMN longitude REAL;
CREATE TABLE attachments(
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  room TEXT,
  seq INTEGER,
  status TEXT NOT NULL CHECK(status = 'pending' OR status = 'ready' OR status = 'failed'),
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  name TEXT NOT NULL,
  duration_ms INTEGER,
  created_at INTEGER NOT NULL,
  content BLOB
);
)sql"},
    {4, R"sql(
UPDATE messages SET client_msg_id = (
  SELECT d.client_msg_id FROM client_msg_ids d
  WHERE d.room = messages.room AND d.seq = messages.seq AND d.sender_id = messages.sender_id)
WHERE client_msg_id IS NULL
  AND (room, seq, sender_id) IN (SELECT room, seq, sender_id FROM client_msg_ids);
CREATE UNIQUE INDEX messages_by_client_msg_id ON messages(room, sender_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;
DROP TABLE client_msg_ids;
)sql"},
    {5, R"sql(
CREATE TABLE messages_v5(
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  sender_type TEXT NOT NULL CHECK(sender_type = 'operator' OR sender_type = 'user'
                                  OR sender_type = 'system'),
  sender_id TEXT NOT NULL,
  sender_name TEXT NOT NULL,
  text TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  client_msg_id TEXT,
  kind TEXT,
  attachment_id TEXT,
  sticker_package_id TEXT,
  sticker_id TEXT,
  location_title TEXT,
  location_address TEXT,
  latitude REAL,
  longitude REAL,
  PRIMARY KEY(room, seq)
) WITHOUT ROWID;
INSERT INTO messages_v5(room, seq, id, sender_type, sender_id, sender_name, text, created_at,
                        client_msg_id, kind, attachment_id, sticker_package_id, sticker_id,
                        location_title, location_address, latitude, longitude)
  SELECT room, seq, id, sender_type, sender_id, sender_name, text, created_at, client_msg_id,
         kind, attachment_id, sticker_package_id, sticker_id, location_title, location_address,
         latitude, longitude
  FROM messages ORDER BY room, seq;
DROP TABLE messages;
ALTER TABLE messages_v5 RENAME TO messages;
CREATE UNIQUE INDEX messages_by_client_msg_id ON messages(room, sender_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;
)sql"},
};

/// The version the newest step writes.
inline constexpr int sqlite_schema_version = sql_newest_version(sqlite_migrations);

inline bool sqlite_user_version(sqlite3* db, int& out, std::string& error) {
  std::string v;
  if (!sqlite_query_text(db, "PRAGMA user_version", "reading the schema version", v, error))
    return false;
  out = static_cast<int>(std::strtol(v.c_str(), nullptr, 10));
  return true;
}

/// Rolls back the migration step in progress; returns false (failure).
inline bool sqlite_abandon_migration(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return false;
}

/// Runs the steps the database lacks, each in its own transaction, and
/// refuses a database newer than this code. False with `error` set on
/// failure; a failed step changes nothing.
inline bool sqlite_migrate(sqlite3* db, std::string& error) {
  int version = 0;
  if (!sqlite_user_version(db, version, error)) return false;
  if (version > sqlite_schema_version) {
    error = sql_newer_schema(std::to_string(version), sqlite_schema_version);
    return false;
  }
  for (const sqlite_migration& m : sqlite_migrations) {
    if (m.version <= version) continue;
    const std::string step = sql_step_name(m.version);
    if (!sqlite_exec(db, "BEGIN IMMEDIATE", step.c_str(), error)) return false;
    // Another process may have migrated since the check above.
    if (!sqlite_user_version(db, version, error)) return sqlite_abandon_migration(db);
    if (m.version <= version) {
      if (!sqlite_exec(db, "COMMIT", step.c_str(), error)) return sqlite_abandon_migration(db);
      continue;
    }
    const std::string bump = "PRAGMA user_version=" + std::to_string(m.version);
    if (!sqlite_exec(db, m.sql, step.c_str(), error) ||
        !sqlite_exec(db, bump.c_str(), step.c_str(), error) ||
        !sqlite_exec(db, "COMMIT", step.c_str(), error))
      return sqlite_abandon_migration(db);
    version = m.version;
  }
  return true;
}

}  // namespace livechat::detail

#endif
