// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_HUB_HPP
#define LIVECHAT_SERVER_HUB_HPP

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/auth/authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/protocol/close_codes.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/presence/presence_tracker.hpp>
#include <livechat/presence/typing_tracker.hpp>
#include <livechat/rooms/room_registry.hpp>
#include <livechat/server/hub_config.hpp>
#include <livechat/server/transport.hpp>
#include <livechat/sessions/session_rules.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/store/page_cap.hpp>
#include <livechat/version.hpp>

namespace livechat::server {

/// A message from the end user's channel (e.g. one LINE webhook event).
struct inbound_message {
  std::string conversation_id;   ///< the room is `conversation:{conversation_id}`
  std::string user_id;           ///< the end user (sender.id)
  std::string name;              ///< sender.name; empty: the user id
  std::string text;              ///< trimmed and validated like send_message
  std::string webhook_event_id;  ///< dedupe key; empty: none
};

/// Counters for metrics. Indexes: `client_event_type` for events in.
struct hub_stats {
  static constexpr std::size_t event_types = static_cast<std::size_t>(client_event_type::count);

  std::uint64_t frames_in = 0;   ///< every incoming frame, refused ones included
  std::uint64_t frames_out = 0;  ///< frames handed to the transport
  std::array<std::uint64_t, event_types> events_in{};  ///< decoded events by client_event_type
  std::array<std::uint64_t, 14> errors_out{};  ///< `error` events by errc (1..13)
  std::uint64_t messages_stored = 0;
  std::uint64_t closes_slow_consumer = 0;
  /// `typing` and `presence_diff` frames not sent to a connection above
  /// `hub_config::soft_unsent_bytes` (one per skipped recipient).
  std::uint64_t events_skipped_backpressure = 0;
};
// handle_frame indexes events_in by the decoded type: one slot per event.
static_assert(std::tuple_size_v<decltype(hub_stats::events_in)> == std::variant_size_v<client_event>,
              "hub_stats::events_in needs one counter per client event type");

/// The protocol state machine of PROTOCOL.md for one server process.
///
/// Driven by calls, one per transport event; it answers through
/// `Transport::send` and `Transport::close` and never touches a socket.
/// Time comes from `Clock` and timers fire from `tick(now)`, so tests move
/// time by hand. Every broadcast is encoded once and the same immutable
/// buffer goes to every recipient.
///
/// Closing is deferred to the end of the current call: a connection closed
/// while a broadcast walks a room (a slow consumer) leaves its rooms only
/// after the walk, so membership never changes under an iteration.
///
/// Backpressure has two marks (`hub_config`): above `soft_unsent_bytes` a
/// connection stops getting `typing` and `presence_diff` (it is resynced
/// with `presence_update` later); above `max_unsent_bytes` it is closed
/// with 1013 and resumes with `since_seq`. What counts as unsent is the
/// transport's `buffered_amount`.
///
/// @tparam Transport  see `is_transport_v` / docs/concepts.md
/// @tparam Clock      see `is_clock_v`; `default_clock` or `manual_clock`
/// @par Thread Safety
/// None: one thread (an Asio thread or strand) owns the hub, its store and
/// its authenticator. Scale out with more processes, not threads.
/// @par Exceptions
/// Nothing thrown by the store, the authenticator or the transport escapes
/// an `on_*` call: it is answered with `error internal` and reported to the
/// error handler.
template <class Transport, class Clock = default_clock>
class hub {
  static_assert(detail::transport_id_ok<Transport>::value,
                "Transport::connection_id must be copyable, equality-comparable (==) and "
                "hashable with std::hash (docs/concepts.md)");
  static_assert(is_transport_v<Transport>, "Transport requirements not met (docs/concepts.md)");
  static_assert(is_clock_v<Clock>, "Clock requirements not met (docs/concepts.md)");

 public:
  using connection_id = typename Transport::connection_id;
  using time_point = typename Clock::time_point;
  using error_handler = std::function<void(std::string_view what)>;
  using outbound_handler = std::function<void(const message&)>;

  hub(Transport& transport, Clock& clock, message_store& store, authenticator& auth,
      hub_config config = {})
      : transport_(transport), clock_(clock), store_(store), auth_(auth), config_(config) {}

  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  /// A transport connection is open (WebSocket handshake done).
  void on_open(const connection_id& id) {
    if (connections_.count(id) != 0) return;
    const time_point now = clock_.now();
    auto c = std::make_unique<connection>();
    c->id = id;
    c->public_id = "c" + std::to_string(++next_connection_number_);
    c->opened_at = now;
    c->last_activity = now;
    c->tokens = config_.rate_burst;
    c->refill_at = now;
    connections_.emplace(id, std::move(c));
  }

  /// One complete text message arrived.
  void on_message(const connection_id& id, std::string_view frame) {
    connection* c = find(id);
    if (c == nullptr || c->closing) return;
    guarded(c, [&] { handle_frame(*c, frame); });
    current_write_ = 0;
    finish();
  }

