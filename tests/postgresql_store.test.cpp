// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// postgresql_store: first the MessageStore contract (store_conformance.hpp)
// with group commit and committing each write; then what only a store
// shared by several processes has: seqs from concurrent writer processes,
// racing claims, migrations, a server that dies and comes back.
// Runs against one throwaway server per run of this binary
// (postgres_fixture.hpp), a schema per test; built only with
// livechat::postgresql, and run by ctest as one case (one server start).

#include <livechat/store/postgresql_store.hpp>

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "postgres_fixture.hpp"

namespace {

using livechat::append_request;
using livechat::errc;
using livechat::postgresql_options;
using livechat::postgresql_store;
using livechat_test::postgres_server;

postgres_server& server() {
  postgres_server* s = postgres_server::shared();
  INFO("no PostgreSQL for the tests: " << postgres_server::start_error());
  REQUIRE(s != nullptr);
  return *s;
}

postgresql_options options_for(const std::string& conninfo, bool group_commit = true) {
  postgresql_options o;
  o.conninfo = conninfo;
  o.group_commit = group_commit;
  o.reconnect_interval = std::chrono::milliseconds(50);
  return o;
}

std::unique_ptr<postgresql_store> open_store(const std::string& conninfo,
                                             bool group_commit = true) {
  INFO("conninfo: " << conninfo);
  REQUIRE_FALSE(conninfo.empty());
  std::string why;
  auto opened = postgresql_store::open(options_for(conninfo, group_commit), why);
  INFO(why);
  REQUIRE(opened.ok());
  return std::move(*opened);
}

std::string fresh_schema() {
  std::string c = server().fresh_schema();
  INFO(server().last_error());
  REQUIRE_FALSE(c.empty());
  return c;
}

/// Tag: postgresql_store with group_commit = false.
struct postgresql_autocommit {};

template <class T>
struct harness;

template <>
struct harness<postgresql_store> {
  static constexpr const char* name = "postgresql_store";
  std::unique_ptr<postgresql_store> s = open_store(fresh_schema(), true);
  postgresql_store& store() { return *s; }
};

template <>
struct harness<postgresql_autocommit> {
  [[maybe_unused]] static constexpr const char* name = "postgresql_autocommit";
  std::unique_ptr<postgresql_store> s = open_store(fresh_schema(), false);
  postgresql_store& store() { return *s; }
};

}  // namespace

#define LIVECHAT_STORE_CONFORMANCE_TYPES postgresql_store, postgresql_autocommit
#define LIVECHAT_STORE_CONFORMANCE_BULK_TYPES postgresql_store
#define LIVECHAT_STORE_CONFORMANCE_TAGS "[postgresql][store]"
#include "store_conformance.hpp"

// === What only a shared store has ============================================

namespace {

constexpr int writers = 4;
constexpr int per_writer = 1000;

/// A forked writer: its own connection, `per_writer` messages into room_a
/// with a flush every `w + 1` appends (batches of 1 to 4 holding the room's
/// row lock), and first one webhook event that every writer sends. Exit
/// code 0 when everything was stored; no Catch2 in here.
int write_messages(const std::string& conninfo, int w) {
  auto opened = postgresql_store::open(options_for(conninfo));
  if (!opened) return 2;
  std::unique_ptr<postgresql_store> store = std::move(*opened);
  const std::string user = "writer" + std::to_string(w);
  append_request evt = request(room_a, "evt-" + std::to_string(w), user);
  evt.webhook_event_id = "the-same-event";
  if (!store->append(evt) || !store->flush()) return 3;
  for (int k = 0; k < per_writer; ++k) {
    auto r = store->append(
        request(room_a, user + "-" + std::to_string(k), user, "c" + std::to_string(k)));
    if (!r || r->duplicate) return 4;
    if ((k + 1) % (w + 1) == 0 && !store->flush()) return 5;
  }
  if (!store->flush()) return 6;
  return 0;
}

}  // namespace

