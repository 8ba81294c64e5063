// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_SESSION_HPP
#define LIVECHAT_CLIENT_SESSION_HPP

// The reconnecting client: the protocol state machine of one client
// connection, transport-agnostic and clock-injected like server::hub. It
// authenticates on every connect, rejoins its rooms with since_seq + epoch,
// delivers every message exactly once in seq order, keeps a bounded queue
// of unacknowledged sends and resends them with their client_msg_id (the
// server's dedupe key), pings, and reconnects with jittered backoff.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/client/backoff.hpp>
#include <livechat/client/detail/ids.hpp>
#include <livechat/client/message_queue.hpp>
#include <livechat/clock.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/close_codes.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/model.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/protocol/server_codec.hpp>

namespace livechat::client {

// ------------------------------------------------------------------ transport

namespace detail {
template <class...>
using void_t = void;

template <class T, class = void>
struct is_client_transport_impl : std::false_type {};

template <class T>
struct is_client_transport_impl<
    T, void_t<decltype(std::declval<T&>().connect()),
              decltype(std::declval<T&>().send(std::declval<std::string>())),
              decltype(std::declval<T&>().close(std::declval<std::uint16_t>(),
                                                std::declval<std::string_view>()))>>
    : std::true_type {};
}  // namespace detail

/// True when T provides `connect()`, `send(std::string)` and
/// `close(std::uint16_t code, std::string_view reason)` (docs/concepts.md,
/// "Client transport").
template <class T>
inline constexpr bool is_client_transport_v = detail::is_client_transport_impl<T>::value;

/// Close codes the client uses (the server's are in protocol/close_codes.hpp).
namespace close_codes {
inline constexpr std::uint16_t normal = close_code::normal;  ///< stop()
inline constexpr std::uint16_t timeout = 4000;  ///< heartbeat or connect timeout (ours)
}  // namespace close_codes

// ------------------------------------------------------------------ settings

enum class state {
  disconnected,    ///< not started, stopped, auth refused, or gave up
  connecting,      ///< transport.connect() called, waiting for on_open
  authenticating,  ///< open, `auth` sent, waiting for auth_success
  connected,       ///< authenticated: rooms (re)joined, sends flow
  reconnecting,    ///< lost; waiting for the backoff delay before connecting again
};

inline const char* to_string(state s) noexcept {
  switch (s) {
    case state::disconnected: return "disconnected";
    case state::connecting: return "connecting";
    case state::authenticating: return "authenticating";
    case state::connected: return "connected";
    case state::reconnecting: return "reconnecting";
  }
  return "unknown";
}

struct session_settings {
  std::string token;  ///< sent in `auth` on every connect
  backoff_settings backoff{};
  queue_settings queue{};
  /// connecting + authenticating longer than this → transport.close + reconnect.
  std::chrono::milliseconds connect_timeout{10'000};
  /// The ping interval until auth_success announces heartbeat_interval_ms.
  std::chrono::milliseconds default_heartbeat{25'000};
  /// This many pings in a row without any frame back → the connection is dead.
  unsigned missed_pongs_before_dead = 2;
  /// Default: 32 random hex digits (128 bits). Must give 1–64 characters.
  std::function<std::string()> make_client_msg_id;
  /// Client-side pacing of outgoing frames (a token bucket), kept below the
  /// server's default limit (40, refilled at 20/s) with room for pings: a
  /// reconnect that flushes 100 queued messages and rejoins many rooms
  /// should not run into `rate_limited` at all.
  double send_burst = 30.0;
  double send_per_second = 15.0;
  /// After a `rate_limited`, nothing is sent for this long (the server's
  /// bucket refills meanwhile) and the pace above is halved for the rest
  /// of the connection (never below 1 frame/s, burst 1), so a server with
  /// a lower limit than the pace is matched after a few refusals instead of
  /// closing the connection (1008) for too many of them. The refused frame
  /// is sent again if it had a `ref` (see `send`).
  std::chrono::milliseconds rate_limited_pause{1000};
  /// Confirmed messages kept per room in `room_view::messages` (the oldest go first).
  std::size_t max_history = 1000;
};

/// What went wrong, for on_error.
enum class error_kind {
  server,               ///< an `error` event from the server (`code`, `field`, `request_type`)
  malformed_frame,      ///< a server frame that could not be decoded; it was ignored
  callback,             ///< a user callback threw; the exception was caught
  transport,            ///< the transport threw from connect/send/close
  invalid_argument,     ///< a call was refused locally (bad room name, empty text …)
  not_connected,        ///< an action that cannot wait for a connection was refused
  connect_timeout,      ///< connecting/authenticating took longer than connect_timeout
  heartbeat_timeout,    ///< pings went unanswered: the connection was declared dead
  auth_failed,          ///< the token was refused (close 4003): no more reconnects
  reconnect_exhausted,  ///< backoff max_attempts reached: no more reconnects
  /// A `session_settings` function gave an unusable value and a safe one was
  /// used instead; the call went through (make_client_msg_id → a random id).
  bad_setting,
  internal,             ///< an unexpected exception inside the session, caught
};

inline const char* to_string(error_kind k) noexcept {
  switch (k) {
    case error_kind::server: return "server";
    case error_kind::malformed_frame: return "malformed_frame";
    case error_kind::callback: return "callback";
    case error_kind::transport: return "transport";
    case error_kind::invalid_argument: return "invalid_argument";
    case error_kind::not_connected: return "not_connected";
    case error_kind::connect_timeout: return "connect_timeout";
    case error_kind::heartbeat_timeout: return "heartbeat_timeout";
    case error_kind::auth_failed: return "auth_failed";
    case error_kind::reconnect_exhausted: return "reconnect_exhausted";
    case error_kind::bad_setting: return "bad_setting";
    case error_kind::internal: return "internal";
  }
  return "unknown";
}

struct session_error {
  error_kind kind = error_kind::server;
  errc code = errc::internal;  ///< the server's code (kind server), else the closest errc
  std::string message;
  /// Server errors: the `type` that failed; malformed frames: their `type`.
  std::optional<std::string> request_type;
  std::optional<std::string> field;  ///< server errors: the offending field
  std::string room;                  ///< when the failed request named one
};

/// A message sent but not yet confirmed, shown optimistically in its room.
struct pending_message {
  std::string client_msg_id;
  std::string text;
  time_point enqueued_at{};
};

/// What the session knows about one room.
struct room_view {
  std::string name;
  std::string epoch;  ///< the history lineage; empty until the first conversation_update
  std::uint64_t last_seq = 0;            ///< the newest seq applied (given to on_message)
  std::vector<message> messages;         ///< confirmed, seq order, no duplicates (last max_history)
  std::vector<pending_message> pending;  ///< optimistic entries, in send order
  std::optional<session_state> session;  ///< the highest version seen
  std::vector<user_ref> members;         ///< `members`, then operator_joined / operator_left
  bool loaded = false;                   ///< a conversation_update was applied at least once
};

// ------------------------------------------------------------------ session

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
  session(Transport& t, session_settings s, Clock clock = {}, backoff::random_source r = {})
      : transport_(t),
        settings_(std::move(s)),
        clock_(std::forward<Clock>(clock)),
        backoff_(settings_.backoff, std::move(r)),
        queue_(settings_.queue) {
    if (!settings_.make_client_msg_id) settings_.make_client_msg_id = detail::random_id_generator();
    queue_.set_drop_handler(
        [this](const queued_message& m, drop_reason why) { on_queue_drop(m, why); });
    pace_burst_ = settings_.send_burst;
    pace_per_second_ = settings_.send_per_second;
    tokens_ = pace_burst_;
  }

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // ------------------------------------------------------------ lifecycle

  /// disconnected → connecting (calls transport.connect()). No-op otherwise.
  void start() {
    entry([&] {
      if (state_ != state::disconnected) return;
      backoff_.reset();
      begin_connect(now());
    });
  }

  /// → disconnected: closes with 1000, no more reconnects. Rooms, the
  /// queue and the views are kept; start() connects again.
  void stop() {
    entry([&] {
      if (state_ == state::disconnected) return;
      reconnect_at_.reset();
      connect_when_closed_ = false;
      if (link_ == link::opening || link_ == link::open) {
        teardown();
        close_link(close_codes::normal, "client stop");
      } else {
        teardown();
      }
      set_state(state::disconnected);
    });
  }

  state current_state() const noexcept { return state_; }

  // ------------------------------------------------------------ transport events

  /// The transport connected: connecting → authenticating (sends `auth`).
  void on_open() noexcept {
    entry([&] {
      if (link_ != link::opening) return;  // a late open of an attempt we gave up on
      link_ = link::open;
      // A new connection starts with a full bucket on the server: the pace
      // learnt from refusals on the last one starts over too.
      pace_burst_ = settings_.send_burst;
      pace_per_second_ = settings_.send_per_second;
      tokens_ = pace_burst_;
      refill_at_ = now();
      paused_until_.reset();
      set_state(state::authenticating);
      send_now(encode_client_event(client_events::auth{settings_.token},
                                   new_ref(make_request(request_kind::auth))));
    });
  }

  /// One text frame from the server.
  void on_message(std::string_view frame) noexcept {
    entry([&] {
      if (link_ != link::open) return;
      unanswered_pings_ = 0;  // any frame proves the connection alive
      decoded_server_frame d = decode_server_frame(frame);
      if (!d.ok()) {
        // A type from a newer server is not an error: unknown events are ignored.
        if (!d.kind && d.error->code == errc::unknown_type) return;
        session_error e;
        e.kind = error_kind::malformed_frame;
        e.code = d.error->code;
        e.message = "malformed server frame (" + d.error->message + ")";
        if (!d.type.empty()) e.request_type = d.type;
        if (!d.error->field.empty()) e.field = d.error->field;
        report(std::move(e));
        return;
      }
      std::visit([&](auto& ev) { handle(ev, d.ref); }, d.event);
      pump();
    });
  }

  /// The connection closed or the connect attempt failed. Also expected
  /// after every transport.close() the session made.
  void on_close(std::uint16_t code, std::string_view reason) noexcept {
    entry([&] {
      const link prev = link_;
      link_ = link::none;
      if (prev == link::closing) {  // the close we asked for
        if (connect_when_closed_ && state_ == state::connecting) {
          connect_when_closed_ = false;
          do_connect(now());
        }
        return;
      }
      if (prev == link::none) return;  // nothing of ours was open
      lost(code, reason);
    });
  }

  /// Runs timers: reconnect delay, connect timeout, heartbeat and dead
  /// connection detection, stable-connection backoff reset, queue expiry,
  /// paced sends. Call it every 100 ms or so.
  void tick(time_point t) noexcept {
    entry([&] {
      if (t > last_tick_) last_tick_ = t;
      const time_point n = now();
      switch (state_) {
        case state::reconnecting:
          if (reconnect_at_ && n >= *reconnect_at_) {
            if (link_ == link::closing && n - closing_since_ < settings_.connect_timeout) break;
            link_ = link::none;  // the transport never confirmed the close: go on anyway
            reconnect_at_.reset();
            set_state(state::connecting);
            do_connect(n);
          }
          break;
        case state::connecting:
        case state::authenticating:
          if (n - attempt_started_ >= settings_.connect_timeout) {
            if (link_ == link::closing) {  // waited for an old close that never came
              link_ = link::none;
              connect_when_closed_ = false;
              do_connect(n);
              break;
            }
            report_local(
                error_kind::connect_timeout,
                "no connection after " + std::to_string(settings_.connect_timeout.count()) + " ms");
            fail_connection(close_codes::timeout, "connect timeout");
          }
          break;
        case state::connected:
          if (connected_since_ && backoff_.attempts() != 0 &&
              n - *connected_since_ >= settings_.backoff.stable_after)
            backoff_.reset();
          if (n >= next_ping_) {
            if (unanswered_pings_ >= settings_.missed_pongs_before_dead) {
              report_local(error_kind::heartbeat_timeout,
                           std::to_string(unanswered_pings_) + " pings without an answer");
              fail_connection(close_codes::timeout, "heartbeat timeout");
              break;
            }
            ++unanswered_pings_;
            next_ping_ = n + heartbeat_;
            send_now(encode_client_event(client_events::ping{}));
          }
          break;
        case state::disconnected: break;
      }
      queue_.expire(n);
      pump();
    });
  }

  // ------------------------------------------------------------ typed API

  /// Remembers `room`; it is (re)joined on every connect, with since_seq
  /// and epoch once its history is known.
  void join(std::string room) {
    entry([&] {
      if (!valid_room(room, "join_room")) return;
      auto [it, inserted] = rooms_.try_emplace(room);
      if (!inserted) return;
      it->second.view.name = room;
      if (state_ == state::connected) send_join(it->second, !ready_);
      pump();
    });
  }

  /// Forgets `room` (its view and its unsent messages, dropped as
  /// `cancelled`) and leaves it on the server when connected.
  void leave(std::string room) {
    entry([&] {
      if (!forget_room(room, drop_reason::cancelled)) return;
      if (state_ == state::connected) {
        request r = make_request(request_kind::leave);
        r.room = room;
        enqueue_frame(encode_client_event(client_events::leave_room{room}, new_ref(std::move(r))));
      }
      pump();
    });
  }

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
  std::string send(std::string room, std::string text) {
    std::string id;
    entry([&] {
      if (!valid_room(room, "send_message")) return;
      const std::string_view trimmed = livechat::detail::trim(text);
      const std::size_t length = livechat::detail::utf8_length(trimmed);
      // The server's limits (PROTOCOL.md): refused here, the message could
      // only fail later, after waiting in the queue.
      const codec_limits limits;
      if (!detail::is_valid_utf8(trimmed) || length == 0 || length > limits.max_text_length) {
        refuse("send_message", room, "text must be 1-5000 characters of UTF-8 after trimming");
        return;
      }
      id = settings_.make_client_msg_id();
      if (id.empty() || livechat::detail::utf8_length(id) > limits.max_client_msg_id_length ||
          !detail::is_valid_utf8(id)) {
        // Not a refusal: the message goes out under a random id.
        session_error e;
        e.kind = error_kind::bad_setting;
        e.code = errc::validation_error;
        e.message = "make_client_msg_id must give 1-64 characters of UTF-8; used a random id";
        e.request_type = "send_message";
        e.field = "client_msg_id";
        e.room = room;
        report(std::move(e));
        id = fallback_id();
      }
      queued_message m;
      m.room = room;
      m.text = std::string(trimmed);
      m.client_msg_id = id;
      const time_point n = now();
      if (!queue_.enqueue(m, n)) return;
      if (auto* r = find_room(room)) r->view.pending.push_back({id, m.text, n});
      if (state_ == state::connected && ready_) schedule(id);
      pump();
    });
    return id;
  }

  /// typing_start / typing_stop. Dropped while not connected: a typing
  /// indicator delivered late is wrong, not late.
  void typing(std::string room, bool on) {
    entry([&] {
      if (!valid_room(room, on ? "typing_start" : "typing_stop")) return;
      if (state_ != state::connected) return;
      if (on)
        enqueue_frame(encode_client_event(client_events::typing_start{room}));
      else
        enqueue_frame(encode_client_event(client_events::typing_stop{room}));
      pump();
    });
  }

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
  void mark_read(std::string room, std::uint64_t seq) {
    entry([&] {
      if (!valid_room(room, "mark_read")) return;
      room_state* r = find_room(room);
      if (r == nullptr) {
        if (state_ != state::connected) {
          report_local(error_kind::not_connected, "mark_read for a room not joined, while offline",
                       room);
          return;
        }
        enqueue_frame(encode_client_event(client_events::mark_read{room, seq}));
      } else if (state_ == state::connected) {
        r->unsent_read.reset();
        enqueue_frame(encode_client_event(client_events::mark_read{room, seq}));
      } else {
        r->unsent_read = std::max(r->unsent_read.value_or(0), seq);
      }
      pump();
    });
  }

  /// watch_inbox / unwatch_inbox; remembered and repeated on every connect.
  void watch_inbox(bool on) {
    entry([&] {
      const bool changed = watch_inbox_ != on;
      watch_inbox_ = on;
      if (!changed || state_ != state::connected) return;
      if (on)
        enqueue_frame(encode_client_event(client_events::watch_inbox{},
                                          new_ref(make_request(request_kind::watch))));
      else
        enqueue_frame(encode_client_event(client_events::unwatch_inbox{},
                                          new_ref(make_request(request_kind::unwatch))));
      pump();
    });
  }

  // ------------------------------------------------------------ local view

  /// The view of a remembered room, or null. Valid until leave(room).
  const room_view* room(std::string_view name) const {
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : &it->second.view;
  }

  /// Names of the remembered rooms, sorted.
  std::vector<std::string> rooms() const {
    std::vector<std::string> out;
    out.reserve(rooms_.size());
    for (const auto& [name, r] : rooms_) out.push_back(name);
    return out;
  }

  /// The messages sent and not yet acknowledged, oldest first.
  const message_queue<clock_type>& queue() const noexcept { return queue_; }

  /// Who the server says we are (the last auth_success), if any.
  const std::optional<identity>& who() const noexcept { return identity_; }

  /// Users online (presence_update with presence_diff applied), by user id.
  std::vector<presence_entry> online() const {
    std::vector<presence_entry> out;
    out.reserve(online_.size());
    for (const auto& [id, e] : online_) out.push_back(e);
    return out;
  }

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
    room_view view;
    bool join_outstanding = false;  // a join_room of this connection awaits its answer
    bool initial_join = false;      // ... and it is one the flush waits for
    bool filling = false;           // that join fills a gap
    std::optional<std::uint64_t> unsent_read;
  };

