// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Messages stored per second on SQLite (WAL), against a bare loop of
// single-row INSERTs in the same run. Every benchmark writes the same row
// (room, seq, id, sender, text, created_at) to a fresh database file under
// the system temp dir (TMPDIR), removed afterwards:
//
//   BM_sqlite_bare_insert          one prepared INSERT per message, autocommit:
//                                  one transaction per row. The floor.
//   BM_sqlite_bare_insert_batch    the same INSERT, K rows per transaction.
//   BM_sqlite_hub_send_message     send_message frames through server::hub on
//                                  a sqlite_store: decode, append, commit, the
//                                  message_sent reply. k:1 commits after every
//                                  message; k:16 is group commit (16 frames in
//                                  one turn, then one hub.commit()).
//   BM_sqlite_append_flush         sqlite_store::append + flush per message,
//                                  no hub: the store's own cost per commit.
//   BM_sqlite_append_group         K appends, then one flush: what one event
//                                  loop turn with K messages costs with group
//                                  commit.
//   BM_sqlite_append_rooms         the same over R rooms in turn (NORMAL, CPU
//                                  time): a saturated server's turn.
//   BM_sqlite_history_rooms        one history page (the newest, or after a
//                                  seq) of one of 50 rooms whose 50,000
//                                  messages were stored interleaved (CPU time).
//
// `full:0` is synchronous=NORMAL (no fsync per commit), `full:1` is FULL
// (one fsync per commit). Disk waits are not CPU time, so these run on wall
// time (UseRealTime): compare items_per_second.

// Compiled to nothing where SQLite is missing (livechat::sqlite is then
// not built either).
#if __has_include(<sqlite3.h>)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <benchmark/benchmark.h>
#include <sqlite3.h>

#if defined(_WIN32)
#include <process.h>
#define LIVECHAT_BENCH_GETPID _getpid
#else
#include <unistd.h>
#define LIVECHAT_BENCH_GETPID getpid
#endif

#include <livechat/auth/dev_authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/store/sqlite_store.hpp>

namespace {

constexpr std::string_view room = "conversation:U4af4980629abcdef";
constexpr std::string_view text = "Hello, I have a question about my order #12345, can you help?";

/// A database path unique to this process and benchmark run; the file and
/// its companions are removed before and after.
class temp_db {
 public:
  temp_db() {
    static unsigned counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("livechat-sqlite-bench-" + std::to_string(LIVECHAT_BENCH_GETPID()) + "-" +
              std::to_string(++counter) + ".db"))
                .string();
    remove_all();
  }
  ~temp_db() { remove_all(); }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;
  const std::string& path() const { return path_; }

 private:
  void remove_all() const {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::error_code ec;
      std::filesystem::remove(path_ + suffix, ec);
    }
  }
  std::string path_;
};

livechat::sqlite_options options_for(const std::string& path, bool full) {
  livechat::sqlite_options o;
  o.path = path;
  o.synchronous = full ? livechat::sqlite_synchronous::full : livechat::sqlite_synchronous::normal;
  return o;
}

// --- The bare loop ------------------------------------------------------------

/// A raw connection with the store's messages row (same columns and key,
/// WAL, same synchronous) and one reused INSERT.
struct bare_db {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  std::string error;

  bare_db(const std::string& path, bool full) {
    if (sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK ||
        !exec("PRAGMA journal_mode=WAL") ||
        !exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") ||
        !exec("CREATE TABLE messages(room TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, "
              "sender_type TEXT NOT NULL, sender_id TEXT NOT NULL, sender_name TEXT NOT NULL, "
              "text TEXT NOT NULL, created_at INTEGER NOT NULL, client_msg_id TEXT, "
              "PRIMARY KEY(room, seq)) WITHOUT ROWID") ||
        sqlite3_prepare_v3(db,
                           "INSERT INTO messages(room, seq, id, sender_type, sender_id, "
                           "sender_name, text, created_at, client_msg_id) "
                           "VALUES(?1, ?2, ?3, 'operator', ?4, ?4, ?5, ?6, NULL)",
                           -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr) != SQLITE_OK)
      error = db != nullptr ? sqlite3_errmsg(db) : "cannot open";
  }
  ~bare_db() {
    sqlite3_finalize(insert);
    sqlite3_close_v2(db);
  }
  bare_db(const bare_db&) = delete;
  bare_db& operator=(const bare_db&) = delete;

  bool exec(const char* sql) {
    return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  }

  /// One row; `id` must outlive the call (bound without a copy).
  bool insert_row(std::int64_t seq, const std::string& id) {
    sqlite3_bind_text(insert, 1, room.data(), static_cast<int>(room.size()), nullptr);
    sqlite3_bind_int64(insert, 2, seq);
    sqlite3_bind_text(insert, 3, id.data(), static_cast<int>(id.size()), nullptr);
    sqlite3_bind_text(insert, 4, "sender", 6, nullptr);
    sqlite3_bind_text(insert, 5, text.data(), static_cast<int>(text.size()), nullptr);
    sqlite3_bind_int64(insert, 6, 1764102265123);
    const bool ok = sqlite3_step(insert) == SQLITE_DONE;
    sqlite3_reset(insert);
    return ok;
  }
};

