// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
// client::session driven by a fake transport that records what the session
// sends (the server side is played by hand, event by event); the end to
// end tests against a real server::hub are in session_hub.test.cpp.
// Time moves only with manual_clock; nothing sleeps.
#include <catch2/catch.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <livechat/client/session.hpp>
#include <livechat/protocol/codec.hpp>

#include "hub_harness.hpp"

// Named per file so that the unit tests can be compiled as one unit
// (LIVECHAT_TEST_UNITY): no two files' helpers collide.
namespace livechat_unit_session {

using namespace livechat::client;
using namespace std::chrono_literals;
namespace se = livechat::server_events;
namespace ce = livechat::client_events;

namespace {

const std::string room_a = "conversation:Ua";
const std::string room_b = "conversation:Ub";

/// Records connect / send / close; `throw_on_send` plays a broken socket,
/// the hooks a transport that reports back before returning.
struct fake_transport {
  int connects = 0;
  std::deque<std::string> sent;
  std::vector<std::pair<std::uint16_t, std::string>> closes;
  bool throw_on_send = false;
  std::function<void()> after_connect;
  std::function<void()> after_send;
  std::function<void(std::uint16_t)> after_close;

  void connect() {
    ++connects;
    if (after_connect) after_connect();
  }
  void send(std::string frame) {
    if (throw_on_send) throw std::runtime_error("socket gone");
    sent.push_back(std::move(frame));
    if (after_send) after_send();
  }
  void close(std::uint16_t code, std::string_view reason) {
    closes.emplace_back(code, std::string(reason));
    if (after_close) after_close(code);
  }
};

static_assert(is_client_transport_v<fake_transport>);
static_assert(!is_client_transport_v<int>);
static_assert(!is_client_transport_v<livechat_test::recording_transport>);

using test_session = session<fake_transport, livechat::manual_clock&>;

/// A client frame as the server would decode it.
struct sent_frame {
  std::string raw;
  std::string type;
  std::optional<std::string> ref;
  livechat::client_event event;

  template <class E>
  const E& as() const {
    return std::get<E>(event);
  }
};

livechat::message msg(const std::string& room, std::uint64_t seq,
                      const std::string& sender_id = "bob", const std::string& client_msg_id = "") {
  livechat::message m;
  m.id = "m-" + room + "-" + std::to_string(seq);
  m.room = room;
  m.seq = seq;
  m.sender = livechat::sender{livechat::sender_type::operator_, sender_id, sender_id};
  m.text = "text " + std::to_string(seq);
  m.client_msg_id = client_msg_id;
  return m;
}

std::vector<livechat::message> msgs(const std::string& room, std::uint64_t from, std::uint64_t to) {
  std::vector<livechat::message> out;
  for (std::uint64_t s = from; s <= to; ++s) out.push_back(msg(room, s));
  return out;
}

session_settings quick_settings() {
  session_settings s;
  s.token = "alice";
  s.backoff.jitter = false;  // exact delays: 500, 1000, 2000 …
  return s;
}

/// A session on a fake transport, with every callback recorded.
struct client_fixture {
  fake_transport t;
  livechat::manual_clock clock;
  test_session s;
  std::vector<std::pair<state, state>> states;
  std::vector<livechat::message> delivered;
  std::vector<std::string> resets;
  std::vector<std::string> order;  // "reset:<room>" and "msg:<seq>" as they came
  std::vector<std::tuple<std::string, std::uint64_t, bool>> acks;
  std::vector<session_error> errors;
  std::vector<std::pair<std::string, drop_reason>> dropped;

  explicit client_fixture(session_settings cfg = quick_settings()) : s(t, std::move(cfg), clock) {
    s.set_on_state_change([this](state from, state to) { states.emplace_back(from, to); });
    s.set_on_message([this](const livechat::message& m) {
      delivered.push_back(m);
      order.push_back("msg:" + std::to_string(m.seq));
    });
    s.set_on_history_reset([this](const std::string& room) {
      resets.push_back(room);
      order.push_back("reset:" + room);
    });
    s.set_on_message_sent([this](const std::string& id, const livechat::message& m, bool dup) {
      acks.emplace_back(id, m.seq, dup);
    });
    s.set_on_error([this](const session_error& e) { errors.push_back(e); });
    s.set_on_dropped([this](const queued_message& m, drop_reason r) {
      dropped.emplace_back(m.client_msg_id, r);
    });
  }

  void advance(std::chrono::milliseconds d) {
    clock.advance(d);
    s.tick(clock.now());
  }

  /// Moves time in 100 ms ticks, as a real event loop would.
  void run_for(std::chrono::milliseconds d) {
    for (auto left = d; left > 0ms; left -= 100ms)
      advance(std::min(left, std::chrono::milliseconds(100)));
  }

  bool has_sent() const { return !t.sent.empty(); }

  sent_frame next() {
    REQUIRE_FALSE(t.sent.empty());
    sent_frame f;
    f.raw = t.sent.front();
    t.sent.pop_front();
    livechat::decoded_frame d = livechat::decode_client_frame(f.raw);
    INFO(f.raw);
    REQUIRE(d.ok());  // everything the session sends is valid for the server
    f.type = d.type;
    f.ref = d.ref;
    f.event = d.event;
    return f;
  }

  std::vector<std::string> types() {
    std::vector<std::string> out;
    while (has_sent()) out.push_back(next().type);
    return out;
  }

  template <class E>
  void server(const E& e, const std::optional<std::string>& ref = std::nullopt) {
    s.on_message(livechat::encode(e, clock.system_now(),
                                  ref ? std::optional<std::string_view>(*ref) : std::nullopt));
  }

  /// on_open + the auth exchange (the session must send exactly `auth`).
  void authenticate(const std::string& user = "alice", std::uint32_t heartbeat_ms = 25000) {
    s.on_open();
    REQUIRE(s.current_state() == state::authenticating);
    sent_frame auth = next();
    REQUIRE(auth.type == "auth");
    CHECK(auth.as<ce::auth>().token == s.settings().token);
    se::auth_success ok;
    ok.identity = livechat::identity{user, user, livechat::user_role::operator_};
    ok.connection_id = "c1";
    ok.heartbeat_interval_ms = heartbeat_ms;
    ok.server_time = clock.system_now();
    server(ok, auth.ref);
    REQUIRE(s.current_state() == state::connected);
  }

  /// start() + authenticate().
  void establish(const std::string& user = "alice", std::uint32_t heartbeat_ms = 25000) {
    s.start();
    REQUIRE(s.current_state() == state::connecting);
    authenticate(user, heartbeat_ms);
  }