  /// A binary message arrived: not part of v1, answered and kept.
  void on_binary(const connection_id& id) {
    connection* c = find(id);
    if (c == nullptr || c->closing) return;
    guarded(c, [&] {
      if (!admit(*c, nullptr)) return;
      reply_error(*c, errc::unsupported_frame, "binary frames are not supported; send JSON text",
                  std::nullopt, std::nullopt, std::nullopt);
    });
    finish();
  }

  /// The connection is gone, whatever the reason. Unknown ids are ignored
  /// (the hub forgets a connection as soon as it asks the transport to close it).
  void on_close(const connection_id& id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    guarded(nullptr, [&] { forget(*it->second); });
    retire(it);
    finish();
  }

  /// Fires due timers: auth deadline, idle close, typing expiry. Call it
  /// often (every 100 ms); each call costs O(connections + typists).
  void tick(time_point now) {
    guarded(nullptr, [&] {
      payload_ptr online;  // one presence_update for every watcher due a resync
      for (auto& [id, c] : connections_) {
        if (c->closing) continue;
        if (!c->authenticated && now - c->opened_at >= config_.auth_timeout)
          request_close(*c, close_code::auth_timeout, "auth timeout");
        else if (now - c->last_activity >= config_.idle_timeout)
          request_close(*c, close_code::going_away, "idle timeout");
        else if (c->presence_stale && !behind(*c))
          resync_presence(*c, online);
      }
      for (auto& e : typing_.expire(now))
        to_room(e.room, make(server_events::typing{e.room, e.user_id, e.name, false}), e.connection,
                droppable::yes);
    });
    finish();
  }

  /// Closes every connection (1001 by default), e.g. on SIGTERM.
  void shutdown(std::uint16_t code = close_code::going_away,
                std::string_view reason = "server shutting down") {
    commit();  // finish the writes first: what was stored is acknowledged
    for (auto& [id, c] : connections_) request_close(*c, code, reason);
    drain_closes();
  }

  /// Makes the writes of this turn durable (`store.flush()`), then sends
  /// what waited for them: acknowledgements, broadcasts, outbound
  /// messages. If the commit fails, nothing that depended on those writes
  /// is sent and each writer gets `error internal` instead. Without
  /// `hub_config::group_commit` the hub calls this itself after every
  /// event; with it, call it once per event-loop turn (the commit-request
  /// callback says when one is due). Returns false when the commit failed.
  bool commit() {
    bool ok = true;
    guarded(nullptr, [&] { ok = commit_outbox(); });
    drain_closes();
    return ok;
  }

  /// True while writes wait for `commit()`.
  bool commit_pending() const noexcept { return holding_; }

  /// With group commit: called once when the first write of a turn is
  /// made, so the embedding server can schedule `commit()` (e.g. post it
  /// to its event loop). Runs on the hub's thread, inside a hub call: it
  /// must not call back into the hub.
  void set_commit_request(std::function<void()> f) { request_commit_ = std::move(f); }

  /// A text message from the end user (LINE webhook or any channel):
  /// stored as a `user` message in `conversation:{conversation_id}`,
  /// re-opening a closed session, and broadcast (`new_message`,
  /// `conversation_activity`). A repeated `webhook_event_id` is stored once.
  /// Returns once the message is committed; `validation_error` for a bad
  /// id or text, `store_failure` when it could not be stored.
  result<append_result> post_user_message(const inbound_message& m) {
    result<append_result> out = errc::internal;
    guarded(nullptr, [&] { out = ingest_user_message(m); });
    current_write_ = 0;
    drain_closes();
    return out;
  }

  /// An operator message posted without a WebSocket (REST fallback): the
  /// same validation and effects as `send_message`, with no room
  /// membership needed. Returns once committed.
  result<append_result> post_operator_message(const identity& who, std::string_view conversation_id,
                                              std::string_view text,
                                              std::string_view client_msg_id = {}) {
    result<append_result> out = errc::internal;
    guarded(nullptr, [&] { out = ingest_operator_message(who, conversation_id, text, client_msg_id); });
    current_write_ = 0;
    drain_closes();
    return out;
  }

  /// Called with a description of anything unexpected (an exception from
  /// the store, the authenticator or the transport).
  void set_error_handler(error_handler h) { on_error_ = std::move(h); }

  /// Called once per stored operator message, after its broadcast: the
  /// hook for the outbound channel (the end user's messenger).
  void set_outbound_handler(outbound_handler h) { on_outbound_ = std::move(h); }