  /// A frame waiting for send tokens, or a queued message (by id) to send
  /// then: encoding late means a message dropped meanwhile is skipped.
  struct outgoing {
    std::string frame;
    std::string client_msg_id;  // non-empty: a queued message
  };

  // ------------------------------------------------------------ plumbing

  time_point now() const {
    const time_point c = clock_.now();
    return c > last_tick_ ? c : last_tick_;
  }

  /// Runs `f`, catching everything, then delivers the callbacks it queued.
  template <class F>
  void entry(F&& f) noexcept {
    ++depth_;
    try {
      f();
    } catch (const std::exception& e) {
      report_noexcept(error_kind::internal, e.what());
    } catch (...) {
      report_noexcept(error_kind::internal, "unknown exception");
    }
    --depth_;
    if (depth_ == 0) drain();
  }

  /// Callbacks run here, outside any state update, one at a time: a
  /// callback that calls back into the session queues its own callbacks
  /// behind the current ones instead of nesting.
  void drain() noexcept {
    if (draining_) return;
    draining_ = true;
    while (!notes_.empty()) {
      std::function<void()> note = std::move(notes_.front());
      notes_.pop_front();
      try {
        note();
      } catch (const std::exception& e) {
        callback_failed(e.what());
      } catch (...) {
        callback_failed("unknown exception");
      }
    }
    draining_ = false;
  }