  /// Finds the next join_room among the sent frames (others are skipped)
  /// and answers it.
  sent_frame answer_join(const std::string& epoch, std::vector<livechat::message> messages,
                         std::uint64_t last_seq, bool recovered = false, bool has_more = false) {
    for (;;) {
      sent_frame f = next();
      if (f.type != "join_room") continue;
      se::conversation_update u;
      u.room = f.as<ce::join_room>().room;
      u.conversation_id = u.room.substr(13);
      u.messages = std::move(messages);
      u.last_seq = last_seq;
      u.has_more = has_more;
      u.epoch = epoch;
      u.recovered = recovered;
      server(u, f.ref);
      return f;
    }
  }

  /// Connection lost, then the backoff delay, then connected again.
  void reconnect(const std::string& user = "alice") {
    s.on_close(1006, "network down");
    REQUIRE(s.current_state() == state::reconnecting);
    const auto at = s.next_attempt_at();
    REQUIRE(at);
    clock.advance(*at - clock.now());
    s.tick(clock.now());
    REQUIRE(s.current_state() == state::connecting);
    authenticate(user);
  }

  std::vector<std::uint64_t> delivered_seqs() const {
    std::vector<std::uint64_t> out;
    for (const auto& m : delivered) out.push_back(m.seq);
    return out;
  }