  std::size_t connection_count() const noexcept { return connections_.size(); }
  std::size_t users_online() const noexcept { return presence_.user_count(); }
  std::size_t room_count() const noexcept { return rooms_.room_count(); }
  std::size_t inbox_watcher_count() const noexcept { return watchers_.size(); }
  /// Authenticated connections `user_id` holds now.
  std::size_t user_connection_count(const std::string& user_id) const {
    return presence_.connections_of(user_id);
  }
  /// True when one more connection of `user_id` would be refused at `auth`
  /// (`hub_config::max_connections_per_user`). An embedder that learns the
  /// user before the WebSocket opens (a token in the upgrade request) can
  /// refuse it there instead.
  bool user_at_connection_limit(const std::string& user_id) const {
    return config_.max_connections_per_user != 0 &&
           user_connection_count(user_id) >= config_.max_connections_per_user;
  }
  const hub_stats& stats() const noexcept { return stats_; }
  const hub_config& config() const noexcept { return config_; }

 private:
  struct connection {
    connection_id id{};
    std::string public_id;
    identity who;
    bool authenticated = false;
    bool watching_inbox = false;
    bool closing = false;
    bool muted = false;  // nothing more may be sent: forgotten, or closed as a slow consumer
    bool presence_stale = false;  // a presence_diff was skipped: resync with presence_update
    time_point opened_at{};
    time_point last_activity{};
    double tokens = 0;
    time_point refill_at{};
    std::deque<time_point> refused;  // bounded by max_refused_frames + 1
  };
  using handle = connection*;
  using ref_type = std::optional<std::string>;

  struct pending_close {
    connection_id id;
    std::uint16_t code;
    std::string reason;
  };
  /// A send waiting for the commit of `write` (0: waits only to keep its
  /// place in line). Kept small: a broadcast queues one per recipient.
  struct outgoing {
    connection* to;
    payload_ptr payload;
    std::uint64_t write;
  };
  /// An operator message for the outbound channel, after the commit of `write`.
  struct outgoing_message {
    std::uint64_t write;
    message msg;
  };
  struct pending_write {
    connection* requester;  // null: an HTTP caller, answered by the return value
    ref_type ref;
    std::string request_type;
    std::uint64_t id;
  };

  // ------------------------------------------------------------ plumbing

  connection* find(const connection_id& id) {
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
  }

  template <class F>
  void guarded(connection* c, F&& f) noexcept {
    try {
      f();
      return;
    } catch (const std::exception& e) {
      report(e.what());
    } catch (...) {
      report("unknown exception");
    }
    try {
      if (c != nullptr && !c->closing)
        reply_error(*c, errc::internal, "internal error", std::nullopt, std::nullopt, std::nullopt);
    } catch (...) {
      report("exception while reporting an exception");
    }
  }

  void report(std::string_view what) noexcept {
    if (!on_error_) return;
    try {
      on_error_(what);
    } catch (...) {
    }
  }

  template <class Event>
  payload_ptr make(const Event& e, const ref_type& ref = std::nullopt) {
    return std::make_shared<const std::string>(
        encode(e, clock_.system_now(),
               ref ? std::optional<std::string_view>(*ref) : std::nullopt));
  }

  /// Sends now, or queues behind the uncommitted writes of this turn so
  /// that nothing overtakes them on any connection.
  void deliver(connection& c, const payload_ptr& p) {
    if (c.closing) return;
    if (holding_) {
      outbox_.push_back({&c, p, current_write_});
      return;
    }
    send_now(c, p);
  }

  /// The hard mark is checked before the send: what is already queued shows
  /// a reader that is behind, while one frame larger than the mark (a
  /// recovery page of 500 long messages is ~2 MiB) must still go out whole,
  /// or the client could never resume. The backlog is thus bounded by
  /// max_unsent_bytes plus one frame.
  void send_now(connection& c, const payload_ptr& p, bool queued_before_close = false) {
    if (c.muted || (c.closing && !queued_before_close)) return;
    if (transport_.buffered_amount(c.id) > config_.max_unsent_bytes) {
      c.muted = true;  // the rest of its outbox stays unsent too
      if (!c.closing) ++stats_.closes_slow_consumer;
      request_close(c, close_code::try_again_later, "slow consumer");
      return;
    }
    transport_.send(c.id, p);
    ++stats_.frames_out;
  }

  /// True when `c` is above the soft mark, where droppable events are
  /// skipped. The only transport call droppable events add; the message
  /// path makes just the one in send_now.
  bool behind(connection& c) {
    return config_.soft_unsent_bytes != 0 &&
           transport_.buffered_amount(c.id) > config_.soft_unsent_bytes;
  }

  /// True (and counted) when a droppable event is not to be sent to `c`.
  bool skip_droppable(connection& c) {
    if (c.closing || !behind(c)) return false;
    ++stats_.events_skipped_backpressure;
    return true;
  }

  /// The whole online list to a watcher that missed a diff; `online` is
  /// encoded once per call site and shared by every watcher it resyncs.
  void resync_presence(connection& c, payload_ptr& online) {
    if (!online) online = make(server_events::presence_update{presence_.online()});
    c.presence_stale = false;
    deliver(c, online);
  }