void BM_sqlite_bare_insert(benchmark::State& state) {
  temp_db file;
  bare_db db(file.path(), state.range(0) != 0);
  if (!db.error.empty()) return state.SkipWithError(db.error.c_str());
  std::int64_t seq = 0;
  std::string id;
  for (auto _ : state) {
    ++seq;
    id = "0123456789abcdef-" + std::to_string(seq);
    if (!db.insert_row(seq, id)) return state.SkipWithError(sqlite3_errmsg(db.db));
  }
  state.SetItemsProcessed(seq);
}

void BM_sqlite_bare_insert_batch(benchmark::State& state) {
  temp_db file;
  bare_db db(file.path(), state.range(1) != 0);
  if (!db.error.empty()) return state.SkipWithError(db.error.c_str());
  const std::int64_t k = state.range(0);
  std::int64_t seq = 0;
  std::string id;
  for (auto _ : state) {
    if (!db.exec("BEGIN")) return state.SkipWithError(sqlite3_errmsg(db.db));
    for (std::int64_t i = 0; i < k; ++i) {
      ++seq;
      id = "0123456789abcdef-" + std::to_string(seq);
      if (!db.insert_row(seq, id)) return state.SkipWithError(sqlite3_errmsg(db.db));
    }
    if (!db.exec("COMMIT")) return state.SkipWithError(sqlite3_errmsg(db.db));
  }
  state.SetItemsProcessed(seq);
}

// --- Through the store and the hub ------------------------------------------

livechat::append_request append_request() {
  livechat::append_request req;
  req.room = std::string(room);
  req.sender = {livechat::sender_type::operator_, "sender", "sender"};
  req.text = std::string(text);
  req.now = livechat::system_time(std::chrono::milliseconds(1764102265123));
  return req;
}

std::unique_ptr<livechat::sqlite_store> open_store(const std::string& path, bool full,
                                                   std::string& error) {
  auto r = livechat::sqlite_store::open(options_for(path, full), error);
  return r ? std::move(r.value()) : nullptr;
}

void BM_sqlite_append_flush(benchmark::State& state) {
  temp_db file;
  std::string error;
  auto store = open_store(file.path(), state.range(0) != 0, error);
  if (!store) return state.SkipWithError(error.c_str());
  const livechat::append_request req = append_request();
  for (auto _ : state) {
    if (!store->append(req) || !store->flush())
      return state.SkipWithError(store->last_error().c_str());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_sqlite_append_group(benchmark::State& state) {
  temp_db file;
  std::string error;
  auto store = open_store(file.path(), state.range(1) != 0, error);
  if (!store) return state.SkipWithError(error.c_str());
  const livechat::append_request req = append_request();
  const std::int64_t k = state.range(0);
  for (auto _ : state) {
    for (std::int64_t i = 0; i < k; ++i)
      if (!store->append(req)) return state.SkipWithError(store->last_error().c_str());
    if (!store->flush()) return state.SkipWithError(store->last_error().c_str());
  }
  state.SetItemsProcessed(state.iterations() * k);
}

// As a saturated server's turn sees it: K appends spread over R rooms,
// then one flush. Every room's newest rows are a different leaf of the
// messages table, so a commit writes more pages per message than with one
// room (this is what bench/load's 50 rooms of 20 run into).
void BM_sqlite_append_rooms(benchmark::State& state) {
  temp_db file;
  std::string error;
  auto store = open_store(file.path(), false, error);
  if (!store) return state.SkipWithError(error.c_str());
  livechat::append_request req = append_request();
  const std::int64_t k = state.range(0);
  const std::int64_t rooms = state.range(1);
  std::vector<std::string> names;
  for (std::int64_t r = 0; r < rooms; ++r)
    names.push_back(std::string(room) + "-" + std::to_string(r));
  std::size_t next = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < k; ++i) {
      req.room = names[next++ % names.size()];
      if (!store->append(req)) return state.SkipWithError(store->last_error().c_str());
    }
    if (!store->flush()) return state.SkipWithError(store->last_error().c_str());
  }
  state.SetItemsProcessed(state.iterations() * k);
}

/// 50 rooms of 1,000 messages each, stored round robin in batches of 100
/// (as a saturated server interleaves them), built once per process: the
/// history benchmarks only read it.
struct history_fixture {
  static constexpr std::uint64_t rooms = 50;
  static constexpr std::uint64_t per_room = 1000;
  temp_db file;
  std::unique_ptr<livechat::sqlite_store> store;
  std::vector<std::string> names;
  std::string error;

