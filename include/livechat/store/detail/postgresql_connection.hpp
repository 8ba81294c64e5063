// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_DETAIL_POSTGRESQL_CONNECTION_HPP
#define LIVECHAT_STORE_DETAIL_POSTGRESQL_CONNECTION_HPP

// postgresql_store's connection and transaction state. With group commit,
// writes join one open transaction that flush() commits; without it, every
// write is a transaction of its own. PostgreSQL aborts a transaction at its
// first error, so a failure inside a batch rolls back every write of it:
// the batch is then "lost", writes are refused until flush() reports the
// loss, and nothing of it can be acknowledged. A dead connection is
// replaced (PQreset, statements prepared again), at most once per interval.

#include <libpq-fe.h>

#include <algorithm>  // std::max
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>  // std::strcmp
#include <string>
#include <string_view>
#include <system_error>
#include <utility>  // std::move
#include <vector>

#include <livechat/error.hpp>
#include <livechat/store/detail/postgresql_pipeline.hpp>
#include <livechat/store/detail/postgresql_statement.hpp>

namespace livechat::detail {

class pg_connection {
 public:
  pg_connection(bool group_commit, std::chrono::milliseconds reconnect_interval) noexcept
      : group_commit_(group_commit), reconnect_interval_(reconnect_interval) {}
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;
  ~pg_connection() { close(); }

  /// The first connection; false with `error()` set. `timeout` is libpq's
  /// connect_timeout unless `conninfo` sets its own.
  bool connect(const std::string& conninfo, std::chrono::seconds timeout) {
    // Keywords before `dbname` are defaults: the expanded conninfo
    // overrides them.
    const std::string secs = std::to_string(std::max<std::int64_t>(2, timeout.count()));
    const char* const keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* const values[] = {secs.c_str(), "livechat", conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr) {
      error_ = "connecting: out of memory";
      return false;
    }
    // The server's notices (CREATE ... IF NOT EXISTS "skipping") would go
    // to stderr.
    PQsetNoticeProcessor(conn_, &pg_connection::ignore_notice, nullptr);
    if (PQstatus(conn_) != CONNECTION_OK) {
      error_ = "connecting: " + libpq_message();
      return false;
    }
    return true;
  }

  /// Prepares the statements after the first connection (and the schema).
  bool prepare() {
    const pg_result r = pg_prepare_all(conn_);
    if (!r.ok()) return pg_failed(conn_, r, "preparing the statements", error_);
    ready_ = true;
    return true;
  }

  PGconn* native() const noexcept { return conn_; }
  bool closed() const noexcept { return conn_ == nullptr; }
  bool connected() const noexcept {
    return conn_ != nullptr && ready_ && PQstatus(conn_) == CONNECTION_OK;
  }
  std::size_t reconnects() const noexcept { return reconnects_; }
  std::size_t pending() const noexcept { return pending_; }

  const std::string& error() const noexcept { return error_; }
  std::string& error() noexcept { return error_; }
  std::error_code set_error(std::string what) {
    error_ = std::move(what);
    return errc::store_failure;
  }

  /// "db@host:port", for messages (never the password).
  std::string where() const {
    if (conn_ == nullptr) return "(not connected)";
    const char* db = PQdb(conn_);
    const char* host = PQhost(conn_);
    const char* port = PQport(conn_);
    return std::string(db != nullptr ? db : "") + '@' + (host != nullptr ? host : "") + ':' +
           (port != nullptr ? port : "");
  }

  /// Before every call: the connection is up, or is replaced now (when the
  /// interval allows); otherwise the call fails.
  std::error_code check() {
    if (conn_ == nullptr) return set_error("the store is closed");
    if (ready_ && PQstatus(conn_) == CONNECTION_OK) return {};
    note_connection();
    if (reconnect()) return {};
    return set_error("not connected to PostgreSQL: " + connect_error_);
  }