  template <class Event>
  void reply(connection& c, const Event& e, const ref_type& ref = std::nullopt) {
    deliver(c, make(e, ref));
  }

  void reply_error(connection& c, errc code, std::string text, std::optional<std::string> request_type,
                   std::optional<std::string> field, const ref_type& ref) {
    const auto index = static_cast<std::size_t>(code);
    if (index < stats_.errors_out.size()) ++stats_.errors_out[index];
    reply(c, server_events::error{code, std::move(text), std::move(request_type), std::move(field)},
          ref);
  }

  enum class droppable : bool { no, yes };

  /// Every connection in `room` except `except`; with droppable::yes, not
  /// those that are behind. The flag is a constant at every call site, so
  /// the message path's loop does not pay for it. (`typing` calls this
  /// directly rather than through a wrapper: with fewer call sites GCC 12
  /// inlines it into `publish` but stops inlining `deliver` into the loop,
  /// ~9 instructions more per recipient.)
  void to_room(const std::string& room, const payload_ptr& p, const connection* except,
               droppable drop = droppable::no) {
    for (handle h : rooms_.members(room))
      if (h != except && !(drop == droppable::yes && skip_droppable(*h))) deliver(*h, p);
  }

  void to_watchers(const payload_ptr& p) {
    for (handle h : watchers_) deliver(*h, p);
  }

  /// The room and the inbox watchers, each connection once.
  void to_room_and_watchers(const std::string& room, const payload_ptr& p) {
    to_room(room, p, nullptr);
    for (handle h : watchers_)
      if (!rooms_.is_member(room, h)) deliver(*h, p);
  }

  void request_close(connection& c, std::uint16_t code, std::string_view reason) {
    if (c.closing) return;
    c.closing = true;
    pending_closes_.push_back({c.id, code, std::string(reason)});
  }

  /// Forgets the connections asked to close, then tells the transport.
  /// Forgetting broadcasts (operator_left, presence_diff), which may close
  /// more slow consumers: loop until none is left.
  ///
  /// While writes wait for a commit, so do the closes: the frames queued
  /// for a connection before it was asked to close (the `auth_failed`
  /// before 4003, the error before 1008) are in the outbox and must reach
  /// it first. commit() drains them after sending the outbox.
  void drain_closes() {
    if (holding_) return;
    for (std::size_t round = 0; !pending_closes_.empty() && round <= connections_.size(); ++round) {
      std::vector<pending_close> batch;
      batch.swap(pending_closes_);
      for (auto& p : batch) {
        auto it = connections_.find(p.id);
        if (it == connections_.end()) continue;
        guarded(nullptr, [&] { forget(*it->second); });
        retire(it);
        guarded(nullptr, [&] { transport_.close(p.id, p.code, p.reason); });
      }
    }
  }

  /// Erases a forgotten connection; while the outbox may still point at it,
  /// it is parked until the commit.
  template <class It>
  void retire(It it) {
    it->second->muted = true;
    if (holding_) graveyard_.push_back(std::move(it->second));
    connections_.erase(it);
  }

  /// The end of every entry point: commit unless the embedder groups
  /// commits per turn, then carry out the closes asked for meanwhile.
  void finish() {
    if (holding_ && !config_.group_commit) guarded(nullptr, [&] { commit_outbox(); });
    drain_closes();
  }

  /// Records that `requester` made a write the next commit must carry.
  void note_write(connection* requester, const ref_type& ref, std::string_view request_type) {
    if (!holding_) {
      holding_ = true;
      if (config_.group_commit && request_commit_) request_commit_();
    }
    current_write_ = ++write_counter_;
    writes_.push_back({requester, ref, std::string(request_type), current_write_});
  }

  bool commit_outbox() {
    if (!holding_) return true;
    auto flushed = store_.flush();
    holding_ = false;
    current_write_ = 0;
    std::vector<outgoing> box;
    box.swap(outbox_);
    std::vector<outgoing_message> out;
    out.swap(outbound_);
    std::vector<pending_write> writes;
    writes.swap(writes_);
    if (!flushed) report("message store commit failed: " + flushed.error().message());
    // A send that depended on a write goes out only if the commit kept the
    // write (else it was rolled back). A connection asked to close since
    // still gets what was queued for it before: its close waits for this.
    for (auto& o : box)
      if (flushed || o.write == 0) send_now(*o.to, o.payload, true);
    if (flushed && on_outbound_)
      for (auto& o : out) guarded(nullptr, [&] { on_outbound_(o.msg); });
    if (!flushed)
      for (auto& w : writes)
        if (w.requester != nullptr && !w.requester->closing)
          reply_error(*w.requester, errc::internal, "could not store; try again", w.request_type,
                      std::nullopt, w.ref);
    graveyard_.clear();
    return flushed.ok();
  }

