// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// sqlite_store: first the MessageStore contract (store_conformance.hpp) with
// group commit, committing each write, and with synchronous=FULL; then what
// only a database file has: reopening, group commit and crashes, failed
// commits, migrations, bad files, locks.
// Compiled to nothing where SQLite is missing (livechat::sqlite is then
// not built either).
#if __has_include(<sqlite3.h>)

#include <livechat/store/sqlite_store.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#if defined(_WIN32)
#include <process.h>
#define LIVECHAT_TEST_GETPID _getpid
#else
#include <csignal>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#define LIVECHAT_TEST_GETPID getpid
#endif

namespace {

using livechat::append_request;
using livechat::errc;
using livechat::message_store;
using livechat::sqlite_options;
using livechat::sqlite_store;
using livechat::system_time;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// A database path under the system temp dir, unique per process and test;
/// the file and its -wal/-shm/-journal companions are removed before and after.
class temp_db {
 public:
  temp_db() : path_(make_path()) { remove_all(); }
  ~temp_db() { remove_all(); }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;

  const std::string& path() const { return path_; }

  void remove_all() const {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::error_code ec;
      std::filesystem::remove(path_ + suffix, ec);
    }
  }

 private:
  static std::string make_path() {
    static unsigned counter = 0;
    const std::string name = "livechat-sqlite-test-" +
                             std::to_string(LIVECHAT_TEST_GETPID()) + "-" +
                             std::to_string(++counter) + ".db";
    return (std::filesystem::temp_directory_path() / name).string();
  }

  std::string path_;
};

sqlite_options options_for(const std::string& path, bool group_commit = true) {
  sqlite_options o;
  o.path = path;
  o.group_commit = group_commit;
  return o;
}

std::unique_ptr<sqlite_store> open_store(const sqlite_options& o) {
  std::string why;
  auto r = sqlite_store::open(o, why);
  INFO(why);
  REQUIRE(r.ok());
  REQUIRE(why.empty());
  return std::move(r.value());
}

std::unique_ptr<sqlite_store> open_store(const std::string& path, bool group_commit = true) {
  return open_store(options_for(path, group_commit));
}

/// The error message of an open that must fail.
std::string open_error(const sqlite_options& o) {
  std::string why;
  auto r = sqlite_store::open(o, why);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == errc::store_failure);
  CHECK_FALSE(why.empty());
  return why;
}

/// A second, independent connection to the same file: another process's view.
class raw_db {
 public:
  explicit raw_db(const std::string& path, int busy_ms = 2000) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                   nullptr);
    REQUIRE(rc == SQLITE_OK);
    sqlite3_busy_timeout(db_, busy_ms);
  }
  ~raw_db() { sqlite3_close_v2(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  int try_exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  void exec(const std::string& sql) {
    const int rc = try_exec(sql);
    INFO(sql << ": " << sqlite3_errmsg(db_));
    REQUIRE(rc == SQLITE_OK);
  }
  /// Runs the shipped migration steps up to `version`, as an older
  /// release would have left the file.
  void migrate_through(int version) {
    for (const auto& m : livechat::detail::sqlite_migrations)
      if (m.version <= version) exec(m.sql);
  }
  /// The first column of the first row as text ("" without a row).
  std::string scalar(const std::string& sql) { return scalar_on(db_, sql); }

  static std::string scalar_on(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
    INFO(sql << ": " << sqlite3_errmsg(db));
    REQUIRE(rc == SQLITE_OK);
    std::string out;
    const int step = sqlite3_step(s);
    if (step == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr)
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    CHECK((step == SQLITE_ROW || step == SQLITE_DONE));
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

void exec_on(sqlite3* db, const std::string& sql) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  INFO(sql << ": " << (msg != nullptr ? msg : ""));
  sqlite3_free(msg);
  REQUIRE(rc == SQLITE_OK);
}

// --- One harness per store under test ----------------------------------------

/// Tag: sqlite_store with group_commit = false.
struct sqlite_autocommit {};
/// Tag: sqlite_store with synchronous = FULL (and group commit).
struct sqlite_full_sync {};

template <class T>
struct harness;

template <>
struct harness<sqlite_store> {
  static constexpr const char* name = "sqlite_store";
  temp_db file;
  std::unique_ptr<sqlite_store> s = open_store(file.path(), true);
  sqlite_store& store() { return *s; }
};

template <>
struct harness<sqlite_autocommit> {
  [[maybe_unused]] static constexpr const char* name = "sqlite_autocommit";
  temp_db file;
  std::unique_ptr<sqlite_store> s = open_store(file.path(), false);
  sqlite_store& store() { return *s; }
};

template <>
struct harness<sqlite_full_sync> {
  [[maybe_unused]] static constexpr const char* name = "sqlite_full_sync";
  temp_db file;
  std::unique_ptr<sqlite_store> s = open_store(full_sync(file.path()));
  sqlite_store& store() { return *s; }
  static sqlite_options full_sync(const std::string& path) {
    sqlite_options o = options_for(path, true);
    o.synchronous = livechat::sqlite_synchronous::full;
    return o;
  }
};

}  // namespace

#define LIVECHAT_STORE_CONFORMANCE_TYPES sqlite_store, sqlite_autocommit, sqlite_full_sync
#define LIVECHAT_STORE_CONFORMANCE_BULK_TYPES sqlite_store
#define LIVECHAT_STORE_CONFORMANCE_TAGS "[sqlite][store]"
#include "store_conformance.hpp"

// === What only the SQLite store has ==========================================

TEST_CASE("sqlite_store: everything survives a reopen", "[sqlite]") {
  temp_db file;
  std::string epoch;
  std::vector<livechat::message> before;
  {
    auto store = open_store(file.path());
    epoch = store->epoch();
    REQUIRE(store->append(request(room_a, "a1", "alice", "c1", 1000)).ok());
    auto hook = request("conversation:U1", "from LINE", "U1", {}, 1000);
    hook.sender.type = livechat::sender_type::user;
    hook.webhook_event_id = "evt-1";
    REQUIRE(store->append(hook).ok());
    REQUIRE(store->append(request(room_a, "a2", "bob", {}, 1000)).ok());
    livechat::session_state s;
    s.status = livechat::session_status::claimed;
    s.claimed_by = livechat::user_ref{"bob", "Bob"};
    s.updated_at = at(4242);
    s.version = 3;
    REQUIRE(store->save_session(room_a, s).ok());
    REQUIRE(store->mark_read(room_a, "bob", 2).ok());
    REQUIRE(store->flush().ok());
    before = store->history(room_a, std::nullopt, 50)->messages;
  }

  auto store = open_store(file.path());
  CHECK(store->epoch() == epoch);
  CHECK(*store->epoch(room_b) == epoch);

  auto page = store->history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  REQUIRE(page->messages.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    CHECK(page->messages[i].id == before[i].id);
    CHECK(page->messages[i].seq == before[i].seq);
    CHECK(page->messages[i].text == before[i].text);
    CHECK(page->messages[i].sender.name == before[i].sender.name);
    CHECK(page->messages[i].created_at == before[i].created_at);
    CHECK(page->messages[i].client_msg_id == before[i].client_msg_id);
  }

  auto s = store->load_session(room_a);
  REQUIRE(s.ok());
  CHECK(s->status == livechat::session_status::claimed);
  CHECK(*s->claimed_by == livechat::user_ref{"bob", "Bob"});
  CHECK(s->updated_at == at(4242));
  CHECK(s->version == 3);
  CHECK(*store->read_position(room_a, "bob") == 2);
  CHECK(*store->mark_read(room_a, "bob", 1) == 2);

  auto dup = store->append(request(room_a, "again", "alice", "c1"));
  REQUIRE(dup.ok());
  CHECK(dup->duplicate);
  CHECK(dup->message.id == before[0].id);
  auto hook = request("conversation:U1", "redelivered", "U1");
  hook.webhook_event_id = "evt-1";
  auto hook_dup = store->append(hook);
  REQUIRE(hook_dup.ok());
  CHECK(hook_dup->duplicate);
  CHECK(hook_dup->message.text == "from LINE");

  // The seq and the id counter continue; ties still go to the latest append.
  auto next = store->append(request(room_a, "a3", "alice", {}, 1000));
  REQUIRE(next.ok());
  CHECK(next->message.seq == 3);
  CHECK(next->message.id.rfind(epoch + "-", 0) == 0);
  for (const auto& m : before) CHECK(next->message.id != m.id);
  auto list = store->conversations(10);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].room == room_a);
  CHECK((*list)[1].room == "conversation:U1");
  CHECK((*list)[0].session.version == 3);
}