  /// A prepared statement, retried once on a new connection when the
  /// connection turned out dead outside a transaction: then nothing of it
  /// ran, and nothing pending was lost.
  pg_result run(pg_sid id, const pg_params& p) {
    const waiting timed(*this);
    if (begin_pending_) return run_after_begin(id, p);
    ++round_trips_;
    pg_result r = pg_exec(conn_, id, p);
    if (r.ok() || open_ || PQstatus(conn_) == CONNECTION_OK) return r;
    ready_ = false;
    if (!reconnect()) return pg_result();
    ++round_trips_;
    return pg_exec(conn_, id, p);
  }

  /// Opens the write's transaction if none is open; refuses writes while a
  /// lost batch waits for `flush()` to report it. `room`: the room whose
  /// rows the write locks.
  ///
  /// Every row a write locks belongs to its room (the counter and session
  /// row, the dedupe keys, the read positions), and a batch holds its locks
  /// until it commits. Two servers whose batches took two rooms in
  /// opposite orders would wait for each other until PostgreSQL aborted one
  /// (after deadlock_timeout, losing that whole batch). So a batch takes
  /// its rooms in ascending order only: a write to a room below one the
  /// batch already holds commits the batch first and starts the next.
  /// Lock order is then the same total order in every process, and no
  /// cycle can form. The cost is an extra commit when one turn writes to
  /// rooms out of order; writes already committed that way are stored
  /// even if a later write of the turn fails (never the other way round).
  std::error_code begin_write(const char* what, std::string_view room) {
    if (lost_)
      return set_error(std::string(what) + ": an earlier write of this batch failed (" +
                       lost_reason_ + "); flush() reports it before new writes");
    if (open_ && group_commit_ && room < batch_top_room_) {
      const std::size_t held = pending_;
      if (auto ec = commit("committing a batch before a write to a lower room")) {
        if (held > 0) {  // those writes are not stored: flush() must say so
          lost_ = true;
          lost_reason_ = error_;
        }
        return ec;
      }
      ++ordered_commits_;
    }
    if (open_) {
      if (room > batch_top_room_) batch_top_room_.assign(room.data(), room.size());
      return {};
    }
    // BEGIN goes out with the write's first statement, in one pipeline
    // (run_after_begin): the loop waits for one round trip, not two.
    begin_pending_ = true;
    open_ = true;
    batch_top_room_.assign(room.data(), room.size());
    return {};
  }

  /// Fails when a lost batch waits for `flush()` to report it: no write
  /// may join it (see begin_write).
  std::error_code writable(const char* what) {
    if (!lost_) return {};
    return set_error(std::string(what) + ": an earlier write of this batch failed (" +
                     lost_reason_ + "); flush() reports it before new writes");
  }
  /// A lost batch waits for `flush()`.
  bool lost() const noexcept { return lost_; }

  /// One statement of a `pipeline` (detail/postgresql_pipeline.hpp).
  using step = pg_pipeline_step;