TEST_CASE("postgresql_store: 4 processes x 1,000 messages into one room get seq 1..4001",
          "[postgresql]") {
  const std::string conninfo = fresh_schema();
  open_store(conninfo);  // migrated once; the writers find the schema ready

  std::vector<pid_t> children;
  for (int w = 0; w < writers; ++w) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(write_messages(conninfo, w));  // no destructors, no Catch2 in the child
    children.push_back(pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::vector<int> codes;
  for (pid_t pid : children) {
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (done != pid) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      codes.push_back(-1);
    } else {
      codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
    }
  }
  CHECK(codes == std::vector<int>(writers, 0));

  auto store = open_store(conninfo);
  auto page = store->history(room_a, std::uint64_t{0}, 10000);
  REQUIRE(page.ok());
  const std::size_t total = writers * per_writer + 1;  // + the one webhook event
  CHECK(page->last_seq == total);
  REQUIRE(page->messages.size() == total);
  std::set<std::string> ids;
  std::map<std::string, int> next;  // per writer: the k its next message must have
  int events = 0;
  for (std::size_t i = 0; i < page->messages.size(); ++i) {
    const auto& m = page->messages[i];
    REQUIRE(m.seq == i + 1);  // no gap, no duplicate
    ids.insert(m.id);
    if (m.text.rfind("evt-", 0) == 0) {
      ++events;
      continue;
    }
    // Each writer's messages in the order it sent them.
    const std::string expected = m.sender.id + "-" + std::to_string(next[m.sender.id]++);
    CHECK(m.text == expected);
  }
  CHECK(ids.size() == total);
  CHECK(events == 1);  // the shared webhook event stored once, the others duplicates
  for (int w = 0; w < writers; ++w) CHECK(next["writer" + std::to_string(w)] == per_writer);
}