  /// Leaves the connection's rooms and presence, telling whoever is left.
  void forget(connection& c) {
    c.closing = true;
    if (c.watching_inbox) watchers_.erase(&c);
    c.watching_inbox = false;
    if (!c.authenticated) return;
    c.authenticated = false;
    const std::string& user = c.who.user_id;
    for (auto& [room, out] : rooms_.leave_all(&c, user)) {
      if (typing_.stop_if(room, user, &c))
        to_room(room, make(server_events::typing{room, user, c.who.name, false}), nullptr,
                droppable::yes);
      if (out.last_of_user)
        to_room(room, make(server_events::operator_left{room, user, c.who.name}), nullptr);
    }
    announce_presence(presence_.disconnect(user));
  }

  /// presence_diff to the watchers. One that is behind skips it and is
  /// marked stale; a stale one that has caught up gets the whole list
  /// instead (it already includes this change), so no diff is ever applied
  /// to a list that missed one.
  void announce_presence(const presence_entry& e) {
    if (watchers_.empty()) return;
    server_events::presence_diff diff;
    if (e.connections == 0)
      diff.offline.push_back(e.user_id);
    else
      diff.online.push_back(e);
    const payload_ptr p = make(diff);
    payload_ptr online;
    for (handle h : watchers_) {
      if (h->closing) continue;
      if (behind(*h)) {
        ++stats_.events_skipped_backpressure;
        h->presence_stale = true;
      } else if (h->presence_stale) {
        resync_presence(*h, online);
      } else {
        deliver(*h, p);
      }
    }
  }

  /// Token bucket: false (and answered) when the frame is refused. The
  /// answer echoes the `ref` and `type` of a text frame's envelope, so the
  /// client knows which frame to send again; only refused frames pay for
  /// reading it, and more than max_refused_frames of them close the
  /// connection, so that cost stays bounded.
  bool admit(connection& c, const std::string_view* frame) {
    const time_point now = clock_.now();
    ++stats_.frames_in;
    c.last_activity = now;
    const double elapsed = std::chrono::duration<double>(now - c.refill_at).count();
    c.tokens = std::min(config_.rate_burst, c.tokens + std::max(0.0, elapsed) * config_.rate_per_second);
    c.refill_at = now;
    if (c.tokens >= 1.0) {
      c.tokens -= 1.0;
      return true;
    }
    while (!c.refused.empty() && now - c.refused.front() >= config_.refused_window) c.refused.pop_front();
    c.refused.push_back(now);
    if (c.refused.size() > config_.max_refused_frames) {
      request_close(c, close_code::policy_violation, "too many refused frames");
      return false;
    }
    frame_envelope env;
    if (frame != nullptr) env = read_envelope(*frame, config_.codec);
    reply_error(c, errc::rate_limited, "too many events, slow down", std::move(env.request_type),
                std::nullopt, env.ref);
    return false;
  }

  // ------------------------------------------------------------ events

  void handle_frame(connection& c, std::string_view frame) {
    if (!admit(c, &frame)) return;
    decoded_frame d = decode_client_frame(frame, config_.codec);
    std::optional<std::string> type;
    if (!d.type.empty() || d.kind) type = request_type_echo(d.type, config_.codec);
    if (d.envelope_error) {
      auto& e = *d.envelope_error;
      reply_error(c, e.code, e.message, e.code == errc::invalid_json ? std::nullopt : type,
                  e.field.empty() ? std::nullopt : std::optional<std::string>(e.field), d.ref);
      return;
    }
    ++stats_.events_in[static_cast<std::size_t>(*d.kind)];
    if (!c.authenticated && *d.kind != client_event_type::auth && *d.kind != client_event_type::ping) {
      reply_error(c, errc::not_authenticated, "send auth first", type, std::nullopt, d.ref);
      return;
    }
    if (d.payload_error) {
      auto& e = *d.payload_error;
      reply_error(c, e.code, e.message, type,
                  e.field.empty() ? std::nullopt : std::optional<std::string>(e.field), d.ref);
      return;
    }
    std::visit([&](auto& ev) { on_event(c, ev, d.ref); }, d.event);
  }

  /// Membership check shared by the room events; answers not_in_room.
  template <class Event>
  bool require_member(connection& c, const Event& ev, const ref_type& ref) {
    if (rooms_.is_member(ev.room, &c)) return true;
    reply_error(c, errc::not_in_room, "join " + ev.room + " first", std::string(Event::type_name),
                std::nullopt, ref);
    return false;
  }

  /// Answers `internal` for a failed store call; true when it failed.
  template <class R, class Event>
  bool store_failed(connection& c, const R& r, const Event&, const ref_type& ref) {
    if (r.ok()) return false;
    report("message store: " + r.error().message());
    reply_error(c, errc::internal, "could not reach the message store; try again",
                std::string(Event::type_name), std::nullopt, ref);
    return true;
  }

