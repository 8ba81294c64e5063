// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_SESSION_HPP
#define LIVECHAT_CLIENT_SESSION_HPP

// The reconnecting client: the protocol state machine of one client
// connection, transport-agnostic and clock-injected like server::hub. It
// authenticates on every connect, rejoins its rooms with since_seq + epoch,
// delivers every message exactly once in seq order, keeps a bounded queue
// of unacknowledged sends and resends them with their client_msg_id (the
// server's dedupe key), pings, and reconnects with jittered backoff.
//
// This header declares the session and documents it; the bodies are in
// impl/session.hpp, impl/session_send.hpp and impl/session_events.hpp
// (included at the end). Its
// pieces: the settings, states and errors in their own headers, each
// room's history and gap repair in room_history.hpp, the callback queue
// and the send pacing in detail/.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <livechat/client/backoff.hpp>
#include <livechat/client/detail/callback_queue.hpp>
#include <livechat/client/detail/send_pacer.hpp>
#include <livechat/client/message_queue.hpp>
#include <livechat/client/room_history.hpp>
#include <livechat/client/room_view.hpp>
#include <livechat/client/session_error.hpp>
#include <livechat/client/session_settings.hpp>
#include <livechat/client/state.hpp>
#include <livechat/client/transport.hpp>
#include <livechat/clock.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/model.hpp>

namespace livechat::client {

/// The client side of PROTOCOL.md over any Transport, with reconnection.
///
/// Driven like `server::hub`: the transport adapter calls `on_open`,
/// `on_message` and `on_close`; a timer calls `tick(now)` (every 100 ms or
/// so); the session answers through `Transport::connect`, `send` and
/// `close`. It never sleeps and never reads a socket, so tests drive it
/// with a fake transport and `manual_clock`.
///
/// The session's notion of now is the later of `Clock::now()` and the last
/// `tick(now)`: with `default_clock` that is the real time; with a copied
/// `manual_clock`, the time last ticked; with `Clock = manual_clock&`, the
/// shared clock.
///
/// Callbacks run after the session has updated its state for the event
/// that caused them (so `room()`, `queue()` and `current_state()` are
/// consistent inside them), and they may call back into the session.
/// Nothing they throw escapes: it is reported to on_error.
///
/// @tparam Transport  see `is_client_transport_v` / docs/concepts.md
/// @tparam Clock      see `is_clock_v` (livechat/clock.hpp), or a reference to one; its
///                    time_point must be `client::time_point`
/// @par Thread Safety
/// None: every call (transport events, tick, the typed API) must come from
/// one thread, e.g. the Asio thread of the transport.
/// @par Exceptions
/// `on_open`, `on_message`, `on_close` and `tick` never throw; malformed
/// server frames are reported via on_error and ignored.
/// @code
/// client::session<my_transport> s(transport, {"alice"});
/// s.set_on_message([](const livechat::message& m) { show(m); });
/// s.join("conversation:U123");
/// s.start();
/// s.send("conversation:U123", "hello");  // queued until connected
/// @endcode
template <class Transport, class Clock = default_clock>
class session {
 public:
  /// `Clock` may be a reference (`manual_clock&`) to share the caller's clock.
  using clock_type = std::remove_reference_t<Clock>;
  using room_view = client::room_view;

 private:
  static_assert(is_client_transport_v<Transport>,
                "client Transport requirements not met (docs/concepts.md)");
  static_assert(is_clock_v<clock_type>, "Clock requirements not met (docs/concepts.md)");
  static_assert(std::is_same_v<typename clock_type::time_point, time_point>,
                "the client's Clock must use std::chrono::steady_clock::time_point");

 public:
  session(Transport& t, session_settings s, Clock clock = {}, backoff::random_source r = {});

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // ------------------------------------------------------------ lifecycle

  /// disconnected → connecting (calls transport.connect()). No-op otherwise.
  void start();

  /// → disconnected: closes with 1000, no more reconnects. Rooms, the
  /// queue and the views are kept; start() connects again.
  void stop();

  state current_state() const noexcept { return state_; }

  // ------------------------------------------------------------ transport events

  /// The transport connected: connecting → authenticating (sends `auth`).
  void on_open() noexcept;

  /// One text frame from the server.
  void on_message(std::string_view frame) noexcept;

  /// The connection closed or the connect attempt failed. Also expected
  /// after every transport.close() the session made.
  void on_close(std::uint16_t code, std::string_view reason) noexcept;

  /// Runs timers: reconnect delay, connect timeout, heartbeat and dead
  /// connection detection, stable-connection backoff reset, queue expiry,
  /// paced sends. Call it every 100 ms or so.
  void tick(time_point t) noexcept;