TEST_CASE("postgresql_store: two servers claiming at once, one wins", "[postgresql]") {
  const std::string conninfo = fresh_schema();
  std::unique_ptr<postgresql_store> stores[2] = {open_store(conninfo), open_store(conninfo)};
  REQUIRE(stores[0]->append(request(room_a, "hello")).ok());
  REQUIRE(stores[0]->flush().ok());

  for (int round = 0; round < 20; ++round) {
    auto loaded = stores[1]->load_session(room_a);
    REQUIRE(loaded.ok());
    const std::uint64_t version = loaded->version;
    CHECK(version == static_cast<std::uint64_t>(round));
    std::atomic<int> ready{0};
    bool won[2] = {false, false};
    bool ok[2] = {false, false};
    auto claim = [&](int who) {
      livechat::session_state s = *loaded;
      s.status = livechat::session_status::claimed;
      s.claimed_by = livechat::user_ref{"op" + std::to_string(who), "Operator"};
      s.version = version + 1;
      ++ready;
      // Start together (bounded: a stuck peer fails the round, not the run).
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (ready.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      auto r = stores[who]->save_session_if(room_a, version, s);
      ok[who] = r.ok() && stores[who]->flush().ok();
      won[who] = r.ok() && *r;
    };
    std::thread a(claim, 0);
    std::thread b(claim, 1);
    a.join();
    b.join();
    CHECK(ok[0]);
    CHECK(ok[1]);
    REQUIRE(won[0] != won[1]);  // exactly one
    auto after = stores[0]->load_session(room_a);
    REQUIRE(after.ok());
    CHECK(after->version == version + 1);
    REQUIRE(after->claimed_by.has_value());
    CHECK(after->claimed_by->user_id == (won[0] ? "op0" : "op1"));
  }
}

TEST_CASE("postgresql_store: two servers writing two rooms in opposite orders don't deadlock",
          "[postgresql]") {
  // Each batch writes one room, waits until the other batch holds the
  // other room, then writes the first one's: without an order on the
  // locks both wait for each other and PostgreSQL aborts one batch (after
  // deadlock_timeout, lowered here so that a regression fails fast).
  std::string conninfo = fresh_schema();
  REQUIRE(conninfo.back() == '\'');
  conninfo.insert(conninfo.size() - 1, " -cdeadlock_timeout=200ms");
  std::unique_ptr<postgresql_store> stores[2] = {open_store(conninfo), open_store(conninfo)};
  const std::string rooms[2] = {room_a, room_b};  // room_a sorts first
  constexpr int rounds = 3;
  for (int round = 0; round < rounds; ++round) {
    std::atomic<int> holding{0};
    bool ok[2] = {false, false};
    auto batch = [&](int who) {
      const std::string& first = rooms[who];
      const std::string& second = rooms[1 - who];
      const std::string tag = "w" + std::to_string(who) + "r" + std::to_string(round);
      bool good = stores[who]->append(request(first, tag + "-1", "u" + std::to_string(who))).ok();
      ++holding;
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (holding.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      good = good && stores[who]->append(request(second, tag + "-2", "u" + std::to_string(who))).ok();
      good = good && stores[who]->flush().ok();
      ok[who] = good;
    };
    std::thread a(batch, 0);
    std::thread b(batch, 1);
    a.join();
    b.join();
    INFO("round " << round << ": " << stores[0]->last_error() << " / " << stores[1]->last_error());
    CHECK(ok[0]);
    CHECK(ok[1]);
  }
  // Only the batch that went down the order committed early.
  CHECK(stores[0]->ordered_commits() == 0);
  CHECK(stores[1]->ordered_commits() == static_cast<std::size_t>(rounds));
  // Every write is stored once, seqs without gaps.
  for (const auto& room : rooms) {
    auto page = stores[0]->history(room, std::uint64_t{0}, 100);
    REQUIRE(page.ok());
    CHECK(page->last_seq == 2 * rounds);
    REQUIRE(page->messages.size() == static_cast<std::size_t>(2 * rounds));
    for (std::size_t i = 0; i < page->messages.size(); ++i) CHECK(page->messages[i].seq == i + 1);
  }
}

TEST_CASE("postgresql_store: migrations", "[postgresql]") {
  const std::string conninfo = fresh_schema();
  std::string epoch;
  {
    auto store = open_store(conninfo);
    epoch = store->epoch();
    REQUIRE(store->append(request(room_a, "kept")).ok());
    REQUIRE(store->flush().ok());
  }
  const std::string schema = conninfo.substr(conninfo.find("search_path=") + 12,
                                             conninfo.size() - conninfo.find("search_path=") - 13);

  SECTION("a reopened schema keeps its epoch and its messages") {
    auto store = open_store(conninfo);
    CHECK(store->epoch() == epoch);
    CHECK(*store->last_seq(room_a) == 1);
    CHECK(server().query_value("SELECT value FROM " + schema +
                               ".livechat_meta WHERE key = 'schema_version'") ==
          std::to_string(postgresql_store::schema_version));
  }

  SECTION("a schema from a newer livechat is refused and left alone") {
    const std::string newer = std::to_string(postgresql_store::schema_version + 1);
    REQUIRE(server().exec("UPDATE " + schema + ".livechat_meta SET value = '" + newer +
                          "' WHERE key = 'schema_version'") == "");
    std::string why;
    auto refused = postgresql_store::open(options_for(conninfo), why);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error() == errc::store_failure);
    INFO(why);
    CHECK(why.find("schema version " + newer + " is newer") != std::string::npos);
    CHECK(server().query_value("SELECT value FROM " + schema +
                               ".livechat_meta WHERE key = 'schema_version'") == newer);
  }

  SECTION("servers opening a new schema together migrate it once") {
    const std::string other = fresh_schema();
    std::string epochs[3];
    bool opened[3] = {false, false, false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i)
      threads.emplace_back([&, i] {
        auto s = postgresql_store::open(options_for(other));
        opened[i] = s.ok();
        if (s.ok()) epochs[i] = (*s)->epoch();
      });
    for (auto& t : threads) t.join();
    CHECK(opened[0]);
    CHECK(opened[1]);
    CHECK(opened[2]);
    CHECK(epochs[0] == epochs[1]);
    CHECK(epochs[1] == epochs[2]);
  }

  SECTION("a version 1 schema (before rich messages) migrates; its messages read as text") {
    const std::string v1conn = fresh_schema();
    const std::string v1 = v1conn.substr(v1conn.find("search_path=") + 12,
                                         v1conn.size() - v1conn.find("search_path=") - 13);
    // Built by the v1 step itself, rows written as v1 wrote them.
    std::string sql = "SET search_path TO " + v1 + "; ";
    sql += livechat::detail::pg_migrations[0].sql;
    sql += "CREATE TABLE livechat_meta(key text PRIMARY KEY, value text NOT NULL);"
           "INSERT INTO livechat_meta VALUES('schema_version', '1'), ('epoch', '00000000000000bb');"
           "INSERT INTO livechat_rooms(room, last_seq, last_order, last_at) "
           "VALUES('conversation:A', 1, 1, 1000);"
           "INSERT INTO livechat_messages VALUES('conversation:A', 1, '00000000000000bb-1', 'user', "
           "'U1', 'Ann', 'old one', 1000, 'k1');"
           "INSERT INTO livechat_client_msg_ids VALUES('conversation:A', 'U1', 'k1', 1);"
           "INSERT INTO livechat_webhook_events VALUES('evt-old', 'conversation:A', 1);"
           "SELECT setval('livechat_order', 1);";
    REQUIRE(server().exec(sql) == "");
    auto store = open_store(v1conn);
    CHECK(server().query_value("SELECT value FROM " + v1 +
                               ".livechat_meta WHERE key = 'schema_version'") ==
          std::to_string(postgresql_store::schema_version));
    auto page = store->history(room_a, std::nullopt, 10);
    REQUIRE(page.ok());
    REQUIRE(page->messages.size() == 1);
    CHECK(page->messages[0].text == "old one");
    CHECK(page->messages[0].kind == livechat::message_kind::text);
    CHECK(page->messages[0].attachment.index() == 0);
    // v3: the dedupe records of v1 name their message by id now.
    auto resent = store->append(request(room_a, "again", "U1", "k1"));
    REQUIRE(resent.ok());
    CHECK(resent->duplicate);
    CHECK(resent->message.id == "00000000000000bb-1");
    auto event = request(room_a, "redelivered", "U1");
    event.webhook_event_id = "evt-old";
    auto redelivered = store->append(event);
    REQUIRE(redelivered.ok());
    CHECK(redelivered->duplicate);
    CHECK(redelivered->message.text == "old one");
    livechat::attachment_record a;
    a.id = "f1";
    a.owner = "op";
    a.status = livechat::attachment_status::ready;
    a.content_type = "application/pdf";
    a.name = "a.pdf";
    REQUIRE(store->put_attachment(a, std::string("%PDF\0\x01", 6)).ok());
    auto req = request(room_a, "a.pdf");
    req.kind = livechat::message_kind::file;
    livechat::file_attachment f;
    f.id = "f1";
    req.attachment = f;
    REQUIRE(store->append(req).ok());
    REQUIRE(store->flush().ok());
    CHECK(**store->attachment_content("f1") == std::string("%PDF\0\x01", 6));
    CHECK(store->history(room_a, std::nullopt, 10)->messages[1].kind == livechat::message_kind::file);
  }

  SECTION("a bad conninfo fails with libpq's reason") {
    std::string why;
    auto r = postgresql_store::open(
        options_for("host=127.0.0.1 port=1 user=postgres connect_timeout=2"), why);
    REQUIRE_FALSE(r.ok());
    INFO(why);
    CHECK(why.find("connecting") != std::string::npos);
    CHECK_FALSE(postgresql_store::open(options_for("")).ok());
  }
}

TEST_CASE("postgresql_store: a connection killed mid-batch loses the batch, then recovers",
          "[postgresql]") {
  const std::string conninfo = fresh_schema();
  auto store = open_store(conninfo);
  REQUIRE(store->append(request(room_a, "a1")).ok());
  REQUIRE(store->flush().ok());
  REQUIRE(store->append(request(room_a, "a2")).ok());  // pending, never acknowledged
  const int backend = PQbackendPID(store->native_handle());
  REQUIRE(server().exec("SELECT pg_terminate_backend(" + std::to_string(backend) + ")") == "");

  auto a3 = store->append(request(room_a, "a3"));
  REQUIRE_FALSE(a3.ok());
  CHECK(a3.error() == errc::store_failure);
  // Reconnected, but the batch is gone: no write until flush reports it.
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  CHECK_FALSE(store->append(request(room_a, "a4")).ok());
  auto flushed = store->flush();
  REQUIRE_FALSE(flushed.ok());
  INFO(store->last_error());
  CHECK(store->last_error().find("none of its writes is stored") != std::string::npos);

  auto a5 = store->append(request(room_a, "a5"));
  REQUIRE(a5.ok());
  CHECK(a5->message.seq == 2);  // a2's seq, given back with its rollback
  REQUIRE(store->flush().ok());
  CHECK(store->reconnects() == 1);
  auto page = store->history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  REQUIRE(page->messages.size() == 2);
  CHECK(page->messages[0].text == "a1");
  CHECK(page->messages[1].text == "a5");
}

// Appends made at once (`append`, as REST messages are): one
// statement per append, dedupe keys included (BEGIN goes in one pipeline
// with the first), and COMMIT: k messages cost 1 + k. Counted, so that a
// change that adds one per write (or a commit per write) shows. Queued
// appends (what the server does for WebSocket and webhook messages) are below.
TEST_CASE("postgresql_store: the round trips of one group commit", "[postgresql]") {
  auto store = open_store(fresh_schema());
  REQUIRE(store->append(request(room_a, "warm")).ok());  // the room's row exists
  REQUIRE(store->flush().ok());

  enum class key { none, client_msg_id, webhook_event_id };
  int n = 0;
  // k appends of one kind and the flush: their round trips, also as the
  // batch counters (everything here happens inside the batch).
  auto turn = [&](int k, key kind) {
    const std::uint64_t before = store->round_trips();
    const std::uint64_t batch_before = store->batch_round_trips();
    for (int i = 0; i < k; ++i, ++n) {
      auto req = request(room_a, "m" + std::to_string(n), "u",
                         kind == key::client_msg_id ? "c" + std::to_string(n) : std::string());
      if (kind == key::webhook_event_id) req.webhook_event_id = "w" + std::to_string(n);
      auto r = store->append(req);
      REQUIRE(r.ok());
      CHECK_FALSE(r->duplicate);
    }
    REQUIRE(store->flush().ok());
    const std::uint64_t trips = store->round_trips() - before;
    CHECK(store->batch_round_trips() - batch_before == trips);
    return trips;
  };
  for (int k : {1, 5}) {
    INFO(k << " messages in one turn");
    CHECK(turn(k, key::none) == 1 + static_cast<std::uint64_t>(k));
    CHECK(turn(k, key::client_msg_id) == 1 + static_cast<std::uint64_t>(k));
    CHECK(turn(k, key::webhook_event_id) == 1 + static_cast<std::uint64_t>(k));
  }

  SECTION("a duplicate costs its statement and the read of the original") {
    const std::uint64_t before = store->round_trips();
    REQUIRE(store->append(request(room_a, "new", "u", "fresh-key")).ok());
    auto again = store->append(request(room_a, "resent", "u", "c1"));  // from the turns above
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->message.text == "m1");
    REQUIRE(store->flush().ok());
    CHECK(store->round_trips() - before == 4);  // BEGIN + new, resent, its original, COMMIT
  }

  SECTION("the append returns the session; a message costs no session read") {
    livechat::session_state claimed;
    claimed.status = livechat::session_status::claimed;
    claimed.claimed_by = livechat::user_ref{"op1", "Op One"};
    claimed.version = 7;
    claimed.updated_at = livechat::system_time(std::chrono::milliseconds(4000));
    REQUIRE(store->save_session(room_a, claimed).ok());
    const std::uint64_t before = store->round_trips();
    auto r = store->append(request(room_a, "while claimed"));
    REQUIRE(r.ok());
    CHECK(store->round_trips() - before == 1);  // save_session carried the BEGIN
    CHECK(r->session.status == livechat::session_status::claimed);
    REQUIRE(r->session.claimed_by);
    CHECK(r->session.claimed_by->user_id == "op1");
    CHECK(r->session.claimed_by->name == "Op One");
    CHECK(r->session.version == 7);
    CHECK(r->session.updated_at == claimed.updated_at);
    REQUIRE(store->flush().ok());
    auto other = store->append(request(room_b, "a new room"));
    REQUIRE(other.ok());
    CHECK(other->session.status == livechat::session_status::open);
    CHECK(other->session.version == 0);
    CHECK_FALSE(other->session.claimed_by);
    REQUIRE(store->flush().ok());
  }

  const std::uint64_t before = store->round_trips();
  REQUIRE(store->flush().ok());  // nothing open: no round trip
  CHECK(store->round_trips() == before);
}

