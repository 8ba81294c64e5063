// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// send_message broadcast through server::hub to rooms of 1, 100 and 10,000
// recipients. The transport only counts, so what is measured is the hub
// itself: decode, store append, message_sent reply, one encode of
// new_message and the walk over the room. bench/main.cpp derives the cost
// per extra recipient from the smallest and largest room.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include <livechat/auth/dev_authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/store/memory_store.hpp>

namespace {

/// Transport that does no I/O: send() counts frames and bytes.
struct counting_transport {
  using connection_id = std::uint64_t;

  std::uint64_t sends = 0;
  std::uint64_t bytes = 0;
  std::uint64_t closes = 0;

  void send(const connection_id&, const livechat::server::payload_ptr& payload) {
    ++sends;
    bytes += payload->size();
  }
  void close(const connection_id&, std::uint16_t, std::string_view) { ++closes; }
  std::size_t buffered_amount(const connection_id&) const { return 0; }
};

using bench_hub = livechat::server::hub<counting_transport, livechat::manual_clock>;

constexpr std::string_view room = "conversation:U4af4980629abcdef";

/// No client_msg_id: no dedupe record, no dedupe lookup.
const std::string send_frame =
    std::string(R"({"type":"send_message","payload":{"room":")") + std::string(room) +
    R"(","text":"Hello, I have a question about my order #12345, can you help?"}})";

livechat::server::hub_config bench_config() {
  livechat::server::hub_config c;
  // The clock never moves, so the bucket never refills: make it bottomless
  // (finite, so no inf * 0 in the refill arithmetic).
  c.rate_burst = 1e15;
  c.rate_per_second = 1e15;
  // 10,000 connections share 200 users (50 tabs each), over the default cap.
  c.max_connections_per_user = 0;
  return c;
}

/// A hub whose room holds `recipients` connections plus one sender
/// connection, everyone authenticated and joined. Connections belong to at
/// most `max_users` users (tabs of the same operator): with one user per
/// connection the setup alone is O(N^2) in JSON (every auth answers the
/// whole presence list, every join the member list), which is not what the
/// broadcast measures.
struct room_fixture {
  counting_transport transport;
  livechat::manual_clock clock;
  livechat::memory_store store;
  livechat::dev_authenticator auth;
  bench_hub hub;
  std::uint64_t sender = 0;
  std::string error;  ///< non-empty when the setup did not go as planned

  explicit room_fixture(std::size_t recipients) : hub(transport, clock, store, auth, bench_config()) {
    const std::string join = std::string(R"({"type":"join_room","payload":{"room":")") +
                             std::string(room) + R"("}})";
    auto connect = [&](std::uint64_t id, const std::string& user) {
      hub.on_open(id);
      hub.on_message(id, R"({"type":"auth","payload":{"token":")" + user + R"("}})");
      hub.on_message(id, join);
    };
    constexpr std::uint64_t max_users = 200;
    for (std::uint64_t i = 1; i <= recipients; ++i)
      connect(i, "user-" + std::to_string(i % max_users));
    sender = recipients + 1;
    connect(sender, "sender");

    const auto& errors = hub.stats().errors_out;
    if (std::accumulate(errors.begin(), errors.end(), std::uint64_t{0}) != 0)
      error = "setup answered with an error event";
    else if (transport.closes != 0 || hub.connection_count() != recipients + 1)
      error = "setup closed a connection";
  }
};

/// Building a room of 10,000 still costs seconds, and Google Benchmark
/// calls the function several times per repetition while it sizes the
/// iteration count, so big rooms are built once and kept. Small rooms are
/// rebuilt for every call, which keeps the store (it keeps every message)
/// from growing across runs.
room_fixture& fixture_for(std::size_t recipients, std::unique_ptr<room_fixture>& fresh) {
  constexpr std::size_t keep_from = 1000;
  if (recipients < keep_from) {
    fresh = std::make_unique<room_fixture>(recipients);
    return *fresh;
  }
  static std::map<std::size_t, std::unique_ptr<room_fixture>> kept;
  auto& slot = kept[recipients];
  if (!slot) slot = std::make_unique<room_fixture>(recipients);
  return *slot;
}

void BM_hub_send_message(benchmark::State& state) {
  const auto recipients = static_cast<std::size_t>(state.range(0));
  std::unique_ptr<room_fixture> fresh;
  room_fixture& f = fixture_for(recipients, fresh);
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const std::uint64_t sends_before = f.transport.sends;
  const std::uint64_t bytes_before = f.transport.bytes;

  for (auto _ : state) f.hub.on_message(f.sender, send_frame);

  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  // message_sent to the sender + new_message to every recipient.
  if (f.transport.sends - sends_before != iterations * (recipients + 1) || f.transport.closes != 0) {
    state.SkipWithError("the broadcast did not reach every recipient exactly once");
    return;
  }
  state.counters["recipients"] = static_cast<double>(recipients);
  state.counters["ns_per_recipient"] = benchmark::Counter(
      static_cast<double>(recipients), benchmark::Counter::kIsIterationInvariantRate |
                                           benchmark::Counter::kInvert);
  state.counters["bytes_out_per_msg"] = benchmark::Counter(
      static_cast<double>(f.transport.bytes - bytes_before) / static_cast<double>(iterations));
}

BENCHMARK(BM_hub_send_message)->Arg(1)->Arg(100)->Arg(10000);

}  // namespace

/// `online` users online, one connection each, none in a room: what an
/// auth answers with grows with them (PROTOCOL.md: auth_success, then the
/// whole online list in presence_update).
struct online_fixture {
  counting_transport transport;
  livechat::manual_clock clock;
  livechat::memory_store store;
  livechat::dev_authenticator auth;
  bench_hub hub;
  std::uint64_t next_id = 0;
  std::string error;

  explicit online_fixture(std::size_t online) : hub(transport, clock, store, auth, bench_config()) {
    for (std::size_t i = 0; i < online; ++i) {
      hub.on_open(++next_id);
      hub.on_message(next_id, R"({"type":"auth","payload":{"token":"operator-)" +
                                  std::to_string(100000 + i) + R"("}})");
    }
    if (hub.users_online() != online || transport.closes != 0) error = "setup did not go as planned";
  }
};

/// One more connection of a new user: open, auth (auth_success and the
/// presence_update of everyone online), close (the user goes offline).
/// Built once per process per size: the setup is O(online^2) in JSON.
void BM_hub_auth(benchmark::State& state) {
  const auto online = static_cast<std::size_t>(state.range(0));
  static std::map<std::size_t, std::unique_ptr<online_fixture>> kept;
  auto& slot = kept[online];
  if (!slot) slot = std::make_unique<online_fixture>(online);
  online_fixture& f = *slot;
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const std::string auth = R"({"type":"auth","payload":{"token":"newcomer"}})";
  const std::uint64_t bytes_before = f.transport.bytes;
  for (auto _ : state) {
    const std::uint64_t id = ++f.next_id;
    f.hub.on_open(id);
    f.hub.on_message(id, auth);
    f.hub.on_close(id);
  }
  if (f.hub.users_online() != online || f.transport.closes != 0) {
    state.SkipWithError("an auth was refused or a connection closed");
    return;
  }
  state.counters["online"] = static_cast<double>(online);
  state.counters["bytes_out_per_auth"] = benchmark::Counter(
      static_cast<double>(f.transport.bytes - bytes_before) / static_cast<double>(state.iterations()));
}

BENCHMARK(BM_hub_auth)->Arg(100)->Arg(10000);