  /// Runs `steps` in one pipeline (libpq pipeline mode, one Sync): one
  /// round trip, however many steps. Within the batch exactly as
  /// `begin_write` and `run` would run them one by one: BEGIN before the
  /// first write when no transaction is open, COMMIT and BEGIN before a
  /// write to a room below the batch's highest (the lock order), and
  /// COMMIT after the last step when `commit_last`. `bind(i, scratch)`
  /// returns step i's parameters (libpq copies them as it sends). The
  /// first `counted` steps are writes the batch counts as pending (the
  /// others are counted by their caller's `finish_write`).
  ///
  /// On success `results[i]` is step i's result. A step that fails aborts
  /// the transaction, and the server skips every statement after it up to
  /// the Sync: then the whole pipeline failed, the transaction is rolled
  /// back and, unless this was the commit (whose failure the caller
  /// reports now), the batch is lost like after any failed write.
  template <class Bind>
  std::error_code pipeline(const std::vector<step>& steps, Bind&& bind, std::size_t counted,
                           bool commit_last, std::vector<pg_result>& results, const char* what) {
    if (auto ec = writable(what)) return ec;
    if (conn_ == nullptr) return set_error("the store is closed");
    results.clear();
    if (steps.empty()) return {};
    const bool fresh = !open_ || begin_pending_;
    open_ = true;  // from here on the wait counts in the batch
    begin_pending_ = false;
    const waiting timed(*this);
    std::vector<pg_planned> plan;
    std::string top;
    std::size_t commits = 0;
    pg_plan_steps(steps, fresh, commit_last, group_commit_, batch_top_room_, plan, top, commits);
    std::vector<pg_result> raw;
    ++round_trips_;
    bool sent = pg_send_plan(conn_, steps, plan, bind, raw);
    // A connection found dead before BEGIN took: nothing of the
    // transaction ran, so once on a new connection.
    if (fresh && (!sent || !raw.front().ok()) && PQstatus(conn_) != CONNECTION_OK) {
      ready_ = false;
      if (reconnect()) {
        ++round_trips_;
        sent = pg_send_plan(conn_, steps, plan, bind, raw);
      }
    }
    std::size_t bad = sent ? plan.size() : 0;
    for (std::size_t i = 0; sent && i < plan.size(); ++i)
      if (!raw[i].ok()) {
        bad = i;
        break;
      }
    if (bad < plan.size()) {
      const pg_result none;
      pg_failed(conn_, sent ? raw[bad] : none, what, error_);
      pending_ += counted;
      if (PQstatus(conn_) == CONNECTION_OK) {
        ++round_trips_;
        pg_exec(conn_, "ROLLBACK");  // outside a transaction (a failed COMMIT): a warning
      } else {
        ready_ = false;
      }
      if (!commit_last && pending_ > 0) {
        lost_ = true;
        lost_reason_ = error_;
      }
      open_ = false;
      pending_ = 0;
      return errc::store_failure;
    }
    ordered_commits_ += commits;
    if (commit_last) {
      open_ = false;
      pending_ = 0;
      // COMMIT of a transaction the server had aborted answers ROLLBACK.
      if (std::strcmp(PQcmdStatus(raw.back().get()), "COMMIT") != 0)
        return set_error(std::string(what) + ": the server rolled the transaction back");
    } else {
      batch_top_room_ = std::move(top);
      pending_ += counted;
      // Only reads, and no transaction was open: none is now.
      if (fresh && !pg_has_write(steps)) open_ = false;
    }
    results.resize(steps.size());
    for (std::size_t i = 0; i < plan.size(); ++i)
      if (plan[i].kind == pg_planned::statement) results[plan[i].step] = std::move(raw[i]);
    return {};
  }

  /// Batches committed early to keep the room order (see begin_write).
  std::size_t ordered_commits() const noexcept { return ordered_commits_; }

  /// Statements sent and waited for (the caller's thread blocks on each):
  /// BEGIN, COMMIT and ROLLBACK included, connecting and preparing not.
  std::uint64_t round_trips() const noexcept { return round_trips_; }
  /// The time the caller's thread spent in those round trips (and in the
  /// reconnections they made).
  std::chrono::steady_clock::duration waited() const noexcept { return waited_; }
  /// Of those, the ones made while a write transaction was open (from the
  /// statement that carried its BEGIN to its COMMIT or ROLLBACK, reads in
  /// between included), and their time.
  std::uint64_t batch_round_trips() const noexcept { return batch_round_trips_; }
  std::chrono::steady_clock::duration batch_waited() const noexcept { return batch_waited_; }

