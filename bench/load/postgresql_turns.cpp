// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// livechat-pg-turns: what the event loop waits for per group commit on
// PostgreSQL, without the rest of the server. 1,500 turns of k appends
// (k = 1 and 5, 20 rooms, 100-byte texts) and one flush each, on one
// postgresql_store against a throwaway server (tests/postgres_fixture.hpp:
// initdb + pg_ctl on a free loopback port, removed at exit). Prints per
// turn: round trips, the server backend's CPU (/proc), and the wall time
// the caller waited (p50, p99).
//
//   livechat-pg-turns [--client-msg-id] [--read-session] [--append]
//
// By default each turn queues its appends (queue_append, as the server
// does for WebSocket messages) and the flush sends them with COMMIT in one
// pipeline; --append appends each at once (one round trip per message, as
// REST and webhook messages do and as every message did before).
//
// --read-session adds a load_session after each append: what the hub did
// per message with a broker before the append returned the session.

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <livechat/store/postgresql_store.hpp>

#include "postgres_fixture.hpp"

namespace {

/// The backend's user + system CPU so far, in microseconds (0 if unreadable).
double backend_cpu_us(int pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[2048];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  unsigned long user = 0;
  unsigned long sys = 0;
  if (p == nullptr ||
      std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user, &sys) != 2)
    return 0;
  return static_cast<double>(user + sys) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  bool client_msg_id = false;
  bool read_session = false;
  bool append_now = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--client-msg-id") {
      client_msg_id = true;
    } else if (a == "--read-session") {
      read_session = true;
    } else if (a == "--append") {
      append_now = true;
    } else {
      std::fprintf(stderr, "usage: livechat-pg-turns [--client-msg-id] [--read-session] [--append]\n");
      return 2;
    }
  }
  livechat_test::postgres_server* server = livechat_test::postgres_server::shared();
  if (server == nullptr) {
    std::fprintf(stderr, "no PostgreSQL: %s\n", livechat_test::postgres_server::start_error().c_str());
    return 1;
  }
  constexpr int turns = 1500;
  for (const int k : {1, 5}) {
    livechat::postgresql_options o;
    o.conninfo = server->fresh_schema();
    std::string why;
    auto opened = livechat::postgresql_store::open(o, why);
    if (!opened) {
      std::fprintf(stderr, "%s\n", why.c_str());
      return 1;
    }
    livechat::postgresql_store& store = **opened;
    const int backend = PQbackendPID(store.native_handle());
    std::vector<double> waits;
    waits.reserve(turns);
    int n = 0;
    const std::uint64_t trips_before = store.round_trips();
    const double cpu_before = backend_cpu_us(backend);
    for (int turn = 0; turn < turns; ++turn) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < k; ++i, ++n) {
        livechat::append_request r;
        r.room = "conversation:R" + std::to_string(n % 20);
        r.sender = {livechat::sender_type::operator_, "op", "Op"};
        r.text = std::string(100, 'x');
        if (client_msg_id) r.client_msg_id = "c" + std::to_string(n);
        r.now = livechat::system_time(std::chrono::milliseconds(1700000000000LL + n));
        const bool ok = append_now ? store.append(r).ok() : store.queue_append(r).ok();
        if (!ok || (read_session && !store.load_session(r.room))) {
          std::fprintf(stderr, "store: %s\n", store.last_error().c_str());
          return 1;
        }
      }
      if (!store.flush()) {
        std::fprintf(stderr, "flush: %s\n", store.last_error().c_str());
        return 1;
      }
      for (const auto& stored : store.take_appends())
        if (!stored) {
          std::fprintf(stderr, "append: %s\n", store.last_error().c_str());
          return 1;
        }
      waits.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    const double cpu = (backend_cpu_us(backend) - cpu_before) / turns;
    std::sort(waits.begin(), waits.end());
    std::printf("k=%d%s%s%s: %.2f round trips per turn, server CPU %.0f us, wait p50 %.0f us p99 %.0f us\n",
                k, client_msg_id ? " client_msg_id" : "", read_session ? " +session read" : "",
                append_now ? " append" : " queued",
                static_cast<double>(store.round_trips() - trips_before) / turns, cpu,
                waits[waits.size() / 2], waits[waits.size() * 99 / 100]);
  }
  return 0;
}
