// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQLITE_OPEN_HPP
#define LIVECHAT_STORE_DETAIL_SQLITE_OPEN_HPP

// Opening sqlite_store's connection: the file, the busy timeout, WAL (or a
// clear refusal), synchronous and foreign keys; and the store's epoch, read
// or created once. The schema is detail/sqlite_schema.hpp's.

#include <sqlite3.h>

#include <climits>  // INT_MAX
#include <string>

#include <livechat/store/detail/random_epoch.hpp>
#include <livechat/store/detail/sql_migration.hpp>
#include <livechat/store/detail/sqlite_statement.hpp>
#include <livechat/store/sqlite_options.hpp>

namespace livechat::detail {

/// Opens `options.path` into `db` and sets the connection up; `journal_mode`
/// is what SQLite answered for WAL. False with the reason in `error`; `db`
/// may then be open, and the caller closes it.
inline bool sqlite_open(const sqlite_options& options, sqlite3*& db, std::string& journal_mode,
                        std::string& error) {
  if (sqlite3_libversion_number() < 3024000) {
    error = "SQLite 3.24 or newer is required, this is ";
    error += sqlite3_libversion();
    return false;
  }
  if (options.path.empty()) {
    error = "sqlite_options::path is empty";
    return false;
  }
  const int rc = sqlite3_open_v2(options.path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) return sqlite_failed(db, rc, "open", error);
  const auto timeout = options.busy_timeout.count();
  sqlite3_busy_timeout(db, timeout <= 0         ? 0
                           : timeout >= INT_MAX ? INT_MAX
                                                : static_cast<int>(timeout));

  // The first statement reads the file: garbage fails here ("file is
  // not a database").
  std::string mode;
  if (!sqlite_query_text(db, "PRAGMA journal_mode=WAL", "setting WAL mode", mode, error))
    return false;
  // The pragma answers the mode now in force; it does not fail when WAL
  // is refused.
  for (char& ch : mode)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  journal_mode = mode;
  if (mode != "wal" && !options.allow_rollback_journal) {
    error = "journal_mode is '" + mode +
            "', not 'wal': SQLite refused WAL (a file system without shared memory, or "
            "an in-memory database); use a local file system, or set "
            "allow_rollback_journal";
    return false;
  }
  if (sqlite3_db_readonly(db, "main") == 1) {
    error = "the database file is read-only";
    return false;
  }
  const char* sync = options.synchronous == sqlite_synchronous::full
                         ? "PRAGMA synchronous=FULL"
                         : "PRAGMA synchronous=NORMAL";
  if (!sqlite_exec(db, sync, sync, error) ||
      !sqlite_exec(db, "PRAGMA foreign_keys=ON", "enabling foreign keys", error))
    return false;
  // A write of several statements inside a batch runs in a savepoint, and
  // a statement that may fail half-way (one with a trigger) in a statement
  // journal. Such a journal (the batch's pages as they were before the
  // write) SQLite keeps in memory only up to 64 KiB and then spills to a
  // new temporary file: a file created, written page by page and deleted
  // every few commits. It only ever holds the pages one write touches, so
  // memory is the place.
  if (!sqlite_exec(db, "PRAGMA temp_store=MEMORY", "keeping temporary journals in memory", error))
    return false;
  sqlite3_wal_autocheckpoint(db, options.wal_autocheckpoint_pages);
  return true;
}

/// The store's epoch into `epoch`, created on a new database. False with
/// the reason in `error`.
inline bool sqlite_load_epoch(sqlite3* db, std::string& epoch, std::string& error) {
  const char* read = "SELECT value FROM meta WHERE key = 'epoch'";
  if (!sqlite_query_text(db, read, "reading the epoch", epoch, error)) return false;
  if (!epoch.empty()) return true;
  // A new database (or one whose epoch row was lost: its history is
  // then a new lineage, which is what a new epoch tells clients).
  // Only hex digits: safe to splice into the SQL.
  const std::string fresh = random_epoch();
  const std::string sql = "INSERT OR IGNORE INTO meta(key, value) VALUES('epoch', '" + fresh + "')";
  if (!sqlite_exec(db, sql.c_str(), "storing the epoch", error)) return false;
  if (!sqlite_query_text(db, read, "reading the epoch", epoch, error)) return false;
  return sql_epoch_found(epoch, error);
}

}  // namespace livechat::detail

#endif