  void callback_failed(const char* what) noexcept {
    if (!on_error_) return;
    try {
      session_error e;
      e.kind = error_kind::callback;
      e.message = std::string("a callback threw: ") + what;
      on_error_(e);
    } catch (...) {
    }
  }

  /// Queues a call of callback member `f` with copies of `args`.
  template <class F, class... Args>
  void notify(const F& f, Args&&... args) {
    if (!f) return;
    notes_.push_back([&f, args...] {
      if (f) f(args...);  // it may have been cleared by an earlier callback
    });
  }

  void report(session_error e) {
    if (!on_error_) return;
    notes_.push_back([this, e = std::move(e)] {
      if (on_error_) on_error_(e);
    });
  }

  void report_local(error_kind kind, std::string message, std::string room = {}) {
    session_error e;
    e.kind = kind;
    e.message = std::move(message);
    e.room = std::move(room);
    switch (kind) {
      case error_kind::malformed_frame: e.code = errc::invalid_json; break;
      case error_kind::invalid_argument: e.code = errc::validation_error; break;
      case error_kind::auth_failed: e.code = errc::auth_failed; break;
      default: e.code = errc::internal; break;
    }
    report(std::move(e));
  }

  void report_noexcept(error_kind kind, const char* what) noexcept {
    try {
      report_local(kind, what);
    } catch (...) {
    }
  }

