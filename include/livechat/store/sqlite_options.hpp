// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_SQLITE_OPTIONS_HPP
#define LIVECHAT_STORE_SQLITE_OPTIONS_HPP

// How sqlite_store opens its database file (no SQLite header needed to
// fill them in, e.g. from a command line).

#include <chrono>
#include <string>

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
  /// WAL size, in pages (4 KiB), at which a commit also checkpoints: copies
  /// the WAL's pages back into the database file, with an fsync of each
  /// (sqlite3_wal_autocheckpoint). SQLite's default is 1,000 (4 MiB);
  /// under load most pages in the WAL are versions of the same few (the
  /// rooms' last leaves, the counters, the conversation indexes), and a
  /// checkpoint copies each page once however often it was rewritten, so a
  /// larger WAL copies less per message: 10,000 (the WAL file grows to
  /// ~40 MiB and stays that size) cut the store's CPU per message by about
  /// a sixth (bench/README.md). 0 or less: never (the application runs
  /// checkpoints on `native_handle()`).
  int wal_autocheckpoint_pages = 10000;
};

}  // namespace livechat

#endif