  bool has_error(error_kind k) const {
    for (const auto& e : errors)
      if (e.kind == k) return true;
    return false;
  }
  bool has_auth_failed() const { return has_error(error_kind::auth_failed); }
};

}  // namespace

// =================================================================== lifecycle

TEST_CASE("session walks disconnected → connecting → authenticating → connected → reconnecting",
          "[session]") {
  client_fixture f;
  CHECK(f.s.current_state() == state::disconnected);
  f.s.start();
  CHECK(f.s.current_state() == state::connecting);
  CHECK(f.t.connects == 1);
  f.s.start();  // no-op while not disconnected
  CHECK(f.t.connects == 1);
  f.authenticate();
  CHECK(f.s.who()->user_id == "alice");

  f.s.on_close(1006, "network down");
  CHECK(f.s.current_state() == state::reconnecting);
  f.advance(499ms);
  CHECK(f.t.connects == 1);
  f.advance(1ms);
  CHECK(f.s.current_state() == state::connecting);
  CHECK(f.t.connects == 2);
  f.authenticate();  // auth again, with the token, on the new connection

  f.s.stop();
  CHECK(f.s.current_state() == state::disconnected);
  REQUIRE(f.t.closes.size() == 1);
  CHECK(f.t.closes[0].first == 1000);
  f.s.on_close(1000, "bye");  // the transport confirms; nothing more happens
  f.run_for(60s);
  CHECK(f.t.connects == 2);
  CHECK(f.s.current_state() == state::disconnected);

  using S = state;
  CHECK(f.states == std::vector<std::pair<S, S>>{{S::disconnected, S::connecting},
                                                 {S::connecting, S::authenticating},
                                                 {S::authenticating, S::connected},
                                                 {S::connected, S::reconnecting},
                                                 {S::reconnecting, S::connecting},
                                                 {S::connecting, S::authenticating},
                                                 {S::authenticating, S::connected},
                                                 {S::connected, S::disconnected}});
  CHECK(std::string(to_string(S::reconnecting)) == "reconnecting");
}

TEST_CASE("session: a failed connect attempt goes to reconnecting", "[session]") {
  client_fixture f;
  f.s.start();
  f.s.on_close(1006, "connection refused");
  CHECK(f.s.current_state() == state::reconnecting);
  f.advance(500ms);
  CHECK(f.t.connects == 2);
  CHECK(f.s.current_state() == state::connecting);
}

TEST_CASE("session: late or unexpected transport events are ignored", "[session]") {
  client_fixture f;
  f.s.on_open();  // never asked to connect
  f.s.on_message(R"({"type":"pong","payload":{"server_time":"2026-01-01T00:00:00.000Z"}})");
  f.s.on_close(1006, "?");
  CHECK(f.s.current_state() == state::disconnected);
  CHECK(f.t.sent.empty());
  CHECK(f.errors.empty());
}

TEST_CASE("session: auth_failed and close 4003 stop the retries", "[session]") {
  client_fixture f;
  SECTION("error auth_failed, then 4003") {
    f.s.start();
    f.s.on_open();
    sent_frame auth = f.next();
    f.server(se::error{livechat::errc::auth_failed, "authentication failed", std::string("auth"),
                       std::nullopt},
             auth.ref);
    f.s.on_close(4003, "auth failed");
  }
  SECTION("close 4003 alone") {
    f.s.start();
    f.s.on_open();
    f.s.on_close(4003, "auth failed");
  }
  CHECK(f.s.current_state() == state::disconnected);
  CHECK(f.has_error(error_kind::auth_failed));
  f.run_for(120s);
  CHECK(f.t.connects == 1);
  CHECK(f.s.current_state() == state::disconnected);
  // A new token and start() try again.
  f.s.set_token("alice2");
  f.s.start();
  CHECK(f.t.connects == 2);
}

TEST_CASE("session: stop then start waits for the old connection's close", "[session]") {
  client_fixture f;
  f.establish();
  f.s.stop();
  f.s.start();
  CHECK(f.s.current_state() == state::connecting);
  CHECK(f.t.connects == 1);  // one connection at a time
  f.s.on_close(1000, "");
  CHECK(f.t.connects == 2);
  f.authenticate();
}

// =================================================================== timers

TEST_CASE(
    "session pings every heartbeat_interval_ms and declares the link dead after 2 missed pongs",
    "[session]") {
  client_fixture f;
  f.establish("alice", 1000);
  f.t.sent.clear();
  f.advance(999ms);
  CHECK_FALSE(f.has_sent());
  f.advance(1ms);
  CHECK(f.types() == std::vector<std::string>{"ping"});
  SECTION("pongs keep it alive") {
    for (int i = 0; i < 10; ++i) {
      f.server(se::pong{f.clock.system_now()});
      f.advance(1000ms);
      CHECK(f.types() == std::vector<std::string>{"ping"});
    }
    CHECK(f.s.current_state() == state::connected);
  }
  SECTION("any frame counts as an answer") {
    for (int i = 0; i < 5; ++i) {
      f.server(se::typing{room_a, "bob", "bob", true});
      f.advance(1000ms);
    }
    CHECK(f.s.current_state() == state::connected);
  }
  SECTION("two pings without an answer: dead, closed, reconnecting") {
    f.advance(1000ms);  // second ping, first unanswered
    CHECK(f.types() == std::vector<std::string>{"ping"});
    CHECK(f.s.current_state() == state::connected);
    f.advance(1000ms);  // second unanswered
    CHECK(f.s.current_state() == state::reconnecting);
    REQUIRE(f.t.closes.size() == 1);
    CHECK(f.t.closes[0] == std::make_pair(std::uint16_t{4000}, std::string("heartbeat timeout")));
    CHECK(f.has_error(error_kind::heartbeat_timeout));
    f.s.on_close(4000, "heartbeat timeout");  // the transport confirms
    CHECK(f.s.current_state() == state::reconnecting);
    f.advance(500ms);
    CHECK(f.t.connects == 2);
  }
}

TEST_CASE("session uses default_heartbeat when auth_success announces 0", "[session]") {
  session_settings cfg = quick_settings();
  cfg.default_heartbeat = 3s;
  client_fixture f(cfg);
  f.establish("alice", 0);
  f.t.sent.clear();
  f.advance(2999ms);
  CHECK_FALSE(f.has_sent());
  f.advance(1ms);
  CHECK(f.types() == std::vector<std::string>{"ping"});
}

TEST_CASE("session connect timeout closes the attempt and reconnects", "[session]") {
  session_settings cfg = quick_settings();
  cfg.connect_timeout = 5s;
  client_fixture f(cfg);
  f.s.start();
  f.advance(4999ms);
  CHECK(f.t.closes.empty());
  f.advance(1ms);
  REQUIRE(f.t.closes.size() == 1);
  CHECK(f.t.closes[0] == std::make_pair(std::uint16_t{4000}, std::string("connect timeout")));
  CHECK(f.s.current_state() == state::reconnecting);
  CHECK(f.has_error(error_kind::connect_timeout));
  SECTION("the transport confirms the close") {
    f.s.on_close(1006, "aborted");
    f.advance(500ms);
    CHECK(f.t.connects == 2);
    // Open but never authenticated: the same timeout applies.
    f.s.on_open();
    CHECK(f.next().type == "auth");
    f.advance(5s);
    CHECK(f.t.closes.size() == 2);
    CHECK(f.s.current_state() == state::reconnecting);
    f.s.on_close(4000, "");
    f.advance(999ms);
    CHECK(f.t.connects == 2);
    f.advance(1ms);  // the second delay is 1000 ms
    CHECK(f.t.connects == 3);
  }
  SECTION("a transport that never confirms does not block reconnecting forever") {
    f.advance(500ms);
    CHECK(f.t.connects == 1);  // still waiting for the close
    f.advance(4500ms);         // connect_timeout after the close: go on anyway
    CHECK(f.t.connects == 2);
    CHECK(f.s.current_state() == state::connecting);
  }
}

TEST_CASE("session waits the backoff delays between reconnects", "[session]") {
  client_fixture f;
  f.establish();
  f.s.on_close(1006, "down");
  for (long long delay : {500, 1000, 2000, 4000, 8000, 16000, 20000, 20000}) {
    INFO("delay " << delay);
    REQUIRE(f.s.next_attempt_at() == f.clock.now() + std::chrono::milliseconds(delay));
    const int before = f.t.connects;
    f.advance(std::chrono::milliseconds(delay - 1));
    CHECK(f.t.connects == before);
    f.advance(1ms);
    CHECK(f.t.connects == before + 1);
    f.s.on_close(1006, "refused");
  }
}

TEST_CASE("session with jitter keeps each reconnect delay within its bound", "[session]") {
  session_settings cfg = quick_settings();
  cfg.backoff.jitter = true;
  fake_transport t;
  livechat::manual_clock clock;
  test_session s(t, cfg, clock, [] { return 0.5; });
  s.start();
  s.on_close(1006, "");
  CHECK(s.next_attempt_at() == clock.now() + 250ms);  // floor(0.5 * 501)
}

TEST_CASE("session resets the backoff after a connection stayed up stable_after", "[session]") {
  client_fixture f;  // stable_after 10 s
  f.establish();
  f.s.on_close(1006, "");  // delay 500
  f.advance(500ms);
  f.s.on_close(1006, "");  // delay 1000
  f.advance(1000ms);
  f.authenticate();
  CHECK(f.s.reconnect_backoff().attempts() == 2);
  SECTION("a short connection keeps growing the delay") {
    f.advance(3s);
    f.s.on_close(1006, "");
    CHECK(f.s.next_attempt_at() == f.clock.now() + 2000ms);
  }
  SECTION("a stable connection starts over") {
    f.run_for(10s);
    CHECK(f.s.reconnect_backoff().attempts() == 0);
    f.s.on_close(1006, "");
    CHECK(f.s.next_attempt_at() == f.clock.now() + 500ms);
  }
  SECTION("stable even when no tick saw it (checked on close)") {
    f.clock.advance(10s);
    f.s.on_close(1006, "");
    CHECK(f.s.next_attempt_at() == f.clock.now() + 500ms);
  }
}

TEST_CASE("session gives up after max_attempts", "[session]") {
  session_settings cfg = quick_settings();
  cfg.backoff.max_attempts = 2;
  client_fixture f(cfg);
  f.establish();
  f.s.on_close(1006, "");
  f.advance(500ms);
  f.s.on_close(1006, "");
  f.advance(1000ms);
  CHECK(f.t.connects == 3);
  f.s.on_close(1006, "");
  CHECK(f.s.current_state() == state::disconnected);
  CHECK(f.has_error(error_kind::reconnect_exhausted));
  f.run_for(60s);
  CHECK(f.t.connects == 3);
}

// =================================================================== rooms and history

TEST_CASE("session joins without since_seq first, then rejoins with since_seq and epoch",
          "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.s.join(room_a);  // remembered once
  f.establish();
  sent_frame j = f.answer_join("E1", msgs(room_a, 1, 3), 3);
  CHECK_FALSE(j.as<ce::join_room>().since_seq);
  CHECK_FALSE(j.as<ce::join_room>().epoch);
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3});
  const room_view* v = f.s.room(room_a);
  REQUIRE(v != nullptr);
  CHECK(v->epoch == "E1");
  CHECK(v->last_seq == 3);
  CHECK(v->loaded);

  f.reconnect();
  j = f.answer_join("E1", msgs(room_a, 4, 4), 4, true);
  CHECK(j.as<ce::join_room>().since_seq == std::optional<std::uint64_t>(3));
  CHECK(j.as<ce::join_room>().epoch == std::optional<std::string>("E1"));
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3, 4});
  CHECK(f.resets.empty());
  CHECK(f.s.room(room_a)->messages.size() == 4);
}

TEST_CASE("session: recovered false with a new epoch replaces the history", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", msgs(room_a, 1, 3), 3);
  f.reconnect();
  SECTION("new epoch") {
    f.answer_join("E2", msgs(room_a, 1, 2), 2, false);
    CHECK(f.s.room(room_a)->epoch == "E2");
  }
  SECTION("same epoch but the server has less than we saw") {
    f.answer_join("E1", msgs(room_a, 1, 2), 2, false);
  }
  CHECK(f.resets == std::vector<std::string>{room_a});
  CHECK(f.order ==
        std::vector<std::string>{"msg:1", "msg:2", "msg:3", "reset:" + room_a, "msg:1", "msg:2"});
  const room_view* v = f.s.room(room_a);
  REQUIRE(v->messages.size() == 2);
  CHECK(v->messages[0].seq == 1);
  CHECK(v->last_seq == 2);
  // Live messages continue the new lineage.
  f.server(se::new_message{msg(room_a, 3)});
  CHECK(f.s.room(room_a)->last_seq == 3);
}