  void refuse(const char* request_type, const std::string& room, std::string message) {
    session_error e;
    e.kind = error_kind::invalid_argument;
    e.code = errc::validation_error;
    e.message = std::move(message);
    e.request_type = request_type;
    e.room = room;
    report(std::move(e));
  }

  bool valid_room(const std::string& room, const char* request_type) {
    if (is_valid_room(room)) return true;
    refuse(request_type, room,
           "room must be conversation:{id} with id matching [A-Za-z0-9_.@:-]{1,128}");
    return false;
  }

  std::string fallback_id() {
    static thread_local std::function<std::string()> gen = detail::random_id_generator();
    return gen();
  }

  void set_state(state to) {
    if (to == state_) return;
    const state from = state_;
    state_ = to;
    notify(on_state_change_, from, to);
  }

  room_state* find_room(std::string_view name) {
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : &it->second;
  }

  std::string new_ref(request r) {
    std::string ref = "r" + std::to_string(++ref_counter_);
    requests_.emplace(ref, std::move(r));
    return ref;
  }

  std::optional<request> take_request(const std::optional<std::string>& ref) {
    if (!ref) return std::nullopt;
    auto it = requests_.find(*ref);
    if (it == requests_.end()) return std::nullopt;
    request r = std::move(it->second);
    requests_.erase(it);
    return r;
  }

  // ------------------------------------------------------------ connection

  void begin_connect(time_point n) {
    set_state(state::connecting);
    attempt_started_ = n;
    if (link_ == link::closing) {  // one connection at a time: wait for the old close
      connect_when_closed_ = true;
      return;
    }
    do_connect(n);
  }

