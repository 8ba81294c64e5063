// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_SQLITE_TRANSACTION_HPP
#define LIVECHAT_STORE_DETAIL_SQLITE_TRANSACTION_HPP

// sqlite_store's transaction state: with group commit, writes join one
// open transaction that the store's flush() commits, each in its own
// savepoint unless it is a single modifying statement; without it, every
// write commits on its own. SQLite may also
// roll a transaction back by itself (I/O errors, a full disk, out of
// memory), which this state notices so the next flush fails instead of
// acknowledging writes that are gone.

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>

#include <livechat/store/detail/sqlite_statement.hpp>

namespace livechat::detail {

class sqlite_transaction {
 public:
  sqlite_transaction(sqlite_statements& stmts, bool group_commit) noexcept
      : stmts_(stmts), group_commit_(group_commit) {}
  sqlite_transaction(const sqlite_transaction&) = delete;
  sqlite_transaction& operator=(const sqlite_transaction&) = delete;

  /// A batch (or a single write) is open.
  bool open() const noexcept { return open_; }
  /// Writes in the open batch.
  std::size_t pending() const noexcept { return pending_; }
  /// The number of the open batch (or of the last one): a new one at every
  /// BEGIN, so what was learnt inside a batch is never taken for another's.
  std::uint64_t batch() const noexcept { return batch_; }

  /// After any failed statement: notices a transaction SQLite rolled back
  /// on its own; the writes it held are lost.
  void sync(sqlite3* db) noexcept {
    if (open_ && db != nullptr && sqlite3_get_autocommit(db) != 0) {
      if (pending_ > 0) lost_ = true;
      open_ = false;
      pending_ = 0;
    }
  }

  /// Whether SQLite rolled back a batch since the last call (the next
  /// flush must fail); clears it.
  bool take_lost() noexcept {
    const bool lost = lost_;
    lost_ = false;
    return lost;
  }

  /// Commits the open transaction: SQLITE_OK, or the error with the
  /// transaction left as it was (call `drop`).
  int commit() noexcept {
    const int rc = stmts_.step_once(sqlite_sid::commit);
    if (rc == SQLITE_OK) {
      open_ = false;
      pending_ = 0;
    }
    return rc;
  }

  /// After a failed commit: rolls back what a failed COMMIT may leave open;
  /// the batch is gone, and the caller reports it.
  void drop() noexcept {
    rollback();
    lost_ = false;
  }

  /// Rolls back the open transaction outside a flush: its writes are
  /// lost, and the next flush says so.
  void lose() noexcept {
    if (open_ && pending_ > 0) lost_ = true;
    rollback();
  }

  /// Rolls back the open transaction, if any; its writes are lost.
  void rollback() noexcept {
    if (open_) stmts_.step_once(sqlite_sid::rollback);
    open_ = false;
    pending_ = 0;
  }

  /// One write call. Outside a batch it opens the transaction; inside a
  /// batch that already holds writes it opens a savepoint, so a failure
  /// undoes this call alone. finish() makes it part of the batch (group
  /// commit) or commits it; the destructor undoes an unfinished write, on
  /// error returns and on exceptions alike.
  ///
  /// A write that changes the database with ONE statement, its last step
  /// that can fail (`begin(true)`), needs no savepoint: SQLite makes every
  /// statement atomic by itself. A constraint or a RAISE undoes that
  /// statement alone (constraints are checked before anything is written;
  /// a statement that could fail half-way, one with triggers, gets its own
  /// statement journal), and the errors that SQLite answers by rolling
  /// back the whole transaction (I/O, a full disk, no memory) do so with or
  /// without a savepoint, which sync() notices. The savepoint cost more
  /// than the INSERT it guarded: a statement to open and one to release
  /// it, and a copy in its journal of every page the write touched.
  class write {
   public:
    write(sqlite_transaction& t, sqlite3* db) noexcept : t_(t), db_(db) {}
    write(const write&) = delete;
    write& operator=(const write&) = delete;
    ~write() {
      if (open_ && !done_) undo();
    }

    /// `one_statement`: the caller changes the database with one statement
    /// at most, and nothing after that statement can fail before finish().
    int begin(bool one_statement = false) noexcept {
      one_statement_ = one_statement;
      if (!t_.open_) {
        if (int rc = t_.stmts_.step_once(sqlite_sid::begin); rc != SQLITE_OK) return rc;
        t_.open_ = true;
        ++t_.batch_;
      } else if (t_.pending_ > 0 && !one_statement) {
        if (int rc = t_.stmts_.step_once(sqlite_sid::savepoint); rc != SQLITE_OK) return rc;
        savepoint_ = true;
      }
      open_ = true;
      return SQLITE_OK;
    }

    /// `wrote`: this call changed the database (a duplicate didn't).
    int finish(bool wrote) noexcept {
      if (savepoint_) {
        if (int rc = t_.stmts_.step_once(sqlite_sid::release); rc != SQLITE_OK) return rc;
        savepoint_ = false;
      }
      if (!t_.group_commit_) {
        if (int rc = t_.stmts_.step_once(sqlite_sid::commit); rc != SQLITE_OK) return rc;
        t_.open_ = false;
      } else if (wrote) {
        ++t_.pending_;
      }
      done_ = true;
      return SQLITE_OK;
    }

   private:
    void undo() noexcept {
      t_.sync(db_);
      if (!t_.open_) return;  // SQLite already rolled everything back
      if (savepoint_ && t_.stmts_.step_once(sqlite_sid::rollback_to) == SQLITE_OK &&
          t_.stmts_.step_once(sqlite_sid::release) == SQLITE_OK)
        return;
      // Its one statement failed and left no trace (or never ran): the
      // batch's earlier writes stay as they are.
      if (one_statement_ && !savepoint_ && t_.pending_ > 0) return;
      // No savepoint: the transaction holds nothing but this write.
      // (Or the savepoint could not be undone: drop the whole batch.)
      t_.stmts_.step_once(sqlite_sid::rollback);
      if (t_.pending_ > 0) t_.lost_ = true;
      t_.open_ = sqlite3_get_autocommit(db_) == 0;
      t_.pending_ = 0;
    }

    sqlite_transaction& t_;
    sqlite3* db_;
    bool open_ = false;
    bool done_ = false;
    bool savepoint_ = false;
    bool one_statement_ = false;
  };

 private:
  sqlite_statements& stmts_;
  bool group_commit_;
  bool open_ = false;        ///< a batch (or a single write) is open
  bool lost_ = false;        ///< SQLite rolled back a batch on its own: the next flush fails
  std::size_t pending_ = 0;  ///< writes in the open batch
  std::uint64_t batch_ = 0;  ///< bumped at every BEGIN
};

}  // namespace livechat::detail

#endif