TEST_CASE("session: a recovery page with has_more asks for the rest", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", msgs(room_a, 1, 3), 3);
  f.reconnect();
  f.answer_join("E1", msgs(room_a, 4, 5), 7, false, true);
  sent_frame j = f.answer_join("E1", msgs(room_a, 6, 7), 7, true);
  CHECK(j.as<ce::join_room>().since_seq == std::optional<std::uint64_t>(5));
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});
  CHECK(f.resets.empty());
}

TEST_CASE("session: a gap in new_message rejoins to fill it, never out of order or twice",
          "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", msgs(room_a, 1, 3), 3);
  f.server(se::new_message{msg(room_a, 5)});  // 4 is missing
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3});
  f.server(se::new_message{msg(room_a, 6)});
  f.server(se::new_message{msg(room_a, 3)});  // old
  // One fill request, with since_seq = the last seq applied.
  std::vector<sent_frame> joins;
  while (f.has_sent()) {
    sent_frame x = f.next();
    if (x.type == "join_room") joins.push_back(x);
  }
  REQUIRE(joins.size() == 1);
  CHECK(joins[0].as<ce::join_room>().since_seq == std::optional<std::uint64_t>(3));
  CHECK(joins[0].as<ce::join_room>().epoch == std::optional<std::string>("E1"));
  se::conversation_update u;
  u.room = room_a;
  u.messages = msgs(room_a, 4, 6);
  u.last_seq = 6;
  u.epoch = "E1";
  u.recovered = true;
  f.server(u, joins[0].ref);
  f.server(se::new_message{msg(room_a, 6)});  // a late duplicate
  f.server(se::new_message{msg(room_a, 7)});
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});
  CHECK_FALSE(f.has_sent());  // duplicates are not gaps: no further rejoin
  CHECK(f.s.room(room_a)->messages.back().seq == 7);
}

TEST_CASE("session: a fill that brings nothing is not repeated in a loop", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", msgs(room_a, 1, 3), 3);
  f.server(se::new_message{msg(room_a, 5)});
  // A server that claims seq 5 exists but sends nothing after 3.
  sent_frame j = f.answer_join("E1", {}, 5, false);
  CHECK(j.as<ce::join_room>().since_seq == std::optional<std::uint64_t>(3));
  CHECK_FALSE(f.has_sent());
  // The next gap asks again, once.
  f.server(se::new_message{msg(room_a, 6)});
  f.answer_join("E1", msgs(room_a, 4, 6), 6, true);
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK_FALSE(f.has_sent());
}

TEST_CASE("session keeps only max_history messages per room", "[session]") {
  session_settings cfg = quick_settings();
  cfg.max_history = 5;
  client_fixture f(cfg);
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", msgs(room_a, 1, 3), 3);
  for (std::uint64_t s = 4; s <= 20; ++s) f.server(se::new_message{msg(room_a, s)});
  const room_view* v = f.s.room(room_a);
  REQUIRE(v->messages.size() == 5);
  CHECK(v->messages.front().seq == 16);
  CHECK(f.delivered.size() == 20);
}

TEST_CASE("session tracks members, sessions, presence and inbox", "[session]") {
  client_fixture f;
  std::vector<std::pair<std::string, std::uint64_t>> sessions;
  std::vector<std::size_t> online_sizes;
  int inbox_updates = 0;
  f.s.set_on_session([&](const std::string& room, const livechat::session_state& s) {
    sessions.emplace_back(room, s.version);
  });
  f.s.set_on_presence(
      [&](const std::vector<livechat::presence_entry>& on) { online_sizes.push_back(on.size()); });
  f.s.set_on_inbox([&](const se::inbox_update&) { ++inbox_updates; });
  f.s.watch_inbox(true);
  f.s.join(room_a);
  f.establish();
  CHECK(f.next().type == "watch_inbox");  // before the joins
  se::conversation_update u;
  u.room = room_a;
  u.epoch = "E1";
  u.members = {{"alice", "alice"}, {"bob", "bob"}};
  u.session.version = 2;
  u.session.status = livechat::session_status::claimed;
  sent_frame j = f.next();
  REQUIRE(j.type == "join_room");
  f.server(u, j.ref);
  f.server(se::operator_joined{room_a, "carol", "carol"});
  f.server(se::operator_left{room_a, "bob", "bob"});
  const room_view* v = f.s.room(room_a);
  REQUIRE(v->members.size() == 2);
  CHECK(v->members[0].user_id == "alice");
  CHECK(v->members[1].user_id == "carol");

  livechat::session_state older;
  older.version = 1;
  f.server(se::session_released{room_a, older});  // stale: ignored
  livechat::session_state newer;
  newer.version = 3;
  newer.status = livechat::session_status::closed;
  f.server(se::session_closed{room_a, newer});
  CHECK(sessions == std::vector<std::pair<std::string, std::uint64_t>>{{room_a, 2}, {room_a, 3}});
  CHECK(v->session->status == livechat::session_status::closed);

  f.server(se::presence_update{{{"alice", "alice", 1}, {"bob", "bob", 2}}});
  f.server(se::presence_diff{{{"carol", "carol", 1}}, {"bob"}});
  CHECK(online_sizes == std::vector<std::size_t>{2, 2});
  auto online = f.s.online();
  REQUIRE(online.size() == 2);
  CHECK(online[1].user_id == "carol");
  f.server(se::inbox_update{{}, {{"alice", "alice", 1}}});
  CHECK(inbox_updates == 1);
  CHECK(f.s.online().size() == 1);

  f.s.watch_inbox(false);
  CHECK(f.next().type == "unwatch_inbox");
  f.reconnect();
  for (const auto& type : f.types()) CHECK(type != "watch_inbox");
}

// =================================================================== sending