  void do_connect(time_point n) {
    attempt_started_ = n;
    link_ = link::opening;
    try {
      transport_.connect();  // may call on_open / on_close before returning
    } catch (const std::exception& e) {
      report_local(error_kind::transport, std::string("connect failed: ") + e.what());
      if (link_ == link::opening) {
        link_ = link::none;
        lost(0, "connect failed");
      }
    }
  }

  void close_link(std::uint16_t code, std::string_view reason) {
    link_ = link::closing;
    closing_since_ = now();
    try {
      transport_.close(code, reason);  // may call on_close before returning
    } catch (const std::exception& e) {
      report_local(error_kind::transport, std::string("close failed: ") + e.what());
    }
  }

  /// We give up on the current connection (timeout, dead, send failure).
  void fail_connection(std::uint16_t code, std::string_view reason) {
    teardown();
    close_link(code, reason);
    schedule_reconnect();
  }

  /// The transport lost the connection, or the attempt failed.
  void lost(std::uint16_t code, std::string_view reason) {
    teardown();
    if (state_ == state::disconnected) return;
    if (code == close_code::auth_failed) {
      reconnect_at_.reset();
      set_state(state::disconnected);
      report_local(error_kind::auth_failed,
                   "the server refused the token (" + std::string(reason) + "); not reconnecting");
      return;
    }
    schedule_reconnect();
  }

  void schedule_reconnect() {
    const time_point n = now();
    if (connected_since_ && n - *connected_since_ >= settings_.backoff.stable_after)
      backoff_.reset();
    connected_since_.reset();
    const auto delay = backoff_.next_delay();
    if (!delay) {
      reconnect_at_.reset();
      set_state(state::disconnected);
      report_local(error_kind::reconnect_exhausted,
                   "gave up after " + std::to_string(backoff_.attempts()) + " reconnect attempts");
      return;
    }
    reconnect_at_ = n + *delay;
    set_state(state::reconnecting);
  }

  /// Forgets everything that belonged to the connection that just ended.
  /// Messages that were on the wire stay queued with one more retry.
  void teardown() {
    ready_ = false;
    paused_until_.reset();
    awaiting_joins_ = 0;
    outbox_.clear();
    requests_.clear();
    scheduled_.clear();
    unanswered_pings_ = 0;
    for (auto& [name, r] : rooms_) {
      r.join_outstanding = false;
      r.initial_join = false;
      r.filling = false;
    }
    // In queue order, so that drops are reported oldest first.
    std::vector<std::string> retried;
    for (const auto& m : queue_.pending())
      if (in_flight_.count(m.client_msg_id) != 0) retried.push_back(m.client_msg_id);
    in_flight_.clear();
    for (const auto& id : retried) queue_.retry(id);
  }

  // ------------------------------------------------------------ sending

  void send_now(std::string frame) {
    refill();
    tokens_ -= 1.0;
    try {
      transport_.send(std::move(frame));
    } catch (const std::exception& e) {
      report_local(error_kind::transport, std::string("send failed: ") + e.what());
      if (link_ == link::open) fail_connection(close_codes::timeout, "send failed");
    }
  }

  void enqueue_frame(std::string frame) { outbox_.push_back({std::move(frame), {}}); }

  void schedule(const std::string& client_msg_id) {
    if (scheduled_.count(client_msg_id) != 0 || in_flight_.count(client_msg_id) != 0) return;
    scheduled_.insert(client_msg_id);
    outbox_.push_back({{}, client_msg_id});
  }

  void refill() {
    const time_point n = now();
    if (n > refill_at_) {
      const double dt = std::chrono::duration<double>(n - refill_at_).count();
      tokens_ = std::min(pace_burst_, tokens_ + dt * pace_per_second_);
      refill_at_ = n;
    }
  }

  /// Sends what the token bucket allows, in order; nothing while paused
  /// after a `rate_limited`.
  void pump() {
    if (pumping_ || link_ != link::open) return;
    if (paused_until_) {
      if (now() < *paused_until_) return;
      paused_until_.reset();
    }
    pumping_ = true;
    refill();
    while (!outbox_.empty() && link_ == link::open && tokens_ >= 1.0) {
      outgoing o = std::move(outbox_.front());
      outbox_.pop_front();
      if (!o.client_msg_id.empty()) {
        scheduled_.erase(o.client_msg_id);
        const queued_message* m = queue_.find(o.client_msg_id);
        if (m == nullptr) continue;  // acknowledged, expired or dropped meanwhile
        in_flight_.insert(m->client_msg_id);
        request r = make_request(request_kind::send);
        r.room = m->room;
        r.client_msg_id = m->client_msg_id;
        o.frame = encode_client_event(
            client_events::send_message{m->room, m->text, m->client_msg_id}, new_ref(std::move(r)));
      }
      send_now(std::move(o.frame));
    }
    pumping_ = false;
  }

  /// The server refused a frame (`rate_limited`): it emptied its bucket.
  /// Pause, then go on at half the pace. Refusals that arrive during the
  /// pause answer frames sent before it, so they do not slow down again.
  void slow_down() {
    const time_point n = now();
    if (paused_until_ && n < *paused_until_) return;
    pace_per_second_ = std::max(1.0, pace_per_second_ / 2);
    pace_burst_ = std::max(1.0, pace_burst_ / 2);
    paused_until_ = n + settings_.rate_limited_pause;
    tokens_ = 1.0;  // the first frame goes out as the pause ends
    refill_at_ = *paused_until_;
  }