// queue_append: a turn's appends wait for the flush, which sends them and
// COMMIT in one pipeline: one round trip for k appends, with or without
// client_msg_id; the results come by ticket, each room's seqs in call
// order. A statement run meanwhile carries the queued appends in its own
// pipeline, sees them, and still costs one round trip.
TEST_CASE("postgresql_store: queued appends and their commit cost one round trip",
          "[postgresql]") {
  auto store = open_store(fresh_schema());
  REQUIRE(store->defers_appends());
  std::map<std::string, std::uint64_t> last;  // each room's newest seq so far
  for (const std::string& room : {room_a, room_b}) {
    REQUIRE(store->append(request(room, "warm")).ok());
    last[room] = 1;
  }
  REQUIRE(store->flush().ok());
  CHECK(store->take_appends().empty());

  int n = 0;
  // k appends alternating between the rooms (room_b first: the pipeline
  // sorts them into the lock order), then the flush.
  auto turn = [&](int k, bool with_key) {
    const std::uint64_t before = store->round_trips();
    std::vector<std::pair<std::string, std::string>> sent;  // room, text
    for (int i = 0; i < k; ++i, ++n) {
      const std::string room = i % 2 == 0 ? room_b : room_a;
      const std::string text = "q" + std::to_string(n);
      auto t = store->queue_append(
          request(room, text, "u", with_key ? "k" + std::to_string(n) : std::string()));
      REQUIRE(t.ok());
      CHECK(*t == static_cast<std::size_t>(i));
      sent.emplace_back(room, text);
    }
    CHECK(store->round_trips() == before);  // nothing sent before the flush
    REQUIRE(store->flush().ok());
    const std::uint64_t trips = store->round_trips() - before;
    auto results = store->take_appends();
    REQUIRE(results.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      REQUIRE(results[i].ok());
      CHECK_FALSE(results[i]->duplicate);
      CHECK(results[i]->message.room == sent[i].first);
      CHECK(results[i]->message.text == sent[i].second);
      CHECK(results[i]->message.seq == ++last[sent[i].first]);
      CHECK(results[i]->session.status == livechat::session_status::open);
    }
    return trips;
  };
  for (int k : {1, 5})
    for (bool with_key : {false, true}) {
      INFO(k << " messages in one turn" << (with_key ? ", client_msg_id" : ""));
      CHECK(turn(k, with_key) == 1);
    }
  for (const std::string& room : {room_a, room_b}) {  // committed, in that order
    auto page = store->history(room, std::nullopt, 50);
    REQUIRE(page.ok());
    REQUIRE(page->messages.size() == last[room]);
    for (std::size_t i = 0; i < page->messages.size(); ++i)
      CHECK(page->messages[i].seq == i + 1);
  }

  SECTION("a read between queued appends sees them, in the same round trip") {
    const std::uint64_t before = store->round_trips();
    REQUIRE(store->queue_append(request(room_a, "x1")).ok());
    REQUIRE(store->queue_append(request(room_a, "x2")).ok());
    auto seq = store->last_seq(room_a);
    REQUIRE(seq.ok());
    CHECK(*seq == last[room_a] + 2);
    CHECK(store->round_trips() - before == 1);  // BEGIN, x1, x2, the read
    REQUIRE(store->queue_append(request(room_a, "x3")).ok());
    REQUIRE(store->flush().ok());
    CHECK(store->round_trips() - before == 2);  // x3 and COMMIT
    auto results = store->take_appends();
    REQUIRE(results.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      REQUIRE(results[i].ok());
      CHECK(results[i]->message.seq == last[room_a] + i + 1);
    }
  }

  SECTION("a claim of a lower room between queued appends keeps the lock order") {
    REQUIRE(room_a < room_b);
    const std::uint64_t before = store->round_trips();
    const std::size_t ordered = store->ordered_commits();
    REQUIRE(store->queue_append(request(room_b, "y1")).ok());
    livechat::session_state claimed;
    claimed.status = livechat::session_status::claimed;
    claimed.claimed_by = livechat::user_ref{"op1", "Op One"};
    claimed.version = 1;
    auto won = store->save_session_if(room_a, 0, claimed);
    REQUIRE(won.ok());
    CHECK(*won);
    CHECK(store->round_trips() - before == 1);  // BEGIN, y1, COMMIT, BEGIN, the claim
    CHECK(store->ordered_commits() == ordered + 1);
    REQUIRE(store->queue_append(request(room_a, "y2")).ok());
    REQUIRE(store->flush().ok());
    auto results = store->take_appends();
    REQUIRE(results.size() == 2);
    REQUIRE(results[0].ok());
    REQUIRE(results[1].ok());
    CHECK(results[0]->message.seq == last[room_b] + 1);
    CHECK(results[1]->message.seq == last[room_a] + 1);
    CHECK(results[1]->session.status == livechat::session_status::claimed);
  }

  SECTION("a duplicate is found after the commit") {
    const std::uint64_t before = store->round_trips();
    REQUIRE(store->queue_append(request(room_b, "again", "u", "k1")).ok());  // q1's key
    REQUIRE(store->queue_append(request(room_a, "fresh", "u", "k-new")).ok());
    REQUIRE(store->flush().ok());
    CHECK(store->round_trips() - before == 2);  // the pipeline, then the original
    auto results = store->take_appends();
    REQUIRE(results.size() == 2);
    REQUIRE(results[0].ok());
    CHECK(results[0]->duplicate);
    CHECK(results[0]->message.text == "q1");
    REQUIRE(results[1].ok());
    CHECK_FALSE(results[1]->duplicate);
    CHECK(results[1]->message.seq == last[room_a] + 1);
  }

  SECTION("a statement failing in the pipeline fails the whole batch") {
    PGresult* made = PQexec(
        store->native_handle(),
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.text = 'boom'::bytea THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER boom BEFORE INSERT ON livechat_messages FOR EACH ROW "
        "EXECUTE FUNCTION boom()");
    INFO(PQresultErrorMessage(made));
    REQUIRE(PQresultStatus(made) == PGRES_COMMAND_OK);
    PQclear(made);
    REQUIRE(store->queue_append(request(room_a, "before")).ok());
    REQUIRE(store->queue_append(request(room_b, "boom")).ok());
    REQUIRE(store->queue_append(request(room_b, "after")).ok());
    auto flushed = store->flush();
    REQUIRE_FALSE(flushed.ok());
    CHECK(store->last_error().find("boom") != std::string::npos);
    for (const auto& r : store->take_appends()) CHECK_FALSE(r.ok());
    for (const std::string& room : {room_a, room_b}) {  // nothing of it stored
      auto seq = store->last_seq(room);
      REQUIRE(seq.ok());
      CHECK(*seq == last[room]);
    }
    REQUIRE(store->queue_append(request(room_a, "later")).ok());  // the next batch works
    REQUIRE(store->flush().ok());
    auto later = store->take_appends();
    REQUIRE(later.size() == 1);
    REQUIRE(later[0].ok());
    CHECK(later[0]->message.seq == last[room_a] + 1);
  }
}