  void on_event(connection& c, const client_events::auth& ev, const ref_type& ref) {
    if (c.authenticated) {
      reply_error(c, errc::already_authenticated, "this connection is already authenticated",
                  std::string("auth"), std::nullopt, ref);
      return;
    }
    auto who = auth_.authenticate(ev.token, clock_.system_now());
    if (!who) {
      reply_error(c, errc::auth_failed, "authentication failed", std::string("auth"), std::nullopt, ref);
      request_close(c, close_code::auth_failed, "auth failed");
      return;
    }
    if (user_at_connection_limit(who->user_id)) {
      // Refused before it counts anywhere: no presence change, no diff.
      reply_error(c, errc::limit_exceeded,
                  "this user already holds " + std::to_string(config_.max_connections_per_user) +
                      " connections, the most allowed; close one and retry",
                  std::string("auth"), std::nullopt, ref);
      request_close(c, close_code::policy_violation, "too many connections for this user");
      return;
    }
    c.authenticated = true;
    c.who = std::move(who.value());
    const presence_entry entry = presence_.connect(c.who.user_id, c.who.name);
    reply(c,
          server_events::auth_success{c.who, c.public_id, protocol_version,
                                      config_.heartbeat_interval_ms, clock_.system_now()},
          ref);
    reply(c, server_events::presence_update{presence_.online()});
    announce_presence(entry);
  }

  void on_event(connection& c, const client_events::join_room& ev, const ref_type& ref) {
    commit_outbox();  // show only committed history (what a rollback cannot take back)
    const bool already = rooms_.is_member(ev.room, &c);
    if (!already && rooms_.rooms_of(&c) >= config_.max_rooms_per_connection) {
      reply_error(c, errc::limit_exceeded,
                  "at most " + std::to_string(config_.max_rooms_per_connection) +
                      " rooms per connection",
                  std::string("join_room"), std::nullopt, ref);
      return;
    }
    auto epoch = store_.epoch(ev.room);
    if (store_failed(c, epoch, ev, ref)) return;
    std::optional<std::uint64_t> since = ev.since_seq;
    bool lineage_kept = !ev.epoch || *ev.epoch == epoch.value();
    if (!lineage_kept) since.reset();
    // The store stops at the byte budget on raw sizes; cap_history_page
    // then cuts by the encoded size, so a small request never builds a
    // reply of many megabytes (PROTOCOL.md, 1 MiB per page).
    history_query hq;
    hq.since_seq = since;
    hq.limit = since ? config_.recovery_limit : config_.history_page;
    hq.max_bytes = config_.max_page_bytes;
    auto page = store_.history(ev.room, hq);
    if (store_failed(c, page, ev, ref)) return;
    if (since && *since > page->last_seq) {
      // The client has seen more than this store holds: its copy belongs to
      // another lineage. Answer as without since_seq.
      lineage_kept = false;
      since.reset();
      hq.since_seq.reset();
      hq.limit = config_.history_page;
      page = store_.history(ev.room, hq);
      if (store_failed(c, page, ev, ref)) return;
    }
    cap_history_page(page.value(), config_.max_page_bytes, !since);
    auto session = store_.load_session(ev.room);
    if (store_failed(c, session, ev, ref)) return;

    typename room_registry<handle>::join_outcome joined;
    if (!already) joined = rooms_.join(ev.room, &c, c.who.user_id, c.who.name);

    server_events::conversation_update u;
    u.room = ev.room;
    u.conversation_id = std::string(conversation_id_of(ev.room).value_or(""));
    u.session = std::move(session.value());
    u.members = members_of(ev.room);
    u.messages = std::move(page->messages);
    u.last_seq = page->last_seq;
    u.has_more = page->has_more;
    u.epoch = std::move(epoch.value());
    u.recovered = ev.since_seq.has_value() && lineage_kept && !page->has_more;
    reply(c, u, ref);
    if (joined.joined && joined.first_of_user)
      to_room(ev.room, make(server_events::operator_joined{ev.room, c.who.user_id, c.who.name}), &c);
  }

  std::vector<user_ref> members_of(const std::string& room) const {
    std::vector<user_ref> out;
    for (const auto& [id, tally] : rooms_.users(room)) out.push_back({id, tally.name});
    std::sort(out.begin(), out.end(),
              [](const user_ref& a, const user_ref& b) { return a.user_id < b.user_id; });
    return out;
  }