TEST_CASE("session queues sends while offline and flushes them in order after the rejoin",
          "[session]") {
  client_fixture f;
  f.s.join(room_a);
  const std::string a = f.s.send(room_a, "  first  ");
  const std::string b = f.s.send(room_a, "second");
  const std::string c = f.s.send(room_a, "third");
  CHECK(a.size() == 32);
  CHECK(a != b);
  CHECK(f.s.queue().size() == 3);
  const room_view* v = f.s.room(room_a);
  REQUIRE(v->pending.size() == 3);
  CHECK(v->pending[0].text == "first");  // trimmed, as the server will store it
  CHECK(v->pending[2].client_msg_id == c);

  f.establish();
  CHECK(f.t.sent.size() == 1);  // the join only: sends wait for its answer
  f.answer_join("E1", {}, 0);
  std::vector<std::string> sent_ids;
  std::vector<std::string> refs;
  while (f.has_sent()) {
    sent_frame x = f.next();
    REQUIRE(x.type == "send_message");
    sent_ids.push_back(*x.as<ce::send_message>().client_msg_id);
    refs.push_back(x.ref.value());
  }
  CHECK(sent_ids == std::vector<std::string>{a, b, c});

  // Acknowledgements replace the optimistic entries.
  for (std::size_t i = 0; i < 3; ++i) {
    f.server(se::message_sent{sent_ids[i], msg(room_a, i + 1, "alice", sent_ids[i]), false},
             refs[i]);
    CHECK(v->pending.size() == 2 - i);
  }
  CHECK(f.s.queue().empty());
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(f.acks == std::vector<std::tuple<std::string, std::uint64_t, bool>>{
                      {a, 1, false}, {b, 2, false}, {c, 3, false}});
  CHECK(v->messages.size() == 3);
  CHECK(f.dropped.empty());
}

TEST_CASE("session joins at once when connected, the first reply loads the room", "[session]") {
  client_fixture f;
  f.establish();
  CHECK(f.s.ready());  // no rooms: nothing to wait for
  f.s.join(room_b);
  sent_frame j = f.answer_join("E9", msgs(room_b, 8, 9), 9, false, true);
  CHECK_FALSE(j.as<ce::join_room>().since_seq);
  CHECK(f.delivered_seqs() ==
        std::vector<std::uint64_t>{8, 9});  // the latest page, no fill for older ones
  CHECK_FALSE(f.has_sent());
  CHECK(f.resets.empty());
  CHECK(f.s.room(room_b)->last_seq == 9);
}

TEST_CASE("session sends at once when connected and ready, an unjoined room still goes out",
          "[session]") {
  client_fixture f;
  f.establish();
  const std::string id = f.s.send(room_b, "hi");
  sent_frame x = f.next();
  REQUIRE(x.type == "send_message");
  CHECK(x.as<ce::send_message>().room == room_b);
  CHECK(*x.as<ce::send_message>().client_msg_id == id);
  CHECK(f.s.room(room_b) == nullptr);
}

TEST_CASE("session: an ack lost in a disconnect never doubles the message", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", msgs(room_a, 1, 3), 3);
  const std::string id = f.s.send(room_a, "are you there?");
  sent_frame first = f.next();
  REQUIRE(first.type == "send_message");
  // The server stores it as seq 4; the acknowledgement is lost with the connection.
  f.reconnect();
  SECTION("the server answers duplicate:true to the resend") {
    // The rejoin reply was made before the message was stored (a slow commit).
    f.answer_join("E1", {}, 3, true);
    sent_frame again = f.next();
    REQUIRE(again.type == "send_message");
    CHECK(*again.as<ce::send_message>().client_msg_id == id);
    CHECK(f.s.queue().pending().front().retries == 1);
    f.server(se::new_message{msg(room_a, 4, "alice", id)});  // e.g. from another tab's view
    f.server(se::message_sent{id, msg(room_a, 4, "alice", id), true}, again.ref);
    CHECK(f.acks == std::vector<std::tuple<std::string, std::uint64_t, bool>>{{id, 4, true}});
    CHECK_FALSE(f.has_sent());
  }
  SECTION("the rejoin reply already holds it: confirmed without a resend") {
    f.answer_join("E1", {msg(room_a, 4, "alice", id)}, 4, true);
    CHECK_FALSE(f.has_sent());
    CHECK(f.acks == std::vector<std::tuple<std::string, std::uint64_t, bool>>{{id, 4, true}});
  }
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1, 2, 3, 4});
  CHECK(f.s.queue().empty());
  CHECK(f.s.room(room_a)->pending.empty());
  CHECK(f.s.room(room_a)->messages.size() == 4);
  CHECK(f.dropped.empty());
}

TEST_CASE("session drops a message after max_retries unanswered sends", "[session]") {
  session_settings cfg = quick_settings();
  cfg.queue.max_retries = 1;
  client_fixture f(cfg);
  f.establish();
  const std::string id = f.s.send(room_a, "hello");
  CHECK(f.next().type == "send_message");
  f.reconnect();
  CHECK(f.next().type == "send_message");  // retry 1
  f.reconnect();
  CHECK_FALSE(f.has_sent());
  CHECK(f.dropped ==
        std::vector<std::pair<std::string, drop_reason>>{{id, drop_reason::too_many_retries}});
  CHECK(f.s.queue().empty());
}

TEST_CASE("session: server refusals of a send", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  const std::string id = f.s.send(room_a, "hello");
  sent_frame x = f.next();
  SECTION("a validation error drops it") {
    f.server(se::error{livechat::errc::not_in_room, "join first", std::string("send_message"),
                       std::nullopt},
             x.ref);
    CHECK(f.dropped ==
          std::vector<std::pair<std::string, drop_reason>>{{id, drop_reason::rejected}});
    CHECK(f.s.room(room_a)->pending.empty());
    REQUIRE_FALSE(f.errors.empty());
    CHECK(f.errors.back().kind == error_kind::server);
    CHECK(f.errors.back().code == livechat::errc::not_in_room);
    CHECK(f.errors.back().room == room_a);
  }
  SECTION("internal: sent again with the same id") {
    f.server(se::error{livechat::errc::internal, "store down", std::string("send_message"),
                       std::nullopt},
             x.ref);
    sent_frame again = f.next();
    CHECK(*again.as<ce::send_message>().client_msg_id == id);
    CHECK(f.dropped.empty());
  }
  CHECK_FALSE(f.has_sent());
}

// =================================================================== rate_limited

namespace {
se::error rate_limited(const std::string& request_type) {
  return se::error{livechat::errc::rate_limited, "too many events, slow down", request_type,
                   std::nullopt};
}
}  // namespace