// A duplicate's original committed by another server while the append
// waited for its key (after the append's snapshot) is found. Both keys.
TEST_CASE("postgresql_store: a duplicate committed while the append waits for it",
          "[postgresql]") {
  const std::string conninfo = fresh_schema();
  auto first = open_store(conninfo);
  auto second = open_store(conninfo);
  for (const bool webhook : {false, true}) {
    INFO((webhook ? "webhook_event_id" : "client_msg_id"));
    auto req = request(room_a, webhook ? "from LINE" : "typed", "u1", webhook ? "" : "k1");
    if (webhook) req.webhook_event_id = "evt-race";
    auto held = first->append(req);  // the key is claimed; its batch stays open
    REQUIRE(held.ok());
    REQUIRE_FALSE(held->duplicate);
    livechat::result<livechat::append_result> raced = errc::store_failure;
    auto resent = req;
    resent.text = "resent";
    std::thread t([&] { raced = second->append(resent); });  // waits for first's key
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(first->flush().ok());
    t.join();
    REQUIRE(raced.ok());
    CHECK(raced->duplicate);
    CHECK(raced->message.id == held->message.id);
    CHECK(raced->message.text == req.text);
    REQUIRE(second->flush().ok());
  }
  CHECK(*first->last_seq(room_a) == 2);
}