  void on_event(connection& c, const client_events::leave_room& ev, const ref_type& ref) {
    if (!require_member(c, ev, ref)) return;
    const auto out = rooms_.leave(ev.room, &c, c.who.user_id);
    reply(c, server_events::room_left{ev.room}, ref);
    if (typing_.stop_if(ev.room, c.who.user_id, &c))
      to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, false}), &c,
              droppable::yes);
    if (out.last_of_user)
      to_room(ev.room, make(server_events::operator_left{ev.room, c.who.user_id, c.who.name}), &c);
  }

  void on_event(connection& c, const client_events::watch_inbox& ev, const ref_type& ref) {
    commit_outbox();
    conversation_query q;
    q.limit = config_.inbox_limit;
    q.max_bytes = config_.max_page_bytes;
    auto list = store_.list_conversations(q);
    if (store_failed(c, list, ev, ref)) return;
    cap_conversation_page(list.value(), config_.max_page_bytes);
    c.watching_inbox = true;
    c.presence_stale = false;  // inbox_update carries the whole online list
    watchers_.insert(&c);
    reply(c,
          server_events::inbox_update{std::move(list->conversations), presence_.online()}, ref);
  }

  void on_event(connection& c, const client_events::unwatch_inbox&, const ref_type& ref) {
    watchers_.erase(&c);
    c.watching_inbox = false;
    c.presence_stale = false;
    reply(c, server_events::inbox_unwatched{}, ref);
  }

  void on_event(connection& c, const client_events::send_message& ev, const ref_type& ref) {
    if (!require_member(c, ev, ref)) return;
    append_request req;
    req.room = ev.room;
    req.sender = sender{sender_type::operator_, c.who.user_id, c.who.name};
    req.text = ev.text;
    req.client_msg_id = ev.client_msg_id.value_or(std::string());
    req.now = clock_.system_now();
    auto stored = store_.append(req);
    if (store_failed(c, stored, ev, ref)) return;
    const message& m = stored->message;
    if (stored->duplicate) {
      // The original may still be in this turn's transaction: the answer
      // waits for the same commit.
      if (holding_) current_write_ = write_counter_;
      reply(c, server_events::message_sent{ev.client_msg_id, m, true}, ref);
      return;
    }
    note_write(&c, ref, "send_message");  // everything below waits for the commit
    reply(c, server_events::message_sent{ev.client_msg_id, m, false}, ref);
    publish(m, &c);
    // The message the typist was typing has arrived: the indicator ends.
    if (typing_.stop(ev.room, c.who.user_id))
      to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, false}), &c,
              droppable::yes);
  }

  /// new_message to the room (but `except`), conversation_activity to the
  /// inbox watchers, and, for an operator's message, the outbound channel.
  void publish(const message& m, const connection* except) {
    ++stats_.messages_stored;
    to_room(m.room, make(server_events::new_message{m}), except);
    if (!watchers_.empty()) {
      auto session = store_.load_session(m.room);
      if (session)
        to_watchers(make(server_events::conversation_activity{
            m.room, std::string(conversation_id_of(m.room).value_or("")), m, session.value()}));
      else
        report("message store: " + session.error().message());
    }
    if (m.sender.type == sender_type::operator_) outbound_.push_back({current_write_, m});
  }

  result<append_result> ingest_user_message(const inbound_message& in) {
    if (!is_valid_conversation_id(in.conversation_id) || in.user_id.empty())
      return errc::validation_error;
    const std::string_view text = livechat::detail::trim(in.text);
    const std::size_t length = livechat::detail::utf8_length(text);
    if (length == 0 || length > config_.codec.max_text_length) return errc::validation_error;
    append_request req;
    req.room = room_of(in.conversation_id);
    req.sender = sender{sender_type::user, in.user_id, in.name.empty() ? in.user_id : in.name};
    req.text = std::string(text);
    req.webhook_event_id = in.webhook_event_id;
    req.now = clock_.system_now();
    auto stored = store_.append(req);
    if (!stored) return stored.error();
    if (!stored->duplicate) {
      note_write(nullptr, std::nullopt, "webhook");
      // The message is stored whatever happens to the session: a failure
      // there is reported and the message still goes out.
      auto session = store_.load_session(req.room);
      if (session &&
          reopen_on_user_message(session.value(), clock_.system_now()).effect == session_effect::changed) {
        auto saved = store_.save_session(req.room, session.value());
        if (saved)  // back to open with nobody holding it: what a release looks like
          to_room_and_watchers(req.room, make(server_events::session_released{req.room, session.value()}));
        else
          report("message store: " + saved.error().message());
      } else if (!session) {
        report("message store: " + session.error().message());
      }
      publish(stored->message, nullptr);
    }
    if (!commit_outbox()) return errc::store_failure;
    return stored;
  }

  result<append_result> ingest_operator_message(const identity& who, std::string_view conversation_id,
                                                std::string_view raw_text,
                                                std::string_view client_msg_id) {
    if (!is_valid_conversation_id(conversation_id)) return errc::validation_error;
    const std::string_view text = livechat::detail::trim(raw_text);
    const std::size_t length = livechat::detail::utf8_length(text);
    if (length == 0 || length > config_.codec.max_text_length) return errc::validation_error;
    const std::size_t id_length = livechat::detail::utf8_length(client_msg_id);
    if (id_length > config_.codec.max_client_msg_id_length) return errc::validation_error;
    append_request req;
    req.room = room_of(conversation_id);
    req.sender = sender{sender_type::operator_, who.user_id, who.name};
    req.text = std::string(text);
    req.client_msg_id = std::string(client_msg_id);
    req.now = clock_.system_now();
    auto stored = store_.append(req);
    if (!stored) return stored.error();
    if (!stored->duplicate) {
      note_write(nullptr, std::nullopt, "send_message");
      publish(stored->message, nullptr);
    }
    if (!commit_outbox()) return errc::store_failure;
    return stored;
  }


  void on_event(connection& c, const client_events::typing_start& ev, const ref_type& ref) {
    if (!require_member(c, ev, ref)) return;
    if (typing_.start(ev.room, c.who.user_id, c.who.name, &c, clock_.now() + config_.typing_timeout))
      to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, true}), &c,
              droppable::yes);
  }

  void on_event(connection& c, const client_events::typing_stop& ev, const ref_type& ref) {
    if (!require_member(c, ev, ref)) return;
    if (typing_.stop(ev.room, c.who.user_id))
      to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, false}), &c,
              droppable::yes);
  }

  void on_event(connection& c, const client_events::claim_session& ev, const ref_type& ref) {
    change_session<server_events::session_claimed>(
        c, ev, ref, [&](session_state& s) { return claim_session(s, c.who, clock_.system_now()); });
  }

  void on_event(connection& c, const client_events::release_session& ev, const ref_type& ref) {
    change_session<server_events::session_released>(
        c, ev, ref, [&](session_state& s) { return release_session(s, c.who, clock_.system_now()); });
  }

  void on_event(connection& c, const client_events::close_session& ev, const ref_type& ref) {
    change_session<server_events::session_closed>(
        c, ev, ref, [&](session_state& s) { return close_session(s, c.who, clock_.system_now()); });
  }

  template <class Broadcast, class Event, class Rule>
  void change_session(connection& c, const Event& ev, const ref_type& ref, Rule&& rule) {
    if (!require_member(c, ev, ref)) return;
    auto s = store_.load_session(ev.room);
    if (store_failed(c, s, ev, ref)) return;
    const session_outcome out = rule(s.value());
    if (out.error) {
      std::string text = "another operator holds this session";
      if (*out.error != errc::session_already_claimed)
        text = std::is_same_v<Event, client_events::close_session>
                   ? "only the holder or an admin can close a claimed session"
                   : "only the holder or an admin can release a claimed session";
      reply_error(c, *out.error, std::move(text), std::string(Event::type_name), std::nullopt, ref);
      return;
    }
    if (out.effect == session_effect::reply_only) reply(c, Broadcast{ev.room, s.value()});
    if (out.effect != session_effect::changed) return;
    auto saved = store_.save_session(ev.room, s.value());
    if (store_failed(c, saved, ev, ref)) return;
    note_write(&c, ref, Event::type_name);
    to_room_and_watchers(ev.room, make(Broadcast{ev.room, s.value()}));
  }

  void on_event(connection& c, const client_events::mark_read& ev, const ref_type& ref) {
    if (!require_member(c, ev, ref)) return;
    auto newest = store_.history(ev.room, std::numeric_limits<std::uint64_t>::max(), 1);
    if (store_failed(c, newest, ev, ref)) return;
    if (ev.seq > newest->last_seq) {
      reply_error(c, errc::validation_error, "seq is beyond the room's last message",
                  std::string("mark_read"), std::string("seq"), ref);
      return;
    }
    auto position = store_.mark_read(ev.room, c.who.user_id, ev.seq);
    if (store_failed(c, position, ev, ref)) return;
    note_write(&c, ref, "mark_read");
    to_room(ev.room, make(server_events::read_receipt{ev.room, c.who.user_id, position.value()}), &c);
  }

  void on_event(connection& c, const client_events::ping&, const ref_type& ref) {
    reply(c, server_events::pong{clock_.system_now()}, ref);
  }

  Transport& transport_;
  Clock& clock_;
  message_store& store_;
  authenticator& auth_;
  hub_config config_;
  hub_stats stats_;
  error_handler on_error_;
  outbound_handler on_outbound_;

  std::unordered_map<connection_id, std::unique_ptr<connection>> connections_;
  room_registry<handle> rooms_;
  presence_tracker presence_;
  typing_tracker<handle, time_point> typing_;
  std::unordered_set<handle> watchers_;
  std::vector<pending_close> pending_closes_;
  bool holding_ = false;  // writes wait for commit(); deliveries queue in outbox_
  std::vector<outgoing> outbox_;
  std::vector<outgoing_message> outbound_;
  std::vector<pending_write> writes_;
  std::vector<std::unique_ptr<connection>> graveyard_;
  std::uint64_t write_counter_ = 0;
  std::uint64_t current_write_ = 0;
  std::function<void()> request_commit_;
  std::uint64_t next_connection_number_ = 0;
};

}  // namespace livechat::server

#endif