  history_fixture() {
    store = open_store(file.path(), false, error);
    if (!store) return;
    livechat::append_request req = append_request();
    for (std::uint64_t r = 0; r < rooms; ++r)
      names.push_back(std::string(room) + "-" + std::to_string(r));
    for (std::uint64_t i = 0; i < rooms * per_room; ++i) {
      req.room = names[i % rooms];
      if (!store->append(req) || (i % 100 == 99 && !store->flush())) {
        error = store->last_error();
        store.reset();
        return;
      }
    }
    if (!store->flush()) {
      error = store->last_error();
      store.reset();
    }
  }

  static history_fixture& get() {
    static history_fixture f;
    return f;
  }
};

/// One page of `limit` messages of the next room: the newest (since:0),
/// or those after seq 500 (since:1, a client catching up).
void BM_sqlite_history_rooms(benchmark::State& state) {
  history_fixture& f = history_fixture::get();
  if (!f.store) return state.SkipWithError(f.error.c_str());
  const auto limit = static_cast<std::size_t>(state.range(0));
  const bool since = state.range(1) != 0;
  std::size_t next = 0;
  for (auto _ : state) {
    const std::string& name = f.names[next++ % f.names.size()];
    auto page = f.store->history(name, since ? std::optional<std::uint64_t>(500) : std::nullopt,
                                 limit);
    if (!page || page->messages.size() != limit)
      return state.SkipWithError("history: not a full page");
    benchmark::DoNotOptimize(page->messages.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

/// Transport that does no I/O: send() counts frames.
struct counting_transport {
  using connection_id = std::uint64_t;
  std::uint64_t sends = 0;
  std::uint64_t closes = 0;
  void send(const connection_id&, const livechat::server::payload_ptr&) { ++sends; }
  void close(const connection_id&, std::uint16_t, std::string_view) { ++closes; }
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

void BM_sqlite_hub_send_message(benchmark::State& state) {
  temp_db file;
  std::string error;
  // k = 1: the hub commits after every message. k > 1: group commit, k
  // frames in one event-loop turn, then the turn's single hub.commit().
  const auto k = static_cast<std::uint64_t>(state.range(0));
  auto store = open_store(file.path(), state.range(1) != 0, error);
  if (!store) return state.SkipWithError(error.c_str());

  counting_transport transport;
  livechat::manual_clock clock;
  livechat::dev_authenticator auth;
  livechat::server::hub_config config;
  config.rate_burst = 1e15;  // the clock never moves: a bottomless bucket
  config.rate_per_second = 1e15;
  config.group_commit = k > 1;
  livechat::server::hub<counting_transport, livechat::manual_clock> hub(transport, clock, *store,
                                                                        auth, config);
  const std::uint64_t sender = 1;
  hub.on_open(sender);
  hub.on_message(sender, R"({"type":"auth","payload":{"token":"sender"}})");
  hub.on_message(sender, std::string(R"({"type":"join_room","payload":{"room":")") +
                             std::string(room) + R"("}})");
  const std::string frame = std::string(R"({"type":"send_message","payload":{"room":")") +
                            std::string(room) + R"(","text":")" + std::string(text) + R"("}})";
  const auto& errors = hub.stats().errors_out;
  if (std::accumulate(errors.begin(), errors.end(), std::uint64_t{0}) != 0 ||
      transport.closes != 0)
    return state.SkipWithError("setup answered with an error event");

  const std::uint64_t sends_before = transport.sends;
  const std::uint64_t stored_before = hub.stats().messages_stored;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < k; ++i) hub.on_message(sender, frame);
    if (k > 1) hub.commit();
  }

  const auto iterations = static_cast<std::uint64_t>(state.iterations()) * k;
  // One message_sent per frame, nobody else in the room, every one stored.
  if (transport.sends - sends_before != iterations ||
      hub.stats().messages_stored - stored_before != iterations ||
      std::accumulate(errors.begin(), errors.end(), std::uint64_t{0}) != 0)
    return state.SkipWithError("a message was not stored and acknowledged");
  state.SetItemsProcessed(static_cast<std::int64_t>(iterations));
}

BENCHMARK(BM_sqlite_bare_insert)->ArgName("full")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_sqlite_bare_insert_batch)
    ->ArgNames({"k", "full"})
    ->Args({16, 0})
    ->Args({16, 1})
    ->UseRealTime();
BENCHMARK(BM_sqlite_hub_send_message)
    ->ArgNames({"k", "full"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({16, 0})
    ->Args({16, 1})
    ->Args({64, 0})
    ->UseRealTime();
BENCHMARK(BM_sqlite_append_flush)->ArgName("full")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_sqlite_append_group)
    ->ArgNames({"k", "full"})
    ->Args({16, 0})
    ->Args({16, 1})
    ->UseRealTime();
// CPU time (no fsync at NORMAL, and the figure compared is the server's CPU).
BENCHMARK(BM_sqlite_append_rooms)->ArgNames({"k", "rooms"})->Args({100, 50});
BENCHMARK(BM_sqlite_history_rooms)->ArgNames({"limit", "since"})->Args({50, 0})->Args({50, 1});

}  // namespace

#endif  // __has_include(<sqlite3.h>)