// Both keys on one request: the webhook key wins; a client_msg_id duplicate
// releases the webhook key it claimed, so the event can still be stored.
TEST_CASE("postgresql_store: both dedupe keys on one append", "[postgresql]") {
  auto store = open_store(fresh_schema());
  REQUIRE(store->append(request(room_a, "typed", "u1", "k1")).ok());
  auto both = request(room_a, "both", "u1", "k1");
  both.webhook_event_id = "evt-both";
  auto r = store->append(both);
  REQUIRE(r.ok());
  CHECK(r->duplicate);
  CHECK(r->message.text == "typed");
  auto later = request(room_a, "the event alone", "u1");
  later.webhook_event_id = "evt-both";
  auto stored = store->append(later);
  REQUIRE(stored.ok());
  CHECK_FALSE(stored->duplicate);
  CHECK(stored->message.seq == 2);
  REQUIRE(store->flush().ok());
}

// A webhook delivery's appends (webhookEventId, no client_msg_id) are
// queued like WebSocket ones: k of them and the COMMIT in one round trip.
// A replayed event is a duplicate, in the same pipeline or a later one,
// answered with its original (read after the commit) and stored once.
TEST_CASE("postgresql_store: webhook-keyed appends are queued, replays are duplicates",
          "[postgresql]") {
  auto store = open_store(fresh_schema());
  REQUIRE(store->defers_appends());
  auto event = [&](const std::string& room, const std::string& text, const std::string& id) {
    auto req = request(room, text, "line-user");
    req.webhook_event_id = id;
    return req;
  };
  constexpr int k = 5;
  std::uint64_t before = store->round_trips();
  for (int i = 0; i < k; ++i) {
    auto t = store->queue_append(
        event(i % 2 == 0 ? room_b : room_a, "e" + std::to_string(i), "evt" + std::to_string(i)));
    REQUIRE(t.ok());
  }
  CHECK(store->round_trips() == before);  // queued, not sent
  REQUIRE(store->flush().ok());
  CHECK(store->round_trips() - before == 1);
  auto first = store->take_appends();
  REQUIRE(first.size() == static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < first.size(); ++i) {
    REQUIRE(first[i].ok());
    CHECK_FALSE(first[i]->duplicate);
    CHECK(first[i]->message.text == "e" + std::to_string(i));
  }

  // evt1 replayed in a later pipeline; evt-new twice in one pipeline.
  before = store->round_trips();
  REQUIRE(store->queue_append(event(room_a, "e1 again", "evt1")).ok());
  REQUIRE(store->queue_append(event(room_a, "new", "evt-new")).ok());
  REQUIRE(store->queue_append(event(room_a, "new again", "evt-new")).ok());
  REQUIRE(store->flush().ok());
  CHECK(store->round_trips() - before == 3);  // the pipeline, then each duplicate's original
  auto second = store->take_appends();
  REQUIRE(second.size() == 3);
  for (const auto& r : second) REQUIRE(r.ok());
  CHECK(second[0]->duplicate);
  CHECK(second[0]->message.id == first[1]->message.id);
  CHECK(second[0]->message.text == "e1");
  CHECK_FALSE(second[1]->duplicate);
  CHECK(second[2]->duplicate);
  CHECK(second[2]->message.id == second[1]->message.id);
  CHECK(second[2]->message.text == "new");

  // Stored once each: room_a has e1, e3 and "new"; room_b e0, e2, e4.
  auto a = store->history(room_a, std::nullopt, 50);
  auto b = store->history(room_b, std::nullopt, 50);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  std::vector<std::string> texts;
  for (const auto& m : a->messages) texts.push_back(m.text);
  CHECK(texts == std::vector<std::string>{"e1", "e3", "new"});
  CHECK(b->messages.size() == 3);

  SECTION("with a client_msg_id too, the append is made at once") {
    auto both = event(room_a, "both", "evt-both");
    both.client_msg_id = "k-both";
    before = store->round_trips();
    REQUIRE(store->queue_append(both).ok());
    CHECK(store->round_trips() - before == 1);  // BEGIN and the append, now
    REQUIRE(store->flush().ok());
    auto r = store->take_appends();
    REQUIRE(r.size() == 1);
    REQUIRE(r[0].ok());
    CHECK(r[0]->message.seq == 4);
  }
}