TEST_CASE("sqlite_store: group commit", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  raw_db other(file.path());
  auto committed = [&] { return std::stoi(other.scalar("SELECT count(*) FROM messages")); };

  fill(*store, room_a, 3);
  REQUIRE(store->save_session(room_a, livechat::session_state{}).ok());
  REQUIRE(store->mark_read(room_a, "alice", 2).ok());
  REQUIRE(store->append(request(room_a, "dup", "alice", "c1")).ok());
  REQUIRE(store->append(request(room_a, "dup", "alice", "c1"))->duplicate);
  CHECK(store->pending_writes() == 6);  // the duplicate wrote nothing

  SECTION("this store reads its pending writes; other connections don't see them") {
    CHECK(store->history(room_a, std::nullopt, 50)->last_seq == 4);
    CHECK(store->conversations(10)->size() == 1);
    CHECK(*store->read_position(room_a, "alice") == 2);
    CHECK(committed() == 0);

    REQUIRE(store->flush().ok());
    CHECK(store->pending_writes() == 0);
    CHECK(committed() == 4);
    CHECK(other.scalar("SELECT seq FROM read_positions") == "2");
    CHECK(store->flush().ok());  // nothing open: a no-op

    REQUIRE(store->append(request(room_a, "next")).ok());
    CHECK(store->pending_writes() == 1);
    CHECK(committed() == 4);
    REQUIRE(store->flush().ok());
    CHECK(committed() == 5);
  }

  SECTION("a crash loses exactly the unflushed writes") {
    REQUIRE(store->flush().ok());
    REQUIRE(store->append(request(room_a, "lost 1", "alice", "c2")).ok());
    REQUIRE(store->append(request(room_b, "lost 2")).ok());
    REQUIRE(store->mark_read(room_a, "alice", 4).ok());
    store->abandon();

    CHECK(store->append(request(room_a, "x")).error() == errc::store_failure);
    CHECK(store->history(room_a, std::nullopt, 50).error() == errc::store_failure);
    CHECK(store->flush().error() == errc::store_failure);
    CHECK(contains(store->last_error(), "closed"));

    auto reopened = open_store(file.path());
    CHECK(reopened->history(room_a, std::nullopt, 50)->last_seq == 4);
    CHECK(reopened->history(room_b, std::nullopt, 50)->last_seq == 0);
    CHECK(*reopened->read_position(room_a, "alice") == 2);
    auto again = reopened->append(request(room_a, "retry", "alice", "c2"));
    REQUIRE(again.ok());
    CHECK_FALSE(again->duplicate);  // the lost append left no dedupe record
    CHECK(again->message.seq == 5);
  }

  SECTION("closing the store commits what is pending") {
    store.reset();
    CHECK(committed() == 4);
    CHECK(open_store(file.path())->history(room_a, std::nullopt, 50)->last_seq == 4);
  }
}

#if !defined(_WIN32)
TEST_CASE("sqlite_store: after SIGKILL exactly the flushed writes remain", "[sqlite]") {
  temp_db file;
  {
    auto store = open_store(file.path());
    fill(*store, room_a, 3);
    REQUIRE(store->flush().ok());
  }
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No Catch2 in the child: exit codes say what went wrong.
    std::string why;
    auto opened = sqlite_store::open(options_for(file.path()), why);
    if (!opened) _exit(10);
    sqlite_store& store = **opened;
    for (int i = 4; i <= 10; ++i)
      if (!store.append(request(room_a, "flushed " + std::to_string(i)))) _exit(11);
    if (!store.flush()) _exit(12);
    // Unflushed, and more than the page cache holds, so that uncommitted
    // pages spill into the WAL before the kill.
    const std::string big(2000, 'u');
    for (int i = 0; i < 3000; ++i)
      if (!store.append(request(room_a, big))) _exit(13);
    raise(SIGKILL);
    _exit(14);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("child exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  auto store = open_store(file.path());
  auto page = store->history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  CHECK(page->last_seq == 10);
  CHECK(seqs_of(*page) == range(1, 10));
  CHECK(page->messages.back().text == "flushed 10");
  CHECK(store->append(request(room_a, "after"))->message.seq == 11);
}
#endif

TEST_CASE("sqlite_store: without group commit every write commits at once", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path(), false);
  raw_db other(file.path());

  REQUIRE(store->append(request(room_a, "one")).ok());
  CHECK(store->pending_writes() == 0);
  CHECK(other.scalar("SELECT count(*) FROM messages") == "1");
  REQUIRE(store->save_session(room_a, livechat::session_state{}).ok());
  CHECK(other.scalar("SELECT session_status FROM rooms") == "open");
  REQUIRE(store->mark_read(room_a, "alice", 1).ok());
  CHECK(other.scalar("SELECT seq FROM read_positions") == "1");
  CHECK(store->flush().ok());

  store->abandon();  // nothing was pending, so nothing is lost
  CHECK(open_store(file.path())->history(room_a, std::nullopt, 50)->last_seq == 1);
}