  // ------------------------------------------------------------ typed API

  /// Remembers `room`; it is (re)joined on every connect, with since_seq
  /// and epoch once its history is known.
  void join(std::string room);

  /// Forgets `room` (its view and its unsent messages, dropped as
  /// `cancelled`) and leaves it on the server when connected.
  void leave(std::string room);

  /// Queues `text` for `room` and returns its client_msg_id. It is sent
  /// when connected (after the rooms were rejoined), shown meanwhile in
  /// `room_view::pending`, removed from the queue by `message_sent`, and
  /// resent with the same id after a reconnect, or after a pause when the
  /// server refused it with `rate_limited`, so the server stores it once;
  /// each resend counts toward `queue_settings::max_retries`. A full queue
  /// or an oversized text is reported through on_dropped (the id is still
  /// returned). An invalid room or a text that is empty, too long or not
  /// UTF-8 is refused: on_error (invalid_argument) and "" returned. An
  /// unusable id from `make_client_msg_id` is replaced by a random one: the
  /// message is queued with it (returned) and on_error says `bad_setting`.
  std::string send(std::string room, std::string text);

  /// typing_start / typing_stop. Dropped while not connected: a typing
  /// indicator delivered late is wrong, not late.
  void typing(std::string room, bool on);

  /// claim_session / release_session / close_session. Refused with
  /// on_error(not_connected) while not connected: whether a claim makes
  /// sense depends on the state the operator saw, which may be stale by
  /// the time a connection is back.
  void claim(std::string room) { session_action<client_events::claim_session>(std::move(room)); }
  void release(std::string room) {
    session_action<client_events::release_session>(std::move(room));
  }
  void close_session(std::string room) {
    session_action<client_events::close_session>(std::move(room));
  }

  /// Records the read position; sent now when connected, else after the
  /// room is rejoined (only the highest position is kept).
  void mark_read(std::string room, std::uint64_t seq);

  /// watch_inbox / unwatch_inbox; remembered and repeated on every connect.
  void watch_inbox(bool on);

  // ------------------------------------------------------------ local view

  /// The view of a remembered room, or null. Valid until leave(room).
  const room_view* room(std::string_view name) const {
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : &it->second.history.view();
  }

  /// Names of the remembered rooms, sorted.
  std::vector<std::string> rooms() const;

  /// The messages sent and not yet acknowledged, oldest first.
  const message_queue<clock_type>& queue() const noexcept { return queue_; }

  /// Who the server says we are (the last auth_success), if any.
  const std::optional<identity>& who() const noexcept { return identity_; }

  /// Users online (presence_update with presence_diff applied), by user id.
  std::vector<presence_entry> online() const;

  /// True when connected, every room's rejoin answered, and queued messages flowing.
  bool ready() const noexcept { return state_ == state::connected && ready_; }

  /// When the next connect attempt is due (state reconnecting).
  std::optional<time_point> next_attempt_at() const noexcept { return reconnect_at_; }

  const client::backoff& reconnect_backoff() const noexcept { return backoff_; }
  const session_settings& settings() const noexcept { return settings_; }

  /// Replaces the token used by the next `auth` (e.g. a refreshed JWT).
  void set_token(std::string token) { settings_.token = std::move(token); }

  // ------------------------------------------------------------ callbacks