  /// Sends again, after the pause, the request a `rate_limited` named by its
  /// `ref`. A message keeps its client_msg_id and counts one retry (the
  /// queue drops it beyond max_retries); it goes out before the messages
  /// queued after it, although one of those that the server accepted
  /// meanwhile stays ahead of it (seq tells the order).
  void resend_refused(request req) {
    switch (req.kind) {
      case request_kind::send:
        in_flight_.erase(req.client_msg_id);
        if (queue_.retry(req.client_msg_id)) reschedule_messages();
        break;
      case request_kind::auth:
        if (state_ == state::authenticating)
          enqueue_frame(encode_client_event(client_events::auth{settings_.token}, new_ref(std::move(req))));
        break;
      case request_kind::join: {
        room_state* r = find_room(req.room);
        if (r == nullptr || !r->join_outstanding) break;  // left meanwhile
        enqueue_frame(encode_client_event(join_event(*r), new_ref(std::move(req))));
        break;
      }
      case request_kind::leave: {
        client_events::leave_room l{req.room};
        enqueue_frame(encode_client_event(l, new_ref(std::move(req))));
        break;
      }
      case request_kind::watch:
      case request_kind::unwatch:
        if ((req.kind == request_kind::watch) != watch_inbox_) break;  // changed mind since
        if (watch_inbox_)
          enqueue_frame(encode_client_event(client_events::watch_inbox{}, new_ref(std::move(req))));
        else
          enqueue_frame(encode_client_event(client_events::unwatch_inbox{}, new_ref(std::move(req))));
        break;
    }
  }

  /// Puts every queued message that is not on the wire back in the outbox
  /// in queue order, behind the other frames waiting there.
  void reschedule_messages() {
    if (!ready_) return;  // become_ready() schedules them all
    std::deque<outgoing> frames;
    for (auto& o : outbox_)
      if (o.client_msg_id.empty()) frames.push_back(std::move(o));
    outbox_ = std::move(frames);
    scheduled_.clear();
    for (const auto& m : queue_.pending()) schedule(m.client_msg_id);  // skips those in flight
  }

  client_events::join_room join_event(const room_state& r) const {
    client_events::join_room j{r.view.name, std::nullopt, std::nullopt};
    if (r.view.loaded) {
      j.since_seq = r.view.last_seq;
      j.epoch = r.view.epoch;
    }
    return j;
  }

  void send_join(room_state& r, bool initial) {
    client_events::join_room j = join_event(r);
    request q = make_request(request_kind::join);
    q.room = r.view.name;
    q.initial = initial;
    r.join_outstanding = true;
    r.initial_join = initial;
    if (initial) ++awaiting_joins_;
    enqueue_frame(encode_client_event(j, new_ref(std::move(q))));
  }

  /// Forgets a remembered room, dropping its queued messages with `why`.
  bool forget_room(const std::string& room, drop_reason why) {
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return false;
    if (it->second.join_outstanding && it->second.initial_join) join_answered();
    rooms_.erase(it);
    std::vector<std::string> ids;
    for (const auto& m : queue_.pending())
      if (m.room == room) ids.push_back(m.client_msg_id);
    for (const auto& id : ids) queue_.drop(id, why);
    return true;
  }

  /// The join of `r` was answered (conversation_update or error).
  void finish_join(room_state* r, const std::optional<request>& req) {
    if (r == nullptr || !req || req->kind != request_kind::join || !r->join_outstanding) return;
    r->join_outstanding = false;
    r->filling = false;
    if (req->initial && r->initial_join) {
      r->initial_join = false;
      join_answered();
    }
  }

  /// A rejoin of this connection was answered (or abandoned).
  void join_answered() {
    if (awaiting_joins_ > 0 && --awaiting_joins_ == 0 && state_ == state::connected) become_ready();
  }

  /// Every room is rejoined: the queued messages go out, oldest first.
  void become_ready() {
    ready_ = true;
    for (const auto& m : queue_.pending()) schedule(m.client_msg_id);
  }

  template <class Event>
  void session_action(std::string room) {
    entry([&] {
      if (!valid_room(room, Event::type_name.data())) return;
      if (state_ != state::connected) {
        session_error e;
        e.kind = error_kind::not_connected;
        e.message = std::string(Event::type_name) + " needs a connection";
        e.request_type = std::string(Event::type_name);
        e.room = room;
        report(std::move(e));
        return;
      }
      enqueue_frame(encode_client_event(Event{room}));
      pump();
    });
  }

  // ------------------------------------------------------------ queue

  void on_queue_drop(const queued_message& m, drop_reason why) {
    in_flight_.erase(m.client_msg_id);
    scheduled_.erase(m.client_msg_id);
    remove_pending(m.room, m.client_msg_id);
    if (on_dropped_)
      notes_.push_back([this, m, why] {
        if (on_dropped_) on_dropped_(m, why);
      });
  }

  bool remove_pending(std::string_view room, std::string_view client_msg_id) {
    room_state* r = find_room(room);
    if (r == nullptr) return false;
    auto& p = r->view.pending;
    auto it = std::find_if(p.begin(), p.end(), [&](const pending_message& x) {
      return x.client_msg_id == client_msg_id;
    });
    if (it == p.end()) return false;
    p.erase(it);
    return true;
  }

  /// The message is stored: take it out of the queue and the optimistic
  /// list. True when it was still ours to confirm.
  bool confirm(const std::string& client_msg_id, const std::string& room) {
    in_flight_.erase(client_msg_id);
    scheduled_.erase(client_msg_id);
    const bool queued = queue_.remove(client_msg_id);
    const bool shown = remove_pending(room, client_msg_id);
    return queued || shown;
  }

  // ------------------------------------------------------------ history