TEST_CASE("sqlite_store: a failed commit loses the batch and the seqs continue", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  fill(*store, room_a, 2);
  REQUIRE(store->flush().ok());

  // A deferred foreign key makes COMMIT itself fail: a message with the
  // text "poison" adds a row that violates it.
  exec_on(store->native_handle(),
          "CREATE TABLE fk_parent(id INTEGER PRIMARY KEY);"
          "CREATE TABLE fk_child(parent INTEGER REFERENCES fk_parent(id) "
          "DEFERRABLE INITIALLY DEFERRED);"
          "CREATE TEMP TRIGGER poison AFTER INSERT ON main.messages WHEN NEW.text = 'poison' "
          "BEGIN INSERT INTO fk_child VALUES(42); END;");

  REQUIRE(store->append(request(room_a, "ok 3", "alice", "c3")).ok());
  REQUIRE(store->append(request(room_a, "poison")).ok());
  REQUIRE(store->mark_read(room_a, "alice", 4).ok());
  livechat::session_state s;
  s.version = 5;
  REQUIRE(store->save_session(room_a, s).ok());
  REQUIRE(store->append(request(room_b, "other room")).ok());
  CHECK(store->pending_writes() == 5);

  auto flushed = store->flush();
  REQUIRE_FALSE(flushed.ok());
  CHECK(flushed.error() == errc::store_failure);
  CHECK(contains(store->last_error(), "FOREIGN KEY"));
  CHECK(store->pending_writes() == 0);
  CHECK(store->stats().failures == 1);

  // Every write of the batch is gone, on this connection too.
  CHECK(store->history(room_a, std::nullopt, 50)->last_seq == 2);
  CHECK(store->history(room_b, std::nullopt, 50)->last_seq == 0);
  CHECK(*store->read_position(room_a, "alice") == 0);
  CHECK(store->load_session(room_a)->version == 0);
  CHECK(store->conversations(10)->size() == 1);

  // Nothing stale: seq 3 is given again, the dedupe record went too.
  auto retry = store->append(request(room_a, "ok 3 again", "alice", "c3"));
  REQUIRE(retry.ok());
  CHECK_FALSE(retry->duplicate);
  CHECK(retry->message.seq == 3);
  CHECK(store->append(request(room_b, "b1"))->message.seq == 1);
  REQUIRE(store->flush().ok());

  store.reset();
  auto reopened = open_store(file.path());
  CHECK(seqs_of(*reopened->history(room_a, std::nullopt, 50)) == range(1, 3));
  CHECK(reopened->history(room_a, std::nullopt, 50)->messages.back().text == "ok 3 again");
}