  /// Ends a write: counts it in the batch (group commit) or commits it.
  /// `wrote`: the write changed something (a duplicate did not).
  std::error_code finish_write(bool wrote, const char* what) {
    if (group_commit_) {
      if (wrote) ++pending_;
      // A batch with nothing written yet (a duplicate, a lost claim) is
      // ended here: the caller will not flush for it, and an idle open
      // transaction would keep the rows it touched locked until some later
      // write, blocking other servers meanwhile.
      if (pending_ > 0) return {};
    }
    return commit(what);
  }

  /// Commits the open transaction, if any. Fails when the commit fails or
  /// when the batch was already lost: either way none of it is stored.
  std::error_code flush() {
    if (lost_) {
      lost_ = false;
      return set_error("flush: the batch was rolled back after an earlier error (" +
                       lost_reason_ + "); none of its writes is stored");
    }
    if (conn_ == nullptr) return set_error("the store is closed");
    if (!open_) return {};
    return commit("flush: commit");
  }

  /// After a failed statement: PostgreSQL has aborted the open
  /// transaction, so it is rolled back and, if it held earlier writes, the
  /// batch is marked lost.
  std::error_code fail(const pg_result& r, const char* what) {
    pg_failed(conn_, r, what, error_);
    note_connection();
    abort_batch();
    return errc::store_failure;
  }

  /// A failure that is not the server's (a bug, a value out of range):
  /// rolled back like any other, so the write leaves no trace.
  std::error_code fail_logic(const char* what) {
    error_ = what;
    abort_batch();
    return errc::store_failure;
  }

  /// Closes the connection; the server rolls back an open transaction.
  void close() noexcept {
    PQfinish(conn_);  // a no-op on nullptr
    conn_ = nullptr;
    ready_ = false;
    open_ = false;
    pending_ = 0;
  }

  /// Commits what is open (best effort), then closes.
  void commit_and_close() noexcept {
    if (conn_ != nullptr && open_ && !begin_pending_ && PQstatus(conn_) == CONNECTION_OK)
      pg_exec(conn_, "COMMIT");
    begin_pending_ = false;
    close();
  }

 private:
  using steady = std::chrono::steady_clock;

  static void ignore_notice(void*, const char*) noexcept {}

  /// Adds the time from its construction to its destruction, and the
  /// round trips made meanwhile, to the totals (and to the batch's when a
  /// transaction was open at its construction).
  class waiting {
   public:
    explicit waiting(pg_connection& c) noexcept
        : c_(c), in_batch_(c.open_), trips_(c.round_trips_), start_(steady::now()) {}
    ~waiting() {
      const steady::duration d = steady::now() - start_;
      c_.waited_ += d;
      if (!in_batch_) return;
      c_.batch_waited_ += d;
      c_.batch_round_trips_ += c_.round_trips_ - trips_;
    }
    waiting(const waiting&) = delete;
    waiting& operator=(const waiting&) = delete;

   private:
    pg_connection& c_;
    bool in_batch_;
    std::uint64_t trips_;
    steady::time_point start_;
  };

  /// The first statement of a transaction: BEGIN and the statement in one
  /// pipeline (libpq pipeline mode), one round trip. Retried once on a new
  /// connection when the connection turned out dead before BEGIN took:
  /// then nothing of the transaction ran.
  pg_result run_after_begin(pg_sid id, const pg_params& p) {
    begin_pending_ = false;
    bool begun = false;
    ++round_trips_;
    pg_result r = begin_and_run(id, p, begun);
    if (!begun && PQstatus(conn_) != CONNECTION_OK) {
      ready_ = false;
      if (!reconnect()) return r;
      ++round_trips_;
      r = begin_and_run(id, p, begun);
    }
    return r;
  }