  /// Applies `m` as the room's next message and delivers it.
  void apply(room_state& r, const message& m) {
    r.view.last_seq = m.seq;
    r.view.messages.push_back(m);
    if (r.view.messages.size() > settings_.max_history) {
      const auto excess =
          static_cast<std::ptrdiff_t>(r.view.messages.size() - settings_.max_history);
      r.view.messages.erase(r.view.messages.begin(), r.view.messages.begin() + excess);
    }
    // Our own message, seen in history before its acknowledgement (which a
    // disconnect may have swallowed): it is stored, so no resend is needed.
    if (!m.client_msg_id.empty() && identity_ && m.sender.type == sender_type::operator_ &&
        m.sender.id == identity_->user_id && confirm(m.client_msg_id, r.view.name))
      notify(on_message_sent_, m.client_msg_id, m, true);
    notify(on_message_, m);
  }

  /// A live message (new_message, message_sent): delivered if it is the
  /// next one, ignored if already seen, and a gap is filled by rejoining.
  void deliver_live(room_state& r, const message& m) {
    if (!r.view.loaded || m.seq <= r.view.last_seq) return;  // before the first snapshot, or seen
    if (m.seq == r.view.last_seq + 1) {
      apply(r, m);
      return;
    }
    if (!r.filling) request_fill(r);  // the fill's conversation_update will contain m
  }

  void request_fill(room_state& r) {
    if (state_ != state::connected || r.join_outstanding) return;
    r.filling = true;
    send_join(r, false);
  }

  void update_session(room_state& r, const session_state& s) {
    if (r.view.session && r.view.session->version >= s.version) {
      if (r.view.session->version > s.version) return;
      // Same version: nothing new to report.
      r.view.session = s;
      return;
    }
    r.view.session = s;
    notify(on_session_, r.view.name, s);
  }

  // ------------------------------------------------------------ server events

  void handle(server_events::auth_success& e, const std::optional<std::string>& ref) {
    take_request(ref);
    if (state_ != state::authenticating) return;
    const time_point n = now();
    identity_ = e.identity;
    heartbeat_ = e.heartbeat_interval_ms > 0 ? std::chrono::milliseconds(e.heartbeat_interval_ms)
                                             : settings_.default_heartbeat;
    connected_since_ = n;
    next_ping_ = n + heartbeat_;
    unanswered_pings_ = 0;
    set_state(state::connected);
    notify(on_auth_, e);
    if (watch_inbox_)
      enqueue_frame(encode_client_event(client_events::watch_inbox{},
                                        new_ref(make_request(request_kind::watch))));
    for (auto& [name, r] : rooms_) send_join(r, true);
    for (auto& [name, r] : rooms_)
      if (r.unsent_read) {
        enqueue_frame(encode_client_event(client_events::mark_read{name, *r.unsent_read}));
        r.unsent_read.reset();
      }
    if (awaiting_joins_ == 0) become_ready();
  }

  void handle(server_events::conversation_update& e, const std::optional<std::string>& ref) {
    const std::optional<request> req = take_request(ref);
    room_state* r = find_room(e.room);
    const bool was_fill = r != nullptr && r->filling && req && req->kind == request_kind::join;
    finish_join(r, req);
    if (r != nullptr) {
      room_view& v = r->view;
      const std::uint64_t before = v.last_seq;
      v.members = e.members;
      update_session(*r, e.session);
      // The lineage is kept when the epoch is the same and the server has
      // at least what we have; then the reply continues our copy.
      const bool kept = v.loaded && e.epoch == v.epoch && e.last_seq >= v.last_seq;
      if (!kept) {
        const bool had_history = v.loaded;
        v.epoch = e.epoch;
        v.messages.clear();
        v.last_seq = 0;
        v.loaded = true;
        if (had_history) notify(on_history_reset_, v.name);
        // A snapshot (the latest page) starts anywhere; take it in order.
        for (const auto& m : e.messages)
          if (m.seq > v.last_seq) apply(*r, m);
        if (e.messages.empty()) v.last_seq = e.last_seq;
      } else {
        for (const auto& m : e.messages) {
          if (m.seq <= v.last_seq) continue;
          if (m.seq != v.last_seq + 1) break;  // a hole: the fill below asks again
          apply(*r, m);
        }
      }
      // More than one reply holds (has_more), or a hole: ask from where we
      // are, unless a fill just brought nothing (asking again would loop).
      if (v.last_seq < e.last_seq && !r->join_outstanding && !(was_fill && v.last_seq == before))
        request_fill(*r);
    }
    notify(on_conversation_, e);
  }

  void handle(server_events::new_message& e, const std::optional<std::string>&) {
    if (room_state* r = find_room(e.message.room)) deliver_live(*r, e.message);
  }

  void handle(server_events::message_sent& e, const std::optional<std::string>& ref) {
    const std::optional<request> req = take_request(ref);
    std::string id = e.client_msg_id.value_or(req ? req->client_msg_id : std::string());
    const bool ours = !id.empty() && confirm(id, e.message.room);
    if (room_state* r = find_room(e.message.room)) deliver_live(*r, e.message);
    if (ours) notify(on_message_sent_, id, e.message, e.duplicate);
  }