TEST_CASE("sqlite_store: a failed write is undone alone", "[sqlite]") {
  const bool group_commit = GENERATE(true, false);
  CAPTURE(group_commit);
  temp_db file;
  auto store = open_store(file.path(), group_commit);
  // Fails the message insert, after the room's seq was bumped.
  exec_on(store->native_handle(),
          "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.messages WHEN NEW.text = 'boom' "
          "BEGIN SELECT RAISE(ABORT, 'boom refused'); END;");

  SECTION("as the first write of a batch") {
    auto r = store->append(request(room_a, "boom", "alice", "c1"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::store_failure);
    CHECK(contains(store->last_error(), "boom refused"));
    CHECK(store->pending_writes() == 0);
    CHECK(store->flush().ok());
    CHECK(store->history(room_a, std::nullopt, 50)->last_seq == 0);
    CHECK(store->conversations(10)->empty());
  }

  SECTION("after other writes, which stay") {
    REQUIRE(store->append(request(room_a, "one")).ok());
    REQUIRE(store->mark_read(room_a, "alice", 1).ok());
    auto r = store->append(request(room_a, "boom", "alice", "c1"));
    REQUIRE_FALSE(r.ok());
    CHECK(store->pending_writes() == (group_commit ? 2u : 0u));
    auto next = store->append(request(room_a, "two", "alice", "c1"));
    REQUIRE(next.ok());
    CHECK_FALSE(next->duplicate);
    CHECK(next->message.seq == 2);
    REQUIRE(store->flush().ok());
    store.reset();
    auto reopened = open_store(file.path());
    CHECK(seqs_of(*reopened->history(room_a, std::nullopt, 50)) == range(1, 2));
    CHECK(*reopened->read_position(room_a, "alice") == 1);
  }
}

/// How often the store's connection has run `sql` (one of its prepared statements).
int runs_of(sqlite3* db, const std::string& sql) {
  for (sqlite3_stmt* st = sqlite3_next_stmt(db, nullptr); st != nullptr;
       st = sqlite3_next_stmt(db, st))
    if (sql == sqlite3_sql(st)) return sqlite3_stmt_status(st, SQLITE_STMTSTATUS_RUN, 0);
  FAIL("no prepared statement " << sql);
  return -1;
}

TEST_CASE("sqlite_store: a plain message is one statement, without a savepoint", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  sqlite3* db = store->native_handle();
  const std::string savepoint = "SAVEPOINT livechat_write";
  for (int i = 0; i < 5; ++i) {
    REQUIRE(store->append(request(room_a, "plain " + std::to_string(i))).ok());
    REQUIRE(store->append(request(room_b, "keyed", "alice", "k" + std::to_string(i))).ok());
  }
  CHECK(store->pending_writes() == 10);
  CHECK(runs_of(db, savepoint) == 0);
  // A webhook message records its event as a second statement: savepoint.
  append_request hook = request(room_a, "from LINE", "U1");
  hook.sender.type = livechat::sender_type::user;
  hook.webhook_event_id = "ev1";
  REQUIRE(store->append(hook).ok());
  CHECK(runs_of(db, savepoint) == 1);
  // The other writes keep theirs.
  REQUIRE(store->mark_read(room_a, "alice", 1).ok());
  CHECK(runs_of(db, savepoint) == 2);
  REQUIRE(store->flush().ok());
  CHECK(seqs_of(*store->history(room_a, std::nullopt, 50)) == range(1, 6));
  CHECK(seqs_of(*store->history(room_b, std::nullopt, 50)) == range(1, 5));
}

TEST_CASE("sqlite_store: a refused message leaves the batch's other writes", "[sqlite]") {
  // No trigger, so no statement journal either: the INSERT fails on its
  // primary key (a row another connection put where the next seq goes)
  // before it writes anything.
  temp_db file;
  auto store = open_store(file.path());
  {
    raw_db other(file.path());
    other.exec("INSERT INTO messages(room, seq, id, sender_type, sender_id, sender_name, text, "
               "created_at) VALUES('conversation:B', 1, 'elsewhere-1', 'user', 'U1', 'U', 'x', 1)");
  }
  REQUIRE(store->append(request(room_a, "one", "alice", "c1")).ok());
  REQUIRE(store->mark_read(room_a, "alice", 1).ok());
  auto refused = store->append(request(room_b, "clash", "alice", "c2"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error() == errc::store_failure);
  CHECK(contains(store->last_error(), "UNIQUE"));
  CHECK(store->pending_writes() == 2);
  auto next = store->append(request(room_a, "two", "alice", "c2"));
  REQUIRE(next.ok());
  CHECK_FALSE(next->duplicate);  // the refused message's key was not kept
  CHECK(next->message.seq == 2);
  REQUIRE(store->flush().ok());
  store.reset();
  auto reopened = open_store(file.path());
  CHECK(seqs_of(*reopened->history(room_a, std::nullopt, 50)) == range(1, 2));
  CHECK(*reopened->read_position(room_a, "alice") == 1);
  raw_db after(file.path());
  CHECK(after.scalar("SELECT group_concat(id) FROM messages WHERE room = 'conversation:B'") ==
        "elsewhere-1");
}

TEST_CASE("sqlite_store: a full database fails the batch, never acknowledges part of it",
          "[sqlite]") {
  // PRAGMA max_page_count makes SQLite answer SQLITE_FULL as on a full
  // disk; SQLite then rolls the whole transaction back by itself.
  temp_db file;
  auto store = open_store(file.path());
  sqlite3* db = store->native_handle();
  fill(*store, room_a, 2);
  REQUIRE(store->flush().ok());
  const std::string pages = raw_db::scalar_on(db, "PRAGMA page_count");
  exec_on(db, "PRAGMA max_page_count = " + pages);
  // Two small messages fit in the pages there are; a big one needs new ones.
  REQUIRE(store->append(request(room_a, "small 3", "alice", "s3")).ok());
  REQUIRE(store->append(request(room_b, "small 1", "alice", "s1")).ok());
  auto big = store->append(request(room_a, std::string(20000, 'x'), "alice", "big"));
  REQUIRE_FALSE(big.ok());
  CHECK(big.error() == errc::store_failure);
  CHECK(contains(store->last_error(), "full"));
  // The batch's earlier messages went with it: the flush says so rather
  // than let them be acknowledged.
  CHECK_FALSE(store->flush().ok());
  CHECK(store->pending_writes() == 0);

  exec_on(db, "PRAGMA max_page_count = 1073741823");
  CHECK(store->flush().ok());
  CHECK(*store->last_seq(room_a) == 2);
  CHECK(*store->last_seq(room_b) == 0);
  auto again = store->append(request(room_a, "small 3 again", "alice", "s3"));
  REQUIRE(again.ok());
  CHECK_FALSE(again->duplicate);  // its key went with the batch
  CHECK(again->message.seq == 3);
  REQUIRE(store->append(request(room_a, std::string(20000, 'x'), "alice", "big")).ok());
  REQUIRE(store->flush().ok());
  store.reset();
  CHECK(seqs_of(*open_store(file.path())->history(room_a, std::nullopt, 50)) == range(1, 4));
}

TEST_CASE("sqlite_store: an injected flush failure keeps the batch open", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  raw_db other(file.path());
  fill(*store, room_a, 2);
  store->fail_after(0);
  CHECK(store->flush().error() == errc::store_failure);
  CHECK(contains(store->last_error(), "injected"));
  CHECK(store->pending_writes() == 2);
  store->clear_failure();
  CHECK(other.scalar("SELECT count(*) FROM messages") == "0");
  REQUIRE(store->flush().ok());
  CHECK(other.scalar("SELECT count(*) FROM messages") == "2");
}

TEST_CASE("sqlite_store: another connection's lock fails after busy_timeout", "[sqlite]") {
  const bool group_commit = GENERATE(true, false);
  CAPTURE(group_commit);
  temp_db file;
  sqlite_options o = options_for(file.path(), group_commit);
  o.busy_timeout = std::chrono::milliseconds(50);
  auto store = open_store(o);
  fill(*store, room_a, 2);
  REQUIRE(store->flush().ok());

  raw_db other(file.path());
  other.exec("BEGIN EXCLUSIVE");

  const auto start = std::chrono::steady_clock::now();
  auto r = store->append(request(room_a, "blocked", "alice", "c1"));
  const auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == errc::store_failure);
  CHECK(contains(store->last_error(), "locked"));
  CHECK(waited >= std::chrono::milliseconds(40));
  CHECK(waited < std::chrono::seconds(3));
  CHECK(store->mark_read(room_a, "alice", 1).error() == errc::store_failure);
  CHECK(store->save_session(room_a, {}).error() == errc::store_failure);
  CHECK(store->pending_writes() == 0);

  // WAL: reads go on while another connection writes.
  CHECK(store->history(room_a, std::nullopt, 50)->last_seq == 2);
  CHECK(store->flush().ok());

  other.exec("COMMIT");
  auto after = store->append(request(room_a, "after", "alice", "c1"));
  REQUIRE(after.ok());
  CHECK_FALSE(after->duplicate);
  CHECK(after->message.seq == 3);
  REQUIRE(store->flush().ok());
  CHECK(other.scalar("SELECT count(*) FROM messages") == "3");
}

TEST_CASE("sqlite_store: two stores on one file keep seq and ids consistent", "[sqlite]") {
  temp_db file;
  sqlite_options o = options_for(file.path(), false);
  o.busy_timeout = std::chrono::milliseconds(20);
  auto first = open_store(o);
  auto second = open_store(o);
  CHECK(first->epoch() == second->epoch());
  std::set<std::string> ids;
  for (int i = 1; i <= 20; ++i) {
    sqlite_store& s = i % 2 == 0 ? *first : *second;
    auto r = s.append(request(room_a, "m" + std::to_string(i)));
    REQUIRE(r.ok());
    CHECK(r->message.seq == static_cast<std::uint64_t>(i));
    ids.insert(r->message.id);
  }
  CHECK(ids.size() == 20);
  CHECK(seqs_of(*first->history(room_a, std::nullopt, 50)) == range(1, 20));

  SECTION("an open batch holds the write lock until it is flushed") {
    o.group_commit = true;
    auto batching = open_store(o);
    REQUIRE(batching->append(request(room_a, "pending")).ok());
    CHECK(first->append(request(room_a, "waits")).error() == errc::store_failure);
    REQUIRE(batching->flush().ok());
    CHECK(first->append(request(room_a, "goes"))->message.seq == 22);
  }
}

TEST_CASE("sqlite_store: a batch's counters are never taken for another batch's", "[sqlite]") {
  // Within a batch the store reads the message order and a room's seq
  // once; the next batch must read them again, as another connection may
  // have written in between.
  temp_db file;
  sqlite_options o = options_for(file.path(), true);
  o.busy_timeout = std::chrono::milliseconds(20);
  auto first = open_store(o);
  auto second = open_store(o);
  std::set<std::string> ids;
  std::uint64_t expected_a = 0;
  std::uint64_t expected_b = 0;
  for (int round = 0; round < 3; ++round) {
    sqlite_store& s = round % 2 == 0 ? *first : *second;
    for (int i = 0; i < 3; ++i) {
      auto a = s.append(request(room_a, "a"));
      auto b = s.append(request(room_b, "b"));
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      CHECK(a->message.seq == ++expected_a);
      CHECK(b->message.seq == ++expected_b);
      ids.insert(a->message.id);
      ids.insert(b->message.id);
    }
    REQUIRE(s.flush().ok());
  }
  CHECK(ids.size() == 18);  // ids number the store-wide order: none given twice
  CHECK(seqs_of(*first->history(room_a, std::nullopt, 50)) == range(1, 9));
  CHECK(seqs_of(*second->history(room_b, std::nullopt, 50)) == range(1, 9));
}

TEST_CASE("sqlite_store: a batch writes its counters once, at its commit", "[sqlite]") {
  // With group commit an append writes its message row only; the message
  // order, the rooms' last seq/message and the sessions it read wait for the
  // flush (or for a conversation list on this connection), written once with
  // the batch's last values. Everything this store answers meanwhile, and
  // everything another connection sees after the commit, is as if each
  // append had written them.
  temp_db file;
  auto store = open_store(file.path());
  raw_db other(file.path());
  auto row = [&](const std::string& room) {
    return other.scalar("SELECT last_seq || '/' || last_order || '/' || last_at FROM rooms "
                        "WHERE room = '" + room + "'");
  };

  REQUIRE(store->append(request(room_a, "a1", "alice", {}, 1000)).ok());
  REQUIRE(store->append(request(room_b, "b1", "alice", {}, 2000)).ok());
  REQUIRE(store->append(request(room_a, "a2", "alice", {}, 3000)).ok());
  CHECK(*store->last_seq(room_a) == 2);
  CHECK(*store->last_seq(room_b) == 1);
  CHECK(store->history(room_a, std::nullopt, 50)->last_seq == 2);

  // The list on this connection: room_a's last message is the newest.
  auto list = store->conversations(10);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].room == room_a);
  CHECK((*list)[0].last_seq == 2);
  CHECK((*list)[0].last_message->text == "a2");
  CHECK((*list)[1].room == room_b);

  // Written again after the list: later appends are pending once more.
  REQUIRE(store->append(request(room_b, "b2", "alice", {}, 4000)).ok());
  list = store->conversations(10);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].room == room_b);
  CHECK((*list)[0].last_message->text == "b2");

  // A session read by an append is read again once save_session changed it.
  livechat::session_state claimed;
  claimed.status = livechat::session_status::claimed;
  claimed.claimed_by = livechat::user_ref{"alice", "Alice"};
  claimed.version = 7;
  auto before = store->append(request(room_a, "a3", "alice", {}, 5000));
  REQUIRE(before.ok());
  CHECK(before->session.version == 0);
  REQUIRE(store->save_session(room_a, claimed).ok());
  auto after = store->append(request(room_a, "a4", "alice", {}, 6000));
  REQUIRE(after.ok());
  CHECK(after->session.version == 7);
  CHECK(after->session.status == livechat::session_status::claimed);
  CHECK(other.scalar("SELECT count(*) FROM rooms") == "0");  // nothing committed yet

  REQUIRE(store->flush().ok());
  CHECK(row(room_a) == "4/6/6000");
  CHECK(row(room_b) == "2/4/4000");
  CHECK(other.scalar("SELECT value FROM meta WHERE key = 'last_order'") == "6");
  CHECK(other.scalar("SELECT session_version FROM rooms WHERE room = '" + room_a + "'") == "7");

  // The next batch starts from the committed values.
  auto next = store->append(request(room_b, "b3", "alice", {}, 7000));
  REQUIRE(next.ok());
  CHECK(next->message.seq == 3);
  CHECK(next->message.id == store->epoch() + "-7");
  REQUIRE(store->flush().ok());
  CHECK(row(room_b) == "3/7/7000");
}