TEST_CASE("session resends exactly the refused message after a pause", "[session][rate]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  const std::string id0 = f.s.send(room_a, "m0");
  const std::string id1 = f.s.send(room_a, "m1");
  const std::string id2 = f.s.send(room_a, "m2");
  sent_frame x0 = f.next();
  sent_frame x1 = f.next();
  sent_frame x2 = f.next();
  CHECK_FALSE(f.has_sent());
  // The server stored m0 and m2 but refused m1 (its bucket refilled in between).
  f.server(se::message_sent{id0, msg(room_a, 1, "alice", id0), false}, x0.ref);
  f.server(rate_limited("send_message"), x1.ref);
  f.server(se::message_sent{id2, msg(room_a, 2, "alice", id2), false}, x2.ref);
  CHECK(f.dropped.empty());  // not `rejected`: a refusal for the pace, not for the message
  REQUIRE(f.s.queue().size() == 1);
  CHECK(f.s.queue().pending().front().client_msg_id == id1);
  CHECK(f.s.queue().pending().front().retries == 1);
  CHECK(f.s.room(room_a)->pending.size() == 1);
  REQUIRE_FALSE(f.errors.empty());
  CHECK(f.errors.back().kind == error_kind::server);
  CHECK(f.errors.back().code == livechat::errc::rate_limited);
  CHECK(f.errors.back().room == room_a);
  // Nothing goes out during the pause, not even other sends.
  f.s.typing(room_a, true);
  f.run_for(900ms);
  CHECK_FALSE(f.has_sent());
  f.run_for(100ms);
  sent_frame again = f.next();
  REQUIRE(again.type == "send_message");
  CHECK(*again.as<ce::send_message>().client_msg_id == id1);
  CHECK(again.as<ce::send_message>().text == "m1");
  CHECK(again.ref != x1.ref);
  CHECK_FALSE(f.has_sent());
  f.run_for(200ms);  // half the pace now: 7.5 frames/s
  CHECK(f.next().type == "typing_start");
  CHECK_FALSE(f.has_sent());
  f.server(se::message_sent{id1, msg(room_a, 3, "alice", id1), false}, again.ref);
  CHECK(f.s.queue().empty());
  CHECK(f.acks == std::vector<std::tuple<std::string, std::uint64_t, bool>>{
                      {id0, 1, false}, {id2, 2, false}, {id1, 3, false}});
  CHECK(f.dropped.empty());
  CHECK(f.s.current_state() == state::connected);
}

TEST_CASE("session: refused messages go out again in queue order", "[session][rate]") {
  session_settings cfg = quick_settings();
  cfg.send_burst = 5;
  client_fixture f(cfg);
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(f.s.send(room_a, "m" + std::to_string(i)));
  std::vector<sent_frame> wire;
  while (f.has_sent()) wire.push_back(f.next());
  REQUIRE(wire.size() == 3);  // burst 5 minus auth and join; m3..m5 wait
  for (const auto& x : wire) f.server(rate_limited("send_message"), x.ref);
  std::vector<std::string> order;
  for (int i = 0; i < 100 && order.size() < 6; ++i) {
    f.advance(100ms);
    while (f.has_sent()) {
      sent_frame x = f.next();
      if (x.type == "send_message") order.push_back(*x.as<ce::send_message>().client_msg_id);
    }
  }
  CHECK(order == ids);
  CHECK(f.s.queue().pending()[0].retries == 1);
  CHECK(f.s.queue().pending()[3].retries == 0);
}

TEST_CASE("session: rate_limited resends count toward max_retries", "[session][rate]") {
  session_settings cfg = quick_settings();
  cfg.queue.max_retries = 2;
  client_fixture f(cfg);
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  const std::string id = f.s.send(room_a, "m");
  for (int attempt = 0; attempt < 3; ++attempt) {
    sent_frame x;
    for (int i = 0; i < 100 && !f.has_sent(); ++i) f.advance(100ms);
    x = f.next();
    REQUIRE(x.type == "send_message");
    CHECK(*x.as<ce::send_message>().client_msg_id == id);
    f.server(rate_limited("send_message"), x.ref);
  }
  CHECK(f.dropped ==
        std::vector<std::pair<std::string, drop_reason>>{{id, drop_reason::too_many_retries}});
  CHECK(f.s.queue().empty());
  CHECK(f.s.room(room_a)->pending.empty());
  f.run_for(10s);
  CHECK_FALSE(f.has_sent());
}

TEST_CASE("session halves its pace after rate_limited, until the next connection", "[session][rate]") {
  client_fixture f;
  f.s.join(room_a);
  for (int i = 0; i < 100; ++i) f.s.send(room_a, "m" + std::to_string(i));
  f.establish();
  f.answer_join("E1", {}, 0);
  std::vector<sent_frame> first;
  while (f.has_sent()) first.push_back(f.next());
  REQUIRE(first.size() == 28);
  for (std::size_t i = 20; i < first.size(); ++i) f.server(rate_limited("send_message"), first[i].ref);
  f.run_for(1000ms);  // the pause; the 8 refusals were one episode: halved once
  std::size_t sent = 0;
  for (int step = 1; step <= 40; ++step) {
    f.advance(100ms);
    while (f.has_sent()) sent += f.next().type == "send_message";
    // 1 at the end of the pause, then 7.5/s: never the old 15/s.
    CHECK(static_cast<double>(sent) <= 1 + 7.5 * step / 10 + 1);
  }
  CHECK(sent >= 30);
  SECTION("a new connection starts at the configured pace") {
    f.reconnect();
    f.answer_join("E1", {}, 0);
    std::size_t burst = 0;
    while (f.has_sent()) burst += f.next().type == "send_message";
    CHECK(burst == 28);
  }
}

TEST_CASE("session: a rate_limited join is sent again and the room kept", "[session][rate]") {
  client_fixture f;
  f.s.join(room_a);
  const std::string id = f.s.send(room_a, "x");
  f.establish();
  sent_frame j = f.next();
  REQUIRE(j.type == "join_room");
  f.server(rate_limited("join_room"), j.ref);
  REQUIRE(f.s.room(room_a) != nullptr);
  CHECK(f.dropped.empty());
  CHECK_FALSE(f.s.ready());  // the queue still waits for the rejoin
  CHECK_FALSE(f.has_sent());
  f.run_for(1000ms);
  sent_frame again = f.next();
  REQUIRE(again.type == "join_room");
  CHECK(again.as<ce::join_room>().room == room_a);
  f.t.sent.push_front(again.raw);
  f.answer_join("E1", {}, 0);
  CHECK(f.s.ready());
  f.run_for(200ms);
  sent_frame x = f.next();
  REQUIRE(x.type == "send_message");
  CHECK(*x.as<ce::send_message>().client_msg_id == id);
}

TEST_CASE("session: a rate_limited auth is sent again", "[session][rate]") {
  client_fixture f;
  f.s.start();
  f.s.on_open();
  sent_frame a = f.next();
  REQUIRE(a.type == "auth");
  f.server(rate_limited("auth"), a.ref);
  CHECK(f.s.current_state() == state::authenticating);
  CHECK_FALSE(f.has_auth_failed());
  f.run_for(1000ms);
  sent_frame again = f.next();
  CHECK(again.type == "auth");
}

TEST_CASE("session: a rate_limited without ref pauses and resends nothing", "[session][rate]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  f.s.typing(room_a, true);
  f.s.mark_read(room_a, 0);
  CHECK(f.types() == std::vector<std::string>{"typing_start", "mark_read"});
  f.server(se::error{livechat::errc::rate_limited, "slow down", std::nullopt, std::nullopt});
  CHECK(f.has_error(error_kind::server));
  const std::string id = f.s.send(room_a, "after");
  f.run_for(900ms);
  CHECK_FALSE(f.has_sent());
  f.run_for(100ms);
  sent_frame x = f.next();
  CHECK(x.type == "send_message");
  CHECK(*x.as<ce::send_message>().client_msg_id == id);
  CHECK_FALSE(f.has_sent());
}