  void handle(server_events::error& e, const std::optional<std::string>& ref) {
    const std::optional<request> req = take_request(ref);
    session_error err;
    err.kind = error_kind::server;
    err.code = e.code;
    err.message = e.message;
    err.request_type = e.request_type;
    err.field = e.field;
    if (req) err.room = req->room;
    report(std::move(err));
    if (e.code == errc::rate_limited) {
      // The frame was not processed. One with a ref (send, join, leave,
      // inbox, auth) is sent again after the pause; typing, mark_read and
      // the session actions carry none and are not: a late typing
      // indicator is wrong, the next mark_read supersedes this one, and a
      // claim is the operator's decision to repeat (on_error tells them).
      slow_down();
      if (req) resend_refused(std::move(*req));
      return;
    }
    if (!req) return;
    switch (req->kind) {
      case request_kind::auth:
        // The token (or the auth frame) was refused: retrying cannot help.
        if (state_ == state::authenticating) {
          teardown();
          close_link(close_codes::normal, "auth refused");
          reconnect_at_.reset();
          set_state(state::disconnected);
          report_local(error_kind::auth_failed, "the server refused the token; not reconnecting");
        }
        break;
      case request_kind::join: {
        room_state* r = find_room(req->room);
        finish_join(r, req);
        // internal: a store hiccup, worth another try on the next connect.
        // Anything else (bad name, too many rooms) will not change: forget
        // the room rather than fail the same way on every reconnect.
        if (r != nullptr && e.code != errc::internal) forget_room(req->room, drop_reason::rejected);
        break;
      }
      case request_kind::send:
        in_flight_.erase(req->client_msg_id);
        if (e.code == errc::internal) {
          // Not stored; try again (counted, so a failing store ends it).
          if (queue_.retry(req->client_msg_id)) schedule(req->client_msg_id);
        } else {
          queue_.drop(req->client_msg_id, drop_reason::rejected);
        }
        break;
      case request_kind::leave:
      case request_kind::watch:
      case request_kind::unwatch: break;
    }
  }

  void handle(server_events::presence_update& e, const std::optional<std::string>&) {
    online_.clear();
    for (auto& p : e.online) online_[p.user_id] = p;
    notify(on_presence_, online());
  }

  void handle(server_events::presence_diff& e, const std::optional<std::string>&) {
    for (const auto& id : e.offline) online_.erase(id);
    for (auto& p : e.online) online_[p.user_id] = p;
    notify(on_presence_, online());
  }

  void handle(server_events::inbox_update& e, const std::optional<std::string>& ref) {
    take_request(ref);
    online_.clear();
    for (auto& p : e.online) online_[p.user_id] = p;
    for (const auto& c : e.conversations)
      if (room_state* r = find_room(c.room)) update_session(*r, c.session);
    notify(on_inbox_, e);
    notify(on_presence_, online());
  }

  void handle(server_events::inbox_unwatched&, const std::optional<std::string>& ref) {
    take_request(ref);
  }
  void handle(server_events::room_left&, const std::optional<std::string>& ref) {
    take_request(ref);
  }
  void handle(server_events::pong&, const std::optional<std::string>& ref) { take_request(ref); }

  void handle(server_events::conversation_activity& e, const std::optional<std::string>&) {
    if (room_state* r = find_room(e.room)) update_session(*r, e.session);
    notify(on_activity_, e);
  }

  void handle(server_events::typing& e, const std::optional<std::string>&) {
    notify(on_typing_, e);
  }

  void handle(server_events::operator_joined& e, const std::optional<std::string>&) {
    if (room_state* r = find_room(e.room)) {
      auto& ms = r->view.members;
      auto it = std::find_if(ms.begin(), ms.end(),
                             [&](const user_ref& u) { return u.user_id == e.user_id; });
      if (it == ms.end())
        ms.insert(std::upper_bound(
                      ms.begin(), ms.end(), e.user_id,
                      [](const std::string& id, const user_ref& u) { return id < u.user_id; }),
                  user_ref{e.user_id, e.name});
    }
    notify(on_operator_joined_, e);
  }

  void handle(server_events::operator_left& e, const std::optional<std::string>&) {
    if (room_state* r = find_room(e.room)) {
      auto& ms = r->view.members;
      ms.erase(std::remove_if(ms.begin(), ms.end(),
                              [&](const user_ref& u) { return u.user_id == e.user_id; }),
               ms.end());
    }
    notify(on_operator_left_, e);
  }

  template <class E>
  void handle_session_event(E& e) {
    if (room_state* r = find_room(e.room)) {
      update_session(*r, e.session);
    } else {
      notify(on_session_, e.room, e.session);  // a watched room we did not join
    }
  }
  void handle(server_events::session_claimed& e, const std::optional<std::string>&) {
    handle_session_event(e);
  }
  void handle(server_events::session_released& e, const std::optional<std::string>&) {
    handle_session_event(e);
  }
  void handle(server_events::session_closed& e, const std::optional<std::string>&) {
    handle_session_event(e);
  }

  void handle(server_events::read_receipt& e, const std::optional<std::string>&) {
    notify(on_read_receipt_, e);
  }

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
  double tokens_ = 0;
  time_point refill_at_{};
  double pace_burst_ = 0;       // settings_.send_burst, halved by each rate_limited episode
  double pace_per_second_ = 0;  // settings_.send_per_second, likewise
  std::optional<time_point> paused_until_;  // after a rate_limited: nothing is sent before
  bool pumping_ = false;

  std::deque<std::function<void()>> notes_;
  int depth_ = 0;
  bool draining_ = false;

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
  std::function<void(const server_events::operator_joined&)> on_operator_joined_;
  std::function<void(const server_events::operator_left&)> on_operator_left_;
  std::function<void(const server_events::inbox_update&)> on_inbox_;
  std::function<void(const server_events::conversation_activity&)> on_activity_;
  std::function<void(const session_error&)> on_error_;
  std::function<void(const queued_message&, drop_reason)> on_dropped_;
};

}  // namespace livechat::client

#endif