  void set_on_state_change(std::function<void(state from, state to)> f) {
    on_state_change_ = std::move(f);
  }
  /// After every auth_success (each connect).
  void set_on_auth(std::function<void(const server_events::auth_success&)> f) {
    on_auth_ = std::move(f);
  }
  /// Once per seq per room, in seq order: live messages, messages recovered
  /// on resume, and own messages once confirmed. After on_history_reset the
  /// room's new lineage is delivered from its start again.
  void set_on_message(std::function<void(const message&)> f) { on_message_ = std::move(f); }
  /// The room's history lineage changed (`recovered: false`, a new epoch):
  /// the local history was dropped; the new one follows through on_message.
  void set_on_history_reset(std::function<void(const std::string& room)> f) {
    on_history_reset_ = std::move(f);
  }
  /// A queued message was confirmed (`duplicate`: the server already had
  /// it, e.g. its first acknowledgement was lost in a disconnect).
  void set_on_message_sent(
      std::function<void(const std::string& client_msg_id, const message&, bool duplicate)> f) {
    on_message_sent_ = std::move(f);
  }
  /// Every conversation_update, after its messages went through on_message.
  void set_on_conversation(std::function<void(const server_events::conversation_update&)> f) {
    on_conversation_ = std::move(f);
  }
  void set_on_typing(std::function<void(const server_events::typing&)> f) {
    on_typing_ = std::move(f);
  }
  /// The online list after each presence_update or presence_diff.
  void set_on_presence(std::function<void(const std::vector<presence_entry>& online)> f) {
    on_presence_ = std::move(f);
  }
  /// A room's session changed (claim, release, close, or a newer version
  /// seen in conversation_update / conversation_activity).
  void set_on_session(std::function<void(const std::string& room, const session_state&)> f) {
    on_session_ = std::move(f);
  }
  void set_on_read_receipt(std::function<void(const server_events::read_receipt&)> f) {
    on_read_receipt_ = std::move(f);
  }
  /// A file attachment became `ready` or `failed` (the room's copy of the
  /// message in `room()` is updated first).
  void set_on_attachment_updated(std::function<void(const server_events::attachment_updated&)> f) {
    on_attachment_updated_ = std::move(f);
  }
  void set_on_operator_joined(std::function<void(const server_events::operator_joined&)> f) {
    on_operator_joined_ = std::move(f);
  }
  void set_on_operator_left(std::function<void(const server_events::operator_left&)> f) {
    on_operator_left_ = std::move(f);
  }
  /// inbox_update (after watch_inbox, and on every reconnect while watching).
  void set_on_inbox(std::function<void(const server_events::inbox_update&)> f) {
    on_inbox_ = std::move(f);
  }
  void set_on_conversation_activity(
      std::function<void(const server_events::conversation_activity&)> f) {
    on_activity_ = std::move(f);
  }
  void set_on_error(std::function<void(const session_error&)> f) { on_error_ = std::move(f); }
  /// A queued message left the queue unsent or unconfirmed.
  void set_on_dropped(std::function<void(const queued_message&, drop_reason)> f) {
    on_dropped_ = std::move(f);
  }

 private:
  enum class link { none, opening, open, closing };
  enum class request_kind { auth, join, leave, send, watch, unwatch };

  /// What a frame with a `ref` asked, to tie its reply or error to it.
  struct request {
    request_kind kind = request_kind::auth;
    std::string room;
    std::string client_msg_id;
    bool initial = false;  // a rejoin the queue flush waits for
  };

  static request make_request(request_kind kind) {
    request r;
    r.kind = kind;
    return r;
  }

  struct room_state {
    room_state(std::string name, std::size_t max_history)
        : history(std::move(name), max_history) {}
    room_history history;       // the view, its history, the join in flight
    bool initial_join = false;  // that join is one the flush waits for
    std::optional<std::uint64_t> unsent_read;
  };

  /// A frame waiting for send tokens, or a queued message (by id) to send
  /// then: encoding late means a message dropped meanwhile is skipped.
  struct outgoing {
    std::string frame;
    std::string client_msg_id;  // non-empty: a queued message
  };

  // plumbing (impl/session.hpp)
  time_point now() const;
  template <class F>
  void entry(F&& f) noexcept;
  void callback_failed(const char* what) noexcept;
  template <class F, class... Args>
  void notify(const F& f, Args&&... args) {
    callbacks_.notify(f, std::forward<Args>(args)...);
  }
  void report(session_error e);
  void report_local(error_kind kind, std::string message, std::string room = {});
  void report_noexcept(error_kind kind, const char* what) noexcept;
  void refuse(const char* request_type, const std::string& room, std::string message);
  bool valid_room(const std::string& room, const char* request_type);
  std::string fallback_id();
  void set_state(state to);
  room_state* find_room(std::string_view name);
  std::string new_ref(request r);
  std::optional<request> take_request(const std::optional<std::string>& ref);

  // connection (impl/session.hpp)
  void begin_connect(time_point n);
  void do_connect(time_point n);
  void close_link(std::uint16_t code, std::string_view reason);
  void fail_connection(std::uint16_t code, std::string_view reason);
  void lost(std::uint16_t code, std::string_view reason);
  void schedule_reconnect();
  void teardown();

  // sending (impl/session_send.hpp)
  void send_now(std::string frame);
  void enqueue_frame(std::string frame) { outbox_.push_back({std::move(frame), {}}); }
  void schedule(const std::string& client_msg_id);
  void pump();
  void resend_refused(request req);
  void reschedule_messages();
  void send_join(room_state& r, bool initial, bool fill = false);
  void request_fill(room_state& r);
  bool forget_room(const std::string& room, drop_reason why);
  void finish_join(room_state* r, const std::optional<request>& req);
  void join_answered();
  void become_ready();
  template <class Event>
  void session_action(std::string room);