TEST_CASE("session: a join refused for good forgets the room and its messages", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  const std::string id = f.s.send(room_a, "x");
  f.establish();
  sent_frame j = f.next();
  f.server(se::error{livechat::errc::limit_exceeded, "too many rooms", std::string("join_room"),
                     std::nullopt},
           j.ref);
  CHECK(f.s.room(room_a) == nullptr);
  CHECK(f.dropped == std::vector<std::pair<std::string, drop_reason>>{{id, drop_reason::rejected}});
  CHECK(f.s.ready());
}

TEST_CASE("session expires queued messages and reports them", "[session]") {
  session_settings cfg = quick_settings();
  cfg.queue.max_age = 60s;
  client_fixture f(cfg);
  f.s.join(room_a);
  const std::string id = f.s.send(room_a, "stale soon");
  f.advance(59s);
  CHECK(f.dropped.empty());
  f.advance(1s);
  CHECK(f.dropped == std::vector<std::pair<std::string, drop_reason>>{{id, drop_reason::expired}});
  CHECK(f.s.room(room_a)->pending.empty());
  CHECK(f.s.queue().counters().dropped_expired == 1);
}

TEST_CASE("session reports a full queue through on_dropped", "[session]") {
  session_settings cfg = quick_settings();
  cfg.queue.max_messages = 2;
  client_fixture f(cfg);
  f.s.join(room_a);
  f.s.send(room_a, "1");
  f.s.send(room_a, "2");
  const std::string third = f.s.send(room_a, "3");
  CHECK_FALSE(third.empty());
  CHECK(f.dropped ==
        std::vector<std::pair<std::string, drop_reason>>{{third, drop_reason::overflow}});
  CHECK(f.s.room(room_a)->pending.size() == 2);
}

TEST_CASE("session paces a large flush below the server's rate limit", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(f.s.send(room_a, "m" + std::to_string(i)));
  f.establish();
  f.answer_join("E1", {}, 0);
  std::vector<std::string> sent_ids;
  auto collect = [&] {
    while (f.has_sent()) {
      sent_frame x = f.next();
      if (x.type == "send_message") sent_ids.push_back(*x.as<ce::send_message>().client_msg_id);
    }
  };
  collect();
  CHECK(sent_ids.size() == 28);  // burst 30, minus auth and join
  // At most burst + rate * t frames in any prefix of time: never above the server's 40 + 20/s.
  for (int step = 1; step <= 60; ++step) {
    f.advance(100ms);
    collect();
    CHECK(static_cast<double>(sent_ids.size()) <= 28 + 15.0 * step / 10 + 1);
  }
  CHECK(sent_ids == ids);  // all 100, in order
}

TEST_CASE("session drops typing while offline and sends it while connected", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.s.typing(room_a, true);
  f.establish();
  f.answer_join("E1", {}, 0);
  CHECK_FALSE(f.has_sent());
  f.s.typing(room_a, true);
  f.s.typing(room_a, false);
  CHECK(f.types() == std::vector<std::string>{"typing_start", "typing_stop"});
  f.s.on_close(1006, "");
  f.s.typing(room_a, false);
  f.advance(500ms);
  f.authenticate();
  for (const auto& type : f.types()) CHECK(type != "typing_stop");
}

TEST_CASE("session: claim/release/close need a connection, mark_read waits for one", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.s.claim(room_a);
  CHECK(f.has_error(error_kind::not_connected));
  f.s.mark_read(room_a, 3);
  f.s.mark_read(room_a, 7);
  f.s.mark_read(room_a, 5);  // positions only move forward
  f.establish();
  CHECK(f.next().type == "join_room");
  sent_frame r = f.next();
  REQUIRE(r.type == "mark_read");
  CHECK(r.as<ce::mark_read>().seq == 7);
  f.s.claim(room_a);
  f.s.release(room_a);
  f.s.close_session(room_a);
  f.s.mark_read(room_a, 9);
  CHECK(f.types() ==
        std::vector<std::string>{"claim_session", "release_session", "close_session", "mark_read"});
}

TEST_CASE("session leave forgets the room and cancels its queued messages", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.s.join(room_b);
  const std::string id = f.s.send(room_a, "never mind");
  f.s.send(room_b, "keep me");
  f.s.leave(room_a);
  CHECK(f.s.room(room_a) == nullptr);
  CHECK(f.dropped ==
        std::vector<std::pair<std::string, drop_reason>>{{id, drop_reason::cancelled}});
  CHECK(f.s.queue().size() == 1);
  CHECK(f.s.rooms() == std::vector<std::string>{room_b});
  f.establish();
  sent_frame j = f.next();
  CHECK(j.as<ce::join_room>().room == room_b);
  f.s.leave(room_b);  // before its join is answered: the flush must not wait for it
  CHECK(f.s.ready());
  CHECK(f.types() == std::vector<std::string>{"leave_room"});
}

TEST_CASE("session refuses bad arguments locally", "[session]") {
  client_fixture f;
  f.s.join("lobby");
  CHECK(f.s.rooms().empty());
  CHECK(f.s.send("lobby", "hi").empty());
  CHECK(f.s.send(room_a, " \t\r\n ").empty());
  CHECK(f.s.send(room_a, std::string(5001, 'x')).empty());
  CHECK(f.s.send(room_a, "\xff\xfe").empty());
  CHECK_FALSE(f.s.send(room_a, std::string(5000, 'x')).empty());
  CHECK(f.errors.size() == 5);
  for (const auto& e : f.errors) CHECK(e.kind == error_kind::invalid_argument);
  CHECK(f.s.queue().size() == 1);
}

TEST_CASE("session falls back to a random id when make_client_msg_id misbehaves", "[session]") {
  session_settings cfg = quick_settings();
  cfg.make_client_msg_id = [] { return std::string(); };
  client_fixture f(cfg);
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  const std::string id = f.s.send(room_a, "x");
  CHECK(id.size() == 32);
  // The call was not refused (that is what invalid_argument means): the
  // message is queued and sent under the random id.
  REQUIRE(f.errors.size() == 1);
  CHECK(f.errors[0].kind == error_kind::bad_setting);
  CHECK(std::string(to_string(f.errors[0].kind)) == "bad_setting");
  CHECK(f.errors[0].room == room_a);
  CHECK_FALSE(f.has_error(error_kind::invalid_argument));
  REQUIRE(f.s.queue().size() == 1);
  CHECK(f.s.queue().pending().front().client_msg_id == id);
  CHECK(f.s.room(room_a)->pending.size() == 1);
  sent_frame x = f.next();
  REQUIRE(x.type == "send_message");
  CHECK(*x.as<ce::send_message>().client_msg_id == id);
}