  /// The BEGIN's failure if it failed (`begun` false), else the
  /// statement's result. Leaves the connection out of pipeline mode.
  pg_result begin_and_run(pg_sid id, const pg_params& p, bool& begun) {
    begun = false;
    if (PQenterPipelineMode(conn_) != 1) return pg_result();
    const std::string name = pg_statement_name(id);
    const bool sent =
        PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
        PQsendQueryPrepared(conn_, name.c_str(), p.count(), p.values(), p.lengths(), p.formats(), 1) ==
            1 &&
        PQpipelineSync(conn_) == 1;
    pg_result begin_result;
    pg_result result;
    if (sent) {
      // Each query's result is followed by a null; then the sync's result.
      begin_result = pg_result(PQgetResult(conn_));
      if (begin_result.get() != nullptr) PQclear(PQgetResult(conn_));
      result = pg_result(PQgetResult(conn_));
      if (result.get() != nullptr) PQclear(PQgetResult(conn_));
    }
    pg_drain_pipeline(conn_, 16);  // the sync's result, or what a failure left
    if (!sent) return pg_result();
    if (!begin_result.ok()) return begin_result;
    begun = true;
    return result;
  }

  std::error_code commit(const char* what) {
    if (begin_pending_) {  // no statement ran: there is nothing to commit
      begin_pending_ = false;
      open_ = false;
      pending_ = 0;
      return {};
    }
    const waiting timed(*this);
    ++round_trips_;
    const pg_result r = pg_exec(conn_, "COMMIT");
    open_ = false;
    pending_ = 0;
    if (!r.ok()) {
      note_connection();
      pg_failed(conn_, r, what, error_);
      return errc::store_failure;
    }
    // COMMIT of a transaction the server had aborted answers ROLLBACK.
    if (std::strcmp(PQcmdStatus(r.get()), "COMMIT") != 0)
      return set_error(std::string(what) + ": the server rolled the transaction back");
    return {};
  }

  void abort_batch() {
    if (!open_) return;
    if (begin_pending_) {
      begin_pending_ = false;  // nothing was sent: nothing to roll back
    } else if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
      const waiting timed(*this);
      ++round_trips_;
      pg_exec(conn_, "ROLLBACK");
    }
    if (pending_ > 0) {
      lost_ = true;
      lost_reason_ = error_;
    }
    open_ = false;
    pending_ = 0;
  }

  /// Notices a dead connection: the open batch is gone with it.
  void note_connection() {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return;
    ready_ = false;
    abort_batch();
  }

  /// One reconnection attempt, unless one was made less than
  /// `reconnect_interval` ago: reset the connection, prepare again.
  bool reconnect() {
    const steady::time_point now = steady::now();
    if (attempted_ && now - last_attempt_ < reconnect_interval_) return false;
    attempted_ = true;
    last_attempt_ = now;
    ready_ = false;
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      connect_error_ = libpq_message();
      return false;
    }
    const pg_result prepared = pg_prepare_all(conn_);
    if (!prepared.ok()) {
      connect_error_ = "preparing the statements: " + prepared.error_message();
      return false;
    }
    ready_ = true;
    ++reconnects_;
    return true;
  }

  std::string libpq_message() const {
    std::string m = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }

  bool group_commit_;
  std::chrono::milliseconds reconnect_interval_;
  PGconn* conn_ = nullptr;
  bool ready_ = false;       ///< connected, statements prepared
  bool open_ = false;        ///< a transaction is open (a batch, or one write)
  bool begin_pending_ = false;  ///< open_, but BEGIN goes out with the next statement
  bool lost_ = false;        ///< a batch was rolled back: the next flush fails
  std::size_t pending_ = 0;  ///< writes in the open batch
  std::string batch_top_room_;  ///< the highest room the open transaction wrote to
  std::size_t ordered_commits_ = 0;
  std::uint64_t round_trips_ = 0;
  steady::duration waited_{};
  std::uint64_t batch_round_trips_ = 0;
  steady::duration batch_waited_{};
  std::string lost_reason_;
  std::string error_;
  std::string connect_error_;
  bool attempted_ = false;
  steady::time_point last_attempt_{};
  std::size_t reconnects_ = 0;
};

}  // namespace livechat::detail

#endif