TEST_CASE("postgresql_store: the server stops and restarts", "[postgresql]") {
  postgres_server& srv = server();
  const std::string conninfo = fresh_schema();
  auto store = open_store(conninfo);
  REQUIRE(store->append(request(room_a, "before")).ok());
  REQUIRE(store->flush().ok());
  REQUIRE(store->append(request(room_a, "unflushed")).ok());

  // Whatever fails below, the other tests get their server back.
  struct restart {
    postgres_server& s;
    ~restart() {
      if (!s.running()) s.start();
    }
  } guard{srv};
  REQUIRE(srv.stop_immediate());

  CHECK_FALSE(store->flush().ok());  // the pending write is not acknowledged
  auto during = store->append(request(room_a, "during"));
  REQUIRE_FALSE(during.ok());
  CHECK(during.error() == errc::store_failure);
  CHECK_FALSE(store->last_seq(room_a).ok());
  CHECK_FALSE(store->connected());

  REQUIRE(srv.start());
  // The store reconnects by itself: the first call after the interval.
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  auto after = store->append(request(room_a, "after"));
  INFO(store->last_error());
  REQUIRE(after.ok());
  CHECK(after->message.seq == 2);
  REQUIRE(store->flush().ok());
  CHECK(store->connected());

  SECTION("an idle connection that died is replaced by the next call") {
    REQUIRE(srv.stop_immediate());
    REQUIRE(srv.start());
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    auto seq = store->last_seq(room_a);  // the dead connection is noticed and replaced here
    INFO(store->last_error());
    REQUIRE(seq.ok());
    CHECK(*seq == 2);
    REQUIRE(srv.stop_immediate());
    REQUIRE(srv.start());
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    auto write = store->append(request(room_a, "write first"));
    INFO(store->last_error());
    REQUIRE(write.ok());
    REQUIRE(store->flush().ok());
  }

  auto page = store->history(room_a, std::nullopt, 50);
  REQUIRE(page.ok());
  REQUIRE(page->messages.size() >= 2);
  CHECK(page->messages[0].text == "before");
  CHECK(page->messages[1].text == "after");
  for (const auto& m : page->messages) {
    CHECK(m.text != "unflushed");
    CHECK(m.text != "during");
  }
}