  // queue (impl/session_send.hpp)
  void on_queue_drop(const queued_message& m, drop_reason why);
  bool remove_pending(std::string_view room, std::string_view client_msg_id);
  bool confirm(const std::string& client_msg_id, const std::string& room);

  // history and server events (impl/session_events.hpp)
  void applied(room_state& r, const message& m);
  void deliver_live(room_state& r, const message& m);
  void update_session(room_state& r, const session_state& s);

  void handle(server_events::auth_success& e, const std::optional<std::string>& ref);
  void handle(server_events::conversation_update& e, const std::optional<std::string>& ref);
  void handle(server_events::new_message& e, const std::optional<std::string>& ref);
  void handle(server_events::message_sent& e, const std::optional<std::string>& ref);
  void handle(server_events::error& e, const std::optional<std::string>& ref);
  void handle(server_events::presence_update& e, const std::optional<std::string>& ref);
  void handle(server_events::presence_diff& e, const std::optional<std::string>& ref);
  void handle(server_events::inbox_update& e, const std::optional<std::string>& ref);
  void handle(server_events::inbox_unwatched& e, const std::optional<std::string>& ref);
  void handle(server_events::room_left& e, const std::optional<std::string>& ref);
  void handle(server_events::pong& e, const std::optional<std::string>& ref);
  void handle(server_events::conversation_activity& e, const std::optional<std::string>& ref);
  void handle(server_events::typing& e, const std::optional<std::string>& ref);
  void handle(server_events::operator_joined& e, const std::optional<std::string>& ref);
  void handle(server_events::operator_left& e, const std::optional<std::string>& ref);
  void handle(server_events::session_claimed& e, const std::optional<std::string>& ref);
  void handle(server_events::session_released& e, const std::optional<std::string>& ref);
  void handle(server_events::session_closed& e, const std::optional<std::string>& ref);
  void handle(server_events::read_receipt& e, const std::optional<std::string>& ref);
  void handle(server_events::attachment_updated& e, const std::optional<std::string>& ref);
  template <class E>
  void handle_session_event(E& e);

  // ------------------------------------------------------------ members

  Transport& transport_;
  session_settings settings_;
  Clock clock_;
  client::backoff backoff_;
  message_queue<clock_type> queue_;

  state state_ = state::disconnected;
  link link_ = link::none;
  time_point last_tick_{};
  time_point attempt_started_{};
  time_point closing_since_{};
  std::optional<time_point> reconnect_at_;
  bool connect_when_closed_ = false;
  std::optional<time_point> connected_since_;
  std::chrono::milliseconds heartbeat_{25'000};
  time_point next_ping_{};
  unsigned unanswered_pings_ = 0;

  std::optional<identity> identity_;
  std::map<std::string, presence_entry, std::less<>> online_;
  std::map<std::string, room_state, std::less<>> rooms_;
  bool watch_inbox_ = false;

  bool ready_ = false;
  std::size_t awaiting_joins_ = 0;
  std::unordered_map<std::string, request> requests_;
  std::uint64_t ref_counter_ = 0;
  std::deque<outgoing> outbox_;
  std::unordered_set<std::string> scheduled_;  // queued messages waiting in outbox_
  std::unordered_set<std::string> in_flight_;  // queued messages sent on this connection
  detail::send_pacer pacer_;                   // the token bucket and the rate_limited pause
  bool pumping_ = false;

  detail::callback_queue callbacks_;

  std::function<void(state, state)> on_state_change_;
  std::function<void(const server_events::auth_success&)> on_auth_;
  std::function<void(const message&)> on_message_;
  std::function<void(const std::string&)> on_history_reset_;
  std::function<void(const std::string&, const message&, bool)> on_message_sent_;
  std::function<void(const server_events::conversation_update&)> on_conversation_;
  std::function<void(const server_events::typing&)> on_typing_;
  std::function<void(const std::vector<presence_entry>&)> on_presence_;
  std::function<void(const std::string&, const session_state&)> on_session_;
  std::function<void(const server_events::read_receipt&)> on_read_receipt_;
  std::function<void(const server_events::attachment_updated&)> on_attachment_updated_;
  std::function<void(const server_events::operator_joined&)> on_operator_joined_;
  std::function<void(const server_events::operator_left&)> on_operator_left_;
  std::function<void(const server_events::inbox_update&)> on_inbox_;
  std::function<void(const server_events::conversation_activity&)> on_activity_;
  std::function<void(const session_error&)> on_error_;
  std::function<void(const queued_message&, drop_reason)> on_dropped_;
};

}  // namespace livechat::client

#include <livechat/client/impl/session.hpp>
#include <livechat/client/impl/session_send.hpp>
#include <livechat/client/impl/session_events.hpp>

#endif