TEST_CASE("sqlite_store: counters that cannot be written lose their batch", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  fill(*store, room_a, 2);
  REQUIRE(store->flush().ok());
  // Refuses the rooms row of seq 4, which only the batch's commit writes.
  exec_on(store->native_handle(),
          "CREATE TEMP TRIGGER no_four BEFORE UPDATE ON main.rooms WHEN NEW.last_seq = 4 "
          "BEGIN SELECT RAISE(ABORT, 'four refused'); END;");
  REQUIRE(store->append(request(room_a, "three")).ok());
  REQUIRE(store->append(request(room_a, "four")).ok());

  SECTION("at the flush") {
    auto flushed = store->flush();
    REQUIRE_FALSE(flushed.ok());
    CHECK(contains(store->last_error(), "four refused"));
  }
  SECTION("at a conversation list, and the next flush says so") {
    CHECK(store->conversations(10).error() == errc::store_failure);
    CHECK(contains(store->last_error(), "four refused"));
    CHECK(store->flush().error() == errc::store_failure);
  }
  CHECK(store->pending_writes() == 0);
  CHECK(store->history(room_a, std::nullopt, 50)->last_seq == 2);
  CHECK(store->append(request(room_a, "three again"))->message.seq == 3);
  REQUIRE(store->flush().ok());
  CHECK(seqs_of(*open_store(file.path())->history(room_a, std::nullopt, 50)) == range(1, 3));
}

TEST_CASE("sqlite_store: connection settings", "[sqlite]") {
  temp_db file;
  sqlite_options o = options_for(file.path());
  SECTION("defaults: WAL, synchronous NORMAL, foreign keys, 5 s busy timeout") {
    auto store = open_store(o);
    sqlite3* db = store->native_handle();
    CHECK(raw_db::scalar_on(db, "PRAGMA journal_mode") == "wal");
    CHECK(raw_db::scalar_on(db, "PRAGMA synchronous") == "1");
    CHECK(raw_db::scalar_on(db, "PRAGMA foreign_keys") == "1");
    CHECK(raw_db::scalar_on(db, "PRAGMA busy_timeout") == "5000");
    // Savepoint journals in memory, checkpoints every 10,000 WAL pages.
    CHECK(raw_db::scalar_on(db, "PRAGMA temp_store") == "2");
    CHECK(raw_db::scalar_on(db, "PRAGMA wal_autocheckpoint") == "10000");
    CHECK(raw_db::scalar_on(db, "PRAGMA user_version") ==
          std::to_string(sqlite_store::schema_version));
    CHECK(store->options().group_commit);
  }
  SECTION("synchronous FULL") {
    o.synchronous = livechat::sqlite_synchronous::full;
    o.busy_timeout = std::chrono::milliseconds(250);
    auto store = open_store(o);
    CHECK(raw_db::scalar_on(store->native_handle(), "PRAGMA synchronous") == "2");
    CHECK(raw_db::scalar_on(store->native_handle(), "PRAGMA busy_timeout") == "250");
    fill(*store, room_a, 2);
    CHECK(store->flush().ok());
  }
  SECTION("checkpoints left to the application") {
    o.wal_autocheckpoint_pages = 0;
    auto store = open_store(o);
    CHECK(raw_db::scalar_on(store->native_handle(), "PRAGMA wal_autocheckpoint") == "0");
    fill(*store, room_a, 2);
    CHECK(store->flush().ok());
  }
}