TEST_CASE("session uses make_client_msg_id", "[session]") {
  session_settings cfg = quick_settings();
  int n = 0;
  cfg.make_client_msg_id = [&n] { return "id-" + std::to_string(++n); };
  client_fixture f(cfg);
  CHECK(f.s.send(room_a, "x") == "id-1");
  CHECK(f.s.send(room_a, "y") == "id-2");
}

// =================================================================== robustness

TEST_CASE("session reports malformed server frames and carries on", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.establish();
  f.answer_join("E1", {}, 0);
  const std::size_t before = f.errors.size();
  f.s.on_message("not json");
  f.s.on_message("[1,2]");
  f.s.on_message(R"({"payload":{}})");
  f.s.on_message(R"({"type":"new_message","payload":{"message":{"id":"x"}}})");
  f.s.on_message(
      R"({"type":"new_message","payload":{"message":{"id":"x","room":"conversation:Ua","seq":-1}}})");
  f.s.on_message(R"({"type":"conversation_update","payload":[]})");
  f.s.on_message(std::string("{\"type\":\"pong\"}\0garbage", 23));
  REQUIRE(f.errors.size() == before + 7);
  CHECK(f.errors[before].kind == error_kind::malformed_frame);
  CHECK(f.errors[before].code == livechat::errc::invalid_json);
  CHECK(f.errors[before + 2].field == std::optional<std::string>("type"));
  CHECK(f.errors[before + 3].field == std::optional<std::string>("message.room"));
  CHECK(f.errors[before + 4].field == std::optional<std::string>("message.seq"));
  CHECK(f.errors[before + 5].field == std::optional<std::string>("payload"));
  // An event type from a newer server is ignored quietly.
  f.s.on_message(R"({"type":"reaction_added","payload":{"emoji":"+1"}})");
  CHECK(f.errors.size() == before + 7);
  CHECK(f.s.current_state() == state::connected);
  f.server(se::new_message{msg(room_a, 1)});
  CHECK(f.delivered_seqs() == std::vector<std::uint64_t>{1});
}

TEST_CASE("session: exceptions thrown by callbacks do not escape", "[session]") {
  client_fixture f;
  f.s.set_on_message([](const livechat::message&) { throw std::runtime_error("ui crashed"); });
  f.s.set_on_state_change([](state, state) { throw 42; });
  f.s.join(room_a);
  CHECK_NOTHROW(f.establish());
  CHECK_NOTHROW(f.answer_join("E1", msgs(room_a, 1, 2), 2));
  CHECK_NOTHROW(f.server(se::new_message{msg(room_a, 3)}));
  CHECK(f.s.room(room_a)->last_seq == 3);  // state is updated regardless
  std::size_t callback_errors = 0;
  for (const auto& e : f.errors) callback_errors += e.kind == error_kind::callback;
  CHECK(callback_errors == 3 + 3);  // three messages, three state changes
  SECTION("a throwing error handler is swallowed too") {
    f.s.set_on_error([](const session_error&) { throw std::runtime_error("logger down"); });
    CHECK_NOTHROW(f.server(se::new_message{msg(room_a, 4)}));
    CHECK_NOTHROW(f.s.on_message("garbage"));
    CHECK_NOTHROW(f.s.on_close(1006, ""));
    CHECK_NOTHROW(f.advance(1s));
  }
}

TEST_CASE("session survives a transport that throws", "[session]") {
  client_fixture f;
  f.establish();
  f.t.throw_on_send = true;
  CHECK_NOTHROW(f.s.typing(room_a, true));
  CHECK(f.has_error(error_kind::transport));
  CHECK(f.s.current_state() == state::reconnecting);
  REQUIRE_FALSE(f.t.closes.empty());
}

TEST_CASE("session copes with a transport that reports back before returning", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  SECTION("connect refused at once, then opened at once") {
    f.t.after_connect = [&] { f.s.on_close(1006, "refused"); };
    f.s.start();
    CHECK(f.s.current_state() == state::reconnecting);
    f.t.after_connect = [&] { f.s.on_open(); };
    f.advance(500ms);
    CHECK(f.s.current_state() == state::authenticating);
    CHECK(f.next().type == "auth");
    CHECK(f.errors.empty());
  }
  SECTION("close confirmed at once") {
    f.t.after_close = [&](std::uint16_t code) { f.s.on_close(code, ""); };
    f.establish("alice", 1000);
    f.run_for(3s);  // two pings unanswered: dead
    CHECK(f.s.current_state() == state::reconnecting);
    f.advance(500ms);
    CHECK(f.t.connects == 2);  // the confirmed close did not hold the reconnect back
    f.s.stop();
    CHECK(f.s.current_state() == state::disconnected);
    REQUIRE(f.errors.size() == 1);
    CHECK(f.errors[0].kind == error_kind::heartbeat_timeout);
  }
  SECTION("the connection drops in the middle of a flush") {
    for (int i = 0; i < 5; ++i) f.s.send(room_a, "m" + std::to_string(i));
    f.establish();
    int sends = 0;
    f.t.after_send = [&] {
      if (++sends == 3) f.s.on_close(1006, "reset by peer");
    };
    f.answer_join("E1", {}, 0);
    CHECK(f.s.current_state() == state::reconnecting);
    CHECK(sends == 3);  // nothing sent after the drop
    CHECK(f.s.queue().size() == 5);
    CHECK(f.s.queue().pending()[2].retries == 1);  // m0..m2 were on the wire
    CHECK(f.s.queue().pending()[3].retries == 0);
    f.t.after_send = nullptr;
    f.t.sent.clear();
    f.advance(500ms);
    f.authenticate();
    f.answer_join("E1", {}, 0);
    std::size_t resent = 0;
    while (f.has_sent()) resent += f.next().type == "send_message";
    CHECK(resent == 5);
    CHECK(f.errors.empty());
  }
}

TEST_CASE("session callbacks may call back into the session", "[session]") {
  client_fixture f;
  f.s.join(room_a);
  f.s.set_on_message([&](const livechat::message& m) {
    if (m.sender.id != "alice") f.s.send(m.room, "echo " + std::to_string(m.seq));
    CHECK(f.s.room(m.room)->last_seq >= m.seq);  // state is consistent inside callbacks
  });
  f.s.set_on_state_change([&](state, state to) {
    if (to == state::reconnecting) f.s.stop();
  });
  f.establish();
  f.answer_join("E1", {}, 0);
  f.server(se::new_message{msg(room_a, 1)});
  sent_frame x = f.next();
  REQUIRE(x.type == "send_message");
  CHECK(x.as<ce::send_message>().text == "echo 1");
  f.s.on_close(1006, "");
  CHECK(f.s.current_state() == state::disconnected);
}

}  // namespace livechat_unit_session
