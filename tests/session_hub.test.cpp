// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// client::session end to end against a real server::hub over an in-process
// bridge (the fake-transport tests of the session are in session.test.cpp).
// Time moves only with manual_clock; nothing sleeps.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <livechat/client/session.hpp>
#include <livechat/protocol/codec.hpp>

#include "hub_harness.hpp"

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_session_hub {

using namespace livechat::client;
using namespace std::chrono_literals;

namespace {
const std::string room_a = "conversation:Ua";
}  // namespace

// =================================================================== end to end against
// server::hub

namespace {

using server_hub =
    livechat::server::hub<livechat_test::recording_transport, livechat::manual_clock>;

/// Sessions and a real hub in one process. Frames wait in queues until
/// pump() moves them, so neither side is ever re-entered by the other and
/// a test can drop what is "on the wire" (kill) or replace the hub while a
/// store lives on (a server restart).
struct hub_net {
  struct client;

  /// The session's Transport: it only records requests; pump() carries them out.
  struct link {
    client* c;
    void connect() { c->connect_requested = true; }
    void send(std::string frame) { c->up.push_back(std::move(frame)); }
    void close(std::uint16_t code, std::string_view) { c->close_requested = code; }
  };
  static_assert(is_client_transport_v<link>);

  struct client {
    link transport{this};
    std::unique_ptr<session<link, livechat::manual_clock>> s;
    std::optional<int> conn;  // the hub's connection id while connected
    bool connect_requested = false;
    std::optional<std::uint16_t> close_requested;
    std::deque<std::string> up;  // client → server frames not yet delivered
    std::vector<livechat::message> delivered;
    std::vector<std::string> resets;
    std::vector<std::tuple<std::string, std::uint64_t, bool>> acks;
    std::vector<session_error> errors;
    std::vector<std::pair<std::string, drop_reason>> dropped;

    std::vector<std::uint64_t> seqs(const std::string& room) const {
      std::vector<std::uint64_t> out;
      for (const auto& m : delivered)
        if (m.room == room) out.push_back(m.seq);
      return out;
    }
    std::vector<std::string> texts(const std::string& room) const {
      std::vector<std::string> out;
      for (const auto& m : delivered)
        if (m.room == room) out.push_back(m.text);
      return out;
    }
    std::size_t server_errors(livechat::errc code) const {
      std::size_t n = 0;
      for (const auto& e : errors) n += e.kind == error_kind::server && e.code == code;
      return n;
    }
  };

  livechat::manual_clock clock;
  livechat_test::recording_transport server_transport;
  livechat_test::test_authenticator auth;
  std::unique_ptr<livechat::memory_store> store =
      std::make_unique<livechat::memory_store>("epoch-1");
  std::unique_ptr<server_hub> hub;
  std::vector<std::unique_ptr<client>> clients;
  int next_conn = 1;
  bool server_up = true;

  livechat::server::hub_config hub_cfg;

  explicit hub_net(livechat::server::hub_config cfg = {}) : hub_cfg(cfg) {
    hub = std::make_unique<server_hub>(server_transport, clock, *store, auth, hub_cfg);
  }

  client& add(const std::string& token, std::function<void(session_settings&)> tweak = {}) {
    clients.push_back(std::make_unique<client>());
    client& c = *clients.back();
    session_settings cfg;
    cfg.token = token;
    cfg.backoff.jitter = false;  // reconnects at known times: 500, 1000, 2000 ms …
    if (tweak) tweak(cfg);
    // The session gets a copy of the clock: it follows the ticks it is given.
    c.s = std::make_unique<session<link, livechat::manual_clock>>(c.transport, cfg, clock);
    c.s->set_on_message([&c](const livechat::message& m) { c.delivered.push_back(m); });
    c.s->set_on_history_reset([&c](const std::string& room) { c.resets.push_back(room); });
    c.s->set_on_message_sent([&c](const std::string& id, const livechat::message& m, bool dup) {
      c.acks.emplace_back(id, m.seq, dup);
    });
    c.s->set_on_error([&c](const session_error& e) { c.errors.push_back(e); });
    c.s->set_on_dropped([&c](const queued_message& m, drop_reason r) {
      c.dropped.emplace_back(m.client_msg_id, r);
    });
    return c;
  }

  /// Delivers everything pending, both ways, until nothing moves.
  void pump() {
    for (int round = 0; round < 10000; ++round) {
      bool moved = false;
      for (auto& cp : clients) {
        client& c = *cp;
        if (c.close_requested) {
          const std::uint16_t code = *c.close_requested;
          c.close_requested.reset();
          disconnect(c, code);
          moved = true;
        }
        if (c.connect_requested) {
          c.connect_requested = false;
          if (server_up) {
            c.conn = next_conn++;
            hub->on_open(*c.conn);
            c.s->on_open();
          } else {
            c.s->on_close(1006, "connection refused");
          }
          moved = true;
        }
        while (!c.up.empty() && c.conn) {
          std::string f = std::move(c.up.front());
          c.up.pop_front();
          hub->on_message(*c.conn, f);
          moved = true;
        }
        if (!c.conn) c.up.clear();  // frames sent on a dead connection are lost
        if (c.conn) {
          auto& in = server_transport.inbox[*c.conn];
          while (!in.empty() && c.conn) {
            std::string f = std::move(in.front());
            in.pop_front();
            c.s->on_message(f);
            moved = true;
          }
          auto closed = server_transport.closes.find(*c.conn);
          if (c.conn && closed != server_transport.closes.end()) {  // the hub closed it
            const auto code = closed->second.code;
            server_transport.closes.erase(closed);
            c.conn.reset();
            c.s->on_close(code, "closed by server");
            moved = true;
          }
        }
      }
      if (!moved) return;
    }
    FAIL("the bridge did not settle");
  }

  /// The client side closes (or the network drops) `c`'s connection.
  void disconnect(client& c, std::uint16_t code) {
    if (c.conn) {
      server_transport.inbox.erase(*c.conn);
      hub->on_close(*c.conn);
      c.conn.reset();
    }
    c.up.clear();
    c.s->on_close(code, "");
  }

  /// The network drops `c`: frames in flight both ways are lost.
  void kill(client& c) { disconnect(c, 1006); }

  /// The server process dies; with `keep_store` a new one starts on the
  /// same store (SQLite-like durability), else on a fresh store (new epoch).
  void restart(bool keep_store) {
    hub.reset();  // no goodbyes: the process died
    for (auto& cp : clients) {
      client& c = *cp;
      c.up.clear();
      if (c.conn) {
        server_transport.inbox.erase(*c.conn);
        c.conn.reset();
        c.s->on_close(1006, "server gone");
      }
    }
    if (!keep_store) store = std::make_unique<livechat::memory_store>("epoch-2");
    hub = std::make_unique<server_hub>(server_transport, clock, *store, auth, hub_cfg);
  }

  /// Time passes in 100 ms ticks for the hub and every session.
  void run_for(std::chrono::milliseconds d) {
    for (auto t = 0ms; t < d; t += 100ms) {
      clock.advance(100ms);
      hub->tick(clock.now());
      for (auto& c : clients) c->s->tick(clock.now());
      pump();
    }
  }

  std::vector<std::string> stored_texts(const std::string& room) {
    std::vector<std::string> out;
    auto page = store->history(room, std::uint64_t{0}, 500);
    REQUIRE(page.ok());
    for (const auto& m : page->messages) out.push_back(m.text);
    return out;
  }
};

std::vector<std::uint64_t> one_to(std::uint64_t n) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("session against a real hub: messages flow both ways, each delivered once",
          "[session][hub]") {
  hub_net net;
  auto& alice = net.add("alice");
  auto& bob = net.add("bob");
  for (auto* c : {&alice, &bob}) {
    c->s->join(room_a);
    c->s->start();
  }
  net.pump();
  REQUIRE(alice.s->ready());
  REQUIRE(bob.s->ready());
  alice.s->send(room_a, "hello bob");
  net.pump();
  bob.s->send(room_a, "hi alice");
  net.pump();
  alice.s->send(room_a, "how are you?");
  net.pump();
  const std::vector<std::string> expected{"hello bob", "hi alice", "how are you?"};
  CHECK(net.stored_texts(room_a) == expected);
  for (auto* c : {&alice, &bob}) {
    CHECK(c->seqs(room_a) == one_to(3));
    CHECK(c->texts(room_a) == expected);
    CHECK(c->s->queue().empty());
    CHECK(c->s->room(room_a)->pending.empty());
    CHECK(c->errors.empty());
  }
  CHECK(alice.acks.size() == 2);
  CHECK(bob.acks.size() == 1);
  CHECK(alice.s->room(room_a)->members.size() == 2);
  // Heartbeats keep the hub's idle timeout (60 s) away.
  net.run_for(130s);
  CHECK(alice.s->current_state() == state::connected);
  CHECK(net.hub->connection_count() == 2);
}

TEST_CASE("session against a real hub: a dropped connection loses and doubles nothing",
          "[session][hub]") {
  hub_net net;
  auto& alice = net.add("alice");
  auto& bob = net.add("bob");
  for (auto* c : {&alice, &bob}) {
    c->s->join(room_a);
    c->s->start();
  }
  net.pump();
  alice.s->send(room_a, "a1");
  net.pump();

  SECTION("offline on both sides of the cut") {
    net.kill(alice);
    CHECK(alice.s->current_state() == state::reconnecting);
    bob.s->send(room_a, "b1 while alice is away");
    bob.s->send(room_a, "b2 while alice is away");
    alice.s->send(room_a, "a2 written offline");
    alice.s->send(room_a, "a3 written offline");
    net.pump();
    CHECK(alice.s->queue().size() == 2);
    net.run_for(2s);  // the backoff delay, then reconnect, rejoin, flush
  }
  SECTION("the acknowledgement is lost: the message was stored, the answer never arrived") {
    alice.s->send(room_a, "a2 written offline");
    alice.s->send(room_a, "a3 written offline");
    // The hub processes both sends, but the frames back to alice are lost.
    while (!alice.up.empty()) {
      net.hub->on_message(*alice.conn, alice.up.front());
      alice.up.pop_front();
    }
    bob.s->send(room_a, "b1 while alice is away");
    bob.s->send(room_a, "b2 while alice is away");
    net.kill(alice);
    net.pump();
    CHECK(alice.s->queue().size() == 2);  // unacknowledged, still queued
    net.run_for(2s);
  }
  SECTION("the sends never reached the server") {
    alice.s->send(room_a, "a2 written offline");
    alice.s->send(room_a, "a3 written offline");
    net.kill(alice);  // drops the frames still in `up`
    bob.s->send(room_a, "b1 while alice is away");
    bob.s->send(room_a, "b2 while alice is away");
    net.pump();
    net.run_for(2s);
  }
  REQUIRE(alice.s->current_state() == state::connected);
  const auto stored = net.stored_texts(room_a);
  CHECK(stored.size() == 5);  // a1, a2, a3, b1, b2: each once
  for (const char* t : {"a1", "a2 written offline", "a3 written offline", "b1 while alice is away",
                        "b2 while alice is away"})
    CHECK(std::count(stored.begin(), stored.end(), t) == 1);
  // Both clients saw the room's history exactly once, in seq order.
  for (auto* c : {&alice, &bob}) {
    CHECK(c->seqs(room_a) == one_to(5));
    CHECK(c->texts(room_a) == stored);
    CHECK(c->resets.empty());
  }
  CHECK(alice.s->queue().empty());
  CHECK(alice.dropped.empty());
  CHECK(alice.acks.size() == 3);
  CHECK(alice.server_errors(livechat::errc::rate_limited) == 0);
}

TEST_CASE("session against a real hub: server restarts", "[session][hub]") {
  hub_net net;
  auto& alice = net.add("alice");
  alice.s->join(room_a);
  alice.s->start();
  net.pump();
  alice.s->send(room_a, "before restart");
  net.pump();
  REQUIRE(alice.seqs(room_a) == one_to(1));

  SECTION("same store: resumed, nothing reset") {
    net.server_up = false;
    net.restart(true);
    alice.s->send(room_a, "during the outage");
    net.run_for(3s);  // refused connects, growing delays
    CHECK(alice.s->current_state() != state::connected);
    net.server_up = true;
    net.run_for(5s);
    REQUIRE(alice.s->current_state() == state::connected);
    CHECK(alice.resets.empty());
    CHECK(alice.seqs(room_a) == one_to(2));
    CHECK(net.stored_texts(room_a) ==
          std::vector<std::string>{"before restart", "during the outage"});
    CHECK(alice.s->room(room_a)->epoch == "epoch-1");
  }
  SECTION("fresh store: a new epoch resets the history") {
    net.restart(false);
    net.run_for(2s);
    REQUIRE(alice.s->current_state() == state::connected);
    CHECK(alice.resets == std::vector<std::string>{room_a});
    CHECK(alice.s->room(room_a)->epoch == "epoch-2");
    CHECK(alice.s->room(room_a)->messages.empty());
    alice.s->send(room_a, "after the reset");
    net.pump();
    // seq 1 again, in the new lineage: delivered after the reset.
    CHECK(alice.seqs(room_a) == std::vector<std::uint64_t>{1, 1});
    CHECK(alice.s->room(room_a)->messages.size() == 1);
  }
}

TEST_CASE("session against a real hub: a full queue flushes under the default rate limit",
          "[session][hub]") {
  hub_net net;
  auto& alice = net.add("alice");
  alice.s->join(room_a);
  std::vector<std::string> texts;
  for (int i = 0; i < 100; ++i) {
    texts.push_back("queued " + std::to_string(i));
    alice.s->send(room_a, texts.back());
  }
  alice.s->start();
  net.pump();
  net.run_for(8s);
  CHECK(net.stored_texts(room_a) == texts);
  CHECK(alice.seqs(room_a) == one_to(100));
  CHECK(alice.s->queue().empty());
  CHECK(alice.server_errors(livechat::errc::rate_limited) == 0);
  CHECK(alice.errors.empty());
}

TEST_CASE("session against a real hub: a pace above the server's limit still stores every message once",
          "[session][hub][rate]") {
  livechat::server::hub_config cfg;
  cfg.rate_burst = 10;
  cfg.rate_per_second = 5;
  hub_net net(cfg);
  std::vector<std::pair<state, state>> states;
  auto& alice = net.add("alice", [](session_settings& s) {
    s.send_burst = 40;
    s.send_per_second = 40;
  });
  alice.s->set_on_state_change([&](state from, state to) { states.emplace_back(from, to); });
  alice.s->join(room_a);
  std::vector<std::string> texts;
  for (int i = 0; i < 100; ++i) {
    texts.push_back("queued " + std::to_string(i));
    alice.s->send(room_a, texts.back());
  }
  alice.s->start();
  net.pump();
  for (int i = 0; i < 600 && !alice.s->queue().empty(); ++i) net.run_for(100ms);
  CHECK(net.stored_texts(room_a) == texts);  // each once, in order
  CHECK(alice.seqs(room_a) == one_to(100));
  CHECK(alice.s->queue().empty());
  CHECK(alice.dropped.empty());
  CHECK(alice.acks.size() == 100);
  const std::size_t refused = alice.server_errors(livechat::errc::rate_limited);
  CHECK(refused > 0);
  CHECK(refused < 100);  // never near the 1008 close
  // One connection all along: no close for too many refused frames.
  CHECK(std::count_if(states.begin(), states.end(),
                      [](const auto& s) { return s.second == state::reconnecting; }) == 0);
  UNSCOPED_INFO("refused frames: " << refused);
}

}  // namespace livechat_unit_session_hub