TEST_CASE("sqlite_store: every conversation list query is an index range, never a sort",
          "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  // Some rows, and ANALYZE-free planning as in the field.
  for (int i = 0; i < 50; ++i)
    REQUIRE(store->append(request("conversation:r" + std::to_string(i), "x", "alice", {}, 1000 + i))
                .ok());
  REQUIRE(store->flush().ok());
  sqlite3* db = store->native_handle();

  // The plan of each statement the store prepares for list_conversations.
  auto plan = [&](const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    const std::string explain = "EXPLAIN QUERY PLAN " + sql;
    REQUIRE(sqlite3_prepare_v2(db, explain.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW)
      out.append(reinterpret_cast<const char*>(sqlite3_column_text(s, 3))).append("\n");
    sqlite3_finalize(s);
    return out;
  };
  // The store's own prepared statements, found on its connection.
  std::vector<std::string> list_sql;
  for (sqlite3_stmt* st = sqlite3_next_stmt(db, nullptr); st != nullptr;
       st = sqlite3_next_stmt(db, st)) {
    const std::string sql = sqlite3_sql(st);
    if (contains(sql, "(r.last_at, r.last_order) < (?1, ?2)")) list_sql.push_back(sql);
  }
  REQUIRE(list_sql.size() == 4);  // no filter, status, claimed_by, both
  std::set<std::string> indexes;
  for (const std::string& sql : list_sql) {
    const std::string p = plan(sql);
    INFO(sql << "\n" << p);
    CHECK(contains(p, "SEARCH r USING INDEX rooms_by_"));
    CHECK_FALSE(contains(p, "TEMP B-TREE"));
    CHECK_FALSE(contains(p, "SCAN"));
    for (const char* index : {"rooms_by_last_message ", "rooms_by_status ", "rooms_by_claimer ",
                              "rooms_by_claimer_status "})
      if (contains(p, std::string("INDEX ") + index)) indexes.insert(index);
  }
  CHECK(indexes.size() == 4);  // each filter has its own index
}

TEST_CASE("sqlite_store: the client_msg_id lookup is an index search", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  REQUIRE(store->append(request(room_a, "x", "alice", "k1")).ok());
  REQUIRE(store->flush().ok());
  sqlite3* db = store->native_handle();
  std::string lookup;
  for (sqlite3_stmt* st = sqlite3_next_stmt(db, nullptr); st != nullptr;
       st = sqlite3_next_stmt(db, st)) {
    const std::string sql = sqlite3_sql(st);
    if (contains(sql, "m.client_msg_id = ?3")) lookup = sql;
  }
  REQUIRE_FALSE(lookup.empty());
  sqlite3_stmt* s = nullptr;
  const std::string explain = "EXPLAIN QUERY PLAN " + lookup;
  REQUIRE(sqlite3_prepare_v2(db, explain.c_str(), -1, &s, nullptr) == SQLITE_OK);
  std::string plan;
  while (sqlite3_step(s) == SQLITE_ROW)
    plan.append(reinterpret_cast<const char*>(sqlite3_column_text(s, 3))).append("\n");
  sqlite3_finalize(s);
  INFO(plan);
  CHECK(contains(plan, "SEARCH m USING INDEX messages_by_client_msg_id"));
  CHECK_FALSE(contains(plan, "SCAN"));
}

TEST_CASE("sqlite_store: a database where SQLite refuses WAL", "[sqlite]") {
  // ":memory:" cannot use WAL: the pragma answers "memory" and no error,
  // exactly as on a file system without shared memory.
  sqlite_options o = options_for(":memory:");
  SECTION("is refused by default, with the reason") {
    const std::string why = open_error(o);
    CHECK(contains(why, "journal_mode is 'memory', not 'wal'"));
    CHECK(contains(why, "allow_rollback_journal"));
  }
  SECTION("opens with allow_rollback_journal, and says which journal runs") {
    o.allow_rollback_journal = true;
    auto store = open_store(o);
    CHECK(store->journal_mode() == "memory");
    fill(*store, room_a, 2);
    CHECK(store->flush().ok());
  }
  SECTION("a file opens in WAL") {
    temp_db file;
    CHECK(open_store(file.path())->journal_mode() == "wal");
  }
}

TEST_CASE("sqlite_store: a seq beyond SQLite's integers is refused", "[sqlite]") {
  temp_db file;
  auto store = open_store(file.path());
  CHECK(store->mark_read(room_a, "alice", UINT64_MAX).error() == errc::validation_error);
  CHECK(*store->mark_read(room_a, "alice", std::uint64_t{INT64_MAX}) == std::uint64_t{INT64_MAX});
}

TEST_CASE("sqlite_store: schema migrations", "[sqlite]") {
  temp_db file;
  CHECK(sqlite_store::schema_version == 5);

  SECTION("an empty file becomes a database") {
    { std::ofstream(file.path(), std::ios::binary); }
    auto store = open_store(file.path());
    fill(*store, room_a, 1);
  }

  SECTION("a version 0 file keeps its own tables") {
    {
      raw_db old(file.path());
      old.exec("CREATE TABLE notes(body TEXT); INSERT INTO notes VALUES('keep me');");
    }
    {
      auto store = open_store(file.path());
      fill(*store, room_a, 2);
      REQUIRE(store->flush().ok());
    }
    raw_db after(file.path());
    CHECK(after.scalar("SELECT body FROM notes") == "keep me");
    CHECK(after.scalar("PRAGMA user_version") == "5");
    CHECK(after.scalar("SELECT count(*) FROM messages") == "2");
    CHECK(after.scalar("SELECT length(value) FROM meta WHERE key = 'epoch'") == "16");
  }

  SECTION("a migration that fails changes nothing") {
    {
      raw_db old(file.path());
      old.exec("CREATE TABLE messages(whatever TEXT); INSERT INTO messages VALUES('x');");
    }
    const std::string why = open_error(options_for(file.path()));
    CHECK(contains(why, file.path()));
    CHECK(contains(why, "migration to schema version 1"));
    CHECK(contains(why, "already exists"));
    raw_db after(file.path());
    CHECK(after.scalar("PRAGMA user_version") == "0");
    CHECK(after.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'rooms'") == "0");
    CHECK(after.scalar("SELECT whatever FROM messages") == "x");
  }

  SECTION("a database from a newer livechat is refused and left alone") {
    { open_store(file.path()); }
    {
      raw_db newer(file.path());
      newer.exec("PRAGMA user_version = 6");
    }
    const std::string why = open_error(options_for(file.path()));
    CHECK(contains(why, "schema version 6 is newer"));
    raw_db after(file.path());
    CHECK(after.scalar("PRAGMA user_version") == "6");
  }

  SECTION("a version 1 database gets the v2 list indexes and keeps its data") {
    {
      auto store = open_store(file.path());
      fill(*store, room_a, 3);
      REQUIRE(store->save_session(room_a, claimed_by("bob")).ok());
      REQUIRE(store->flush().ok());
    }
    {
      raw_db v1(file.path());
      // Back to v1: without v2's indexes, v3's table and columns and v4's
      // index, with v1's client_msg_ids table (DROP COLUMN: SQLite 3.35,
      // which the tests may ask for).
      v1.exec("DROP INDEX messages_by_client_msg_id; "
              "CREATE TABLE client_msg_ids(room TEXT NOT NULL, sender_id TEXT NOT NULL, "
              "client_msg_id TEXT NOT NULL, seq INTEGER NOT NULL, "
              "PRIMARY KEY(room, sender_id, client_msg_id)) WITHOUT ROWID; "
              "DROP INDEX rooms_by_status; DROP INDEX rooms_by_claimer; "
              "DROP INDEX rooms_by_claimer_status; DROP TABLE attachments; "
              "ALTER TABLE messages DROP COLUMN kind; "
              "ALTER TABLE messages DROP COLUMN attachment_id; "
              "ALTER TABLE messages DROP COLUMN sticker_package_id; "
              "ALTER TABLE messages DROP COLUMN sticker_id; "
              "ALTER TABLE messages DROP COLUMN location_title; "
              "ALTER TABLE messages DROP COLUMN location_address; "
              "ALTER TABLE messages DROP COLUMN latitude; "
              "ALTER TABLE messages DROP COLUMN longitude; PRAGMA user_version = 1");
    }
    auto store = open_store(file.path());
    raw_db after(file.path());
    CHECK(after.scalar("PRAGMA user_version") == "5");
    CHECK(after.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                       "('rooms_by_status', 'rooms_by_claimer', 'rooms_by_claimer_status')") ==
          "3");
    livechat::conversation_query q;
    q.claimed_by = "bob";
    q.status = livechat::session_status::claimed;
    auto page = store->list_conversations(q);
    REQUIRE(page.ok());
    REQUIRE(page->conversations.size() == 1);
    CHECK(page->conversations[0].last_seq == 3);
  }

  SECTION("a version 2 database (written before rich messages) gets attachments") {
    {
      // Built by the v1 and v2 steps themselves, rows written as v2 wrote them.
      raw_db v2(file.path());
      v2.migrate_through(2);
      v2.exec("INSERT INTO meta(key, value) VALUES('epoch', '00000000000000aa');"
              "UPDATE meta SET value = '2' WHERE key = 'last_order';"
              "INSERT INTO rooms(room, last_seq, last_order, last_at) "
              "VALUES('conversation:A', 2, 2, 1001);"
              "INSERT INTO messages VALUES('conversation:A', 1, '00000000000000aa-1', 'user', "
              "'U1', 'Ann', 'old one', 1000, NULL);"
              "INSERT INTO messages VALUES('conversation:A', 2, '00000000000000aa-2', 'operator', "
              "'op', 'Op', 'old two', 1001, 'c1');"
              "PRAGMA user_version = 2");
    }
    auto store = open_store(file.path());
    raw_db after(file.path());
    CHECK(after.scalar("PRAGMA user_version") == "5");
    auto page = store->history(room_a, std::nullopt, 50);
    REQUIRE(page.ok());
    REQUIRE(page->messages.size() == 2);
    for (const auto& m : page->messages) {
      CHECK(m.kind == livechat::message_kind::text);
      CHECK(m.attachment.index() == 0);
    }
    CHECK(page->messages[1].text == "old two");
    CHECK(page->messages[1].client_msg_id == "c1");
    livechat::attachment_record a;
    a.id = "f1";
    a.owner = "op";
    a.status = livechat::attachment_status::ready;
    a.content_type = "image/jpeg";
    a.name = "a.jpg";
    REQUIRE(store->put_attachment(a, "jpegbytes").ok());
    auto req = request(room_a, "a.jpg", "op");
    req.kind = livechat::message_kind::image;
    livechat::file_attachment f;
    f.id = "f1";
    req.attachment = f;
    auto sent = store->append(req);
    REQUIRE(sent.ok());
    CHECK(sent->message.seq == 3);
    REQUIRE(store->flush().ok());
    CHECK(after.scalar("SELECT length(content) FROM attachments WHERE id = 'f1'") == "9");
    CHECK(std::get<livechat::file_attachment>(store->history(room_a, std::nullopt, 50)->messages[2].attachment)
              .size == 9);
  }

  SECTION("a version 3 database keeps deduplicating its client_msg_ids") {
    {
      // Built by the v1 to v3 steps, rows written as v3 wrote them: each
      // message's client_msg_id in the message and in client_msg_ids.
      raw_db v3(file.path());
      v3.migrate_through(3);
      v3.exec("INSERT INTO meta(key, value) VALUES('epoch', '00000000000000aa');"
              "UPDATE meta SET value = '3' WHERE key = 'last_order';"
              "INSERT INTO rooms(room, last_seq, last_order, last_at) "
              "VALUES('conversation:A', 3, 3, 1002);"
              "INSERT INTO messages(room, seq, id, sender_type, sender_id, sender_name, text, "
              "created_at, client_msg_id) VALUES"
              "('conversation:A', 1, '00000000000000aa-1', 'user', 'U1', 'Ann', 'one', 1000, 'k1'),"
              "('conversation:A', 2, '00000000000000aa-2', 'operator', 'op', 'Op', 'two', 1001, "
              "'k1'),"
              // A message whose own column lacks the key its dedupe record has.
              "('conversation:A', 3, '00000000000000aa-3', 'user', 'U1', 'Ann', 'three', 1002, "
              "NULL);"
              "INSERT INTO client_msg_ids VALUES('conversation:A', 'U1', 'k1', 1),"
              "('conversation:A', 'op', 'k1', 2), ('conversation:A', 'U1', 'k3', 3);"
              "PRAGMA user_version = 3");
    }
    auto store = open_store(file.path());
    raw_db after(file.path());
    CHECK(after.scalar("PRAGMA user_version") == "5");
    CHECK(after.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'client_msg_ids'") == "0");
    CHECK(after.scalar("SELECT client_msg_id FROM messages WHERE seq = 3") == "k3");

    auto request_as = [](const std::string& user, livechat::sender_type type, std::string text,
                         std::string key) {
      append_request req = request(room_a, std::move(text), user, std::move(key));
      req.sender.type = type;
      return req;
    };
    using livechat::sender_type;
    auto again = store->append(request_as("U1", sender_type::user, "one, resent", "k1"));
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->message.seq == 1);
    CHECK(again->message.text == "one");
    CHECK(again->message.id == "00000000000000aa-1");
    auto other = store->append(request_as("op", sender_type::operator_, "two, resent", "k1"));
    REQUIRE(other.ok());
    CHECK(other->duplicate);
    CHECK(other->message.seq == 2);
    auto restored = store->append(request_as("U1", sender_type::user, "three, resent", "k3"));
    REQUIRE(restored.ok());
    CHECK(restored->duplicate);
    CHECK(restored->message.seq == 3);
    // A new key (and an old key from a new sender) is a new message.
    auto fresh = store->append(request_as("U1", sender_type::user, "four", "k4"));
    REQUIRE(fresh.ok());
    CHECK_FALSE(fresh->duplicate);
    CHECK(fresh->message.seq == 4);
    auto newcomer = store->append(request_as("U2", sender_type::user, "five", "k1"));
    REQUIRE(newcomer.ok());
    CHECK_FALSE(newcomer->duplicate);
    CHECK(newcomer->message.seq == 5);
    REQUIRE(store->flush().ok());
    store.reset();
    auto reopened = open_store(file.path());
    auto resent = reopened->append(request_as("U1", sender_type::user, "four, resent", "k4"));
    REQUIRE(resent.ok());
    CHECK(resent->duplicate);
    CHECK(resent->message.seq == 4);
  }

  SECTION("a version 4 database loses the id index and keeps every message as it was") {
    // Every column, in order, as one string: the rebuilt table must hold
    // the same rows with the same values and types.
    const char* dump =
        "SELECT group_concat(quote(room) || ',' || quote(seq) || ',' || quote(id) || ',' || "
        "quote(sender_type) || ',' || quote(sender_id) || ',' || quote(sender_name) || ',' || "
        "quote(text) || ',' || quote(created_at) || ',' || quote(client_msg_id) || ',' || "
        "quote(kind) || ',' || quote(attachment_id) || ',' || quote(sticker_package_id) || ',' || "
        "quote(sticker_id) || ',' || quote(location_title) || ',' || quote(location_address) || "
        "',' || quote(latitude) || ',' || quote(longitude), ';') FROM messages";
    std::string before;
    {
      raw_db v4(file.path());
      v4.migrate_through(4);
      v4.exec("INSERT INTO meta(key, value) VALUES('epoch', '00000000000000aa');"
              "UPDATE meta SET value = '3' WHERE key = 'last_order';"
              "INSERT INTO rooms(room, last_seq, last_order, last_at) "
              "VALUES('conversation:A', 3, 3, 1002);"
              "INSERT INTO messages(room, seq, id, sender_type, sender_id, sender_name, text, "
              "created_at, client_msg_id, kind, sticker_package_id, sticker_id, location_title, "
              "location_address, latitude, longitude) VALUES"
              "('conversation:A', 1, '00000000000000aa-1', 'user', 'U1', 'Ann', 'one', 1000, 'k1', "
              "NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
              "('conversation:A', 2, '00000000000000aa-2', 'user', 'U1', 'Ann', '', 1001, NULL, "
              "'sticker', '446', '1988', NULL, NULL, NULL, NULL),"
              "('conversation:A', 3, '00000000000000aa-3', 'operator', 'op', 'Op', 'here', 1002, "
              "'k2', 'location', NULL, NULL, 'Office', '1 Main St', 35.6586, 139.7454);"
              "PRAGMA user_version = 4");
      CHECK(v4.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                      "tbl_name = 'messages'") == "2");
      before = v4.scalar(dump);
    }
    auto store = open_store(file.path());
    raw_db after(file.path());
    CHECK(after.scalar("PRAGMA user_version") == "5");
    CHECK(after.scalar(dump) == before);
    CHECK(after.scalar("SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND "
                       "tbl_name = 'messages'") == "messages_by_client_msg_id");
    CHECK(after.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'messages_v5'") == "0");
    CHECK(after.scalar("PRAGMA integrity_check") == "ok");
    // The rebuilt table keeps its CHECK and its primary key.
    CHECK(after.try_exec("INSERT INTO messages(room, seq, id, sender_type, sender_id, "
                         "sender_name, text, created_at) VALUES('conversation:A', 9, 'x', "
                         "'robot', 'r', 'r', 't', 0)") == SQLITE_CONSTRAINT);
    CHECK(after.try_exec("INSERT INTO messages(room, seq, id, sender_type, sender_id, "
                         "sender_name, text, created_at) VALUES('conversation:A', 1, 'x', "
                         "'user', 'r', 'r', 't', 0)") == SQLITE_CONSTRAINT);

    // Still deduplicated by the rebuilt index; new messages follow on.
    append_request resent = request(room_a, "three, resent", "op", "k2");
    resent.sender.type = livechat::sender_type::operator_;
    auto again = store->append(resent);
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->message.seq == 3);
    REQUIRE(std::holds_alternative<livechat::location_attachment>(again->message.attachment));
    CHECK(std::get<livechat::location_attachment>(again->message.attachment).title == "Office");
    auto fresh = store->append(request(room_a, "four", "U1", "k3"));
    REQUIRE(fresh.ok());
    CHECK_FALSE(fresh->duplicate);
    CHECK(fresh->message.seq == 4);
    CHECK(fresh->message.id == "00000000000000aa-4");
    REQUIRE(store->flush().ok());
    auto page = store->history(room_a, std::nullopt, 50);
    REQUIRE(page.ok());
    REQUIRE(page->messages.size() == 4);
    CHECK(page->messages[1].kind == livechat::message_kind::sticker);
  }

  SECTION("a current database with a table missing is refused") {
    { open_store(file.path()); }
    {
      raw_db broken(file.path());
      broken.exec("DROP TABLE read_positions");
    }
    CHECK(contains(open_error(options_for(file.path())), "no such table"));
  }
}

TEST_CASE("sqlite_store: files that cannot be opened fail cleanly", "[sqlite]") {
  temp_db file;

  SECTION("not a database") {
    {
      std::ofstream out(file.path(), std::ios::binary);
      for (int i = 0; i < 512; ++i) out << "this is not an SQLite database\n";
    }
    const std::string why = open_error(options_for(file.path()));
    CHECK(contains(why, "not a database"));
    CHECK(contains(why, file.path()));
  }

  SECTION("a directory that does not exist") {
    const std::string path = file.path() + ".missing-dir/livechat.db";
    CHECK(contains(open_error(options_for(path)), "unable to open"));
  }

  SECTION("a directory, not a file") {
    const std::string dir = file.path() + ".dir";
    std::filesystem::create_directory(dir);
    open_error(options_for(dir));
    std::filesystem::remove(dir);
  }

  SECTION("no path") {
    CHECK(contains(open_error(options_for("")), "path is empty"));
  }

  SECTION("the overload without a message") {
    auto r = sqlite_store::open(options_for(file.path() + ".missing-dir/x.db"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::store_failure);
  }

#if !defined(_WIN32)
  SECTION("a read-only file") {
    { open_store(file.path()); }
    if (geteuid() == 0) {
      // Permission bits don't stop root; the check is covered by non-root runs.
      SUCCEED("running as root: chmod 0444 cannot make the file read-only");
    } else {
      REQUIRE(chmod(file.path().c_str(), 0444) == 0);
      const std::string why = open_error(options_for(file.path()));
      CHECK((contains(why, "read-only") || contains(why, "readonly")));
      chmod(file.path().c_str(), 0644);
    }
  }
#endif
}

#endif  // __has_include(<sqlite3.h>)
