// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_IMPL_SESSION_HPP
#define LIVECHAT_CLIENT_IMPL_SESSION_HPP

// client::session bodies: lifecycle, transport events, the typed API, the
// connection and the sending. The server events are in session_events.hpp.
// Included at the end of client/session.hpp; including this one first
// works too (it includes the declaration).

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/client/detail/ids.hpp>
#include <livechat/protocol/close_codes.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/protocol/server_codec.hpp>

// Last, after what the bodies use: session.hpp includes this file back
// (guarded) when this one is included first.
#include <livechat/client/session.hpp>

namespace livechat::client {

template <class Transport, class Clock>
session<Transport, Clock>::session(Transport& t, session_settings s, Clock clock,
                                   backoff::random_source r)
    : transport_(t),
      settings_(std::move(s)),
      clock_(std::forward<Clock>(clock)),
      backoff_(settings_.backoff, std::move(r)),
      queue_(settings_.queue),
      pacer_(settings_.send_burst, settings_.send_per_second, settings_.rate_limited_pause) {
  if (!settings_.make_client_msg_id) settings_.make_client_msg_id = detail::random_id_generator();
  queue_.set_drop_handler(
      [this](const queued_message& m, drop_reason why) { on_queue_drop(m, why); });
}

// ------------------------------------------------------------ lifecycle

template <class Transport, class Clock>
void session<Transport, Clock>::start() {
  entry([&] {
    if (state_ != state::disconnected) return;
    backoff_.reset();
    begin_connect(now());
  });
}

template <class Transport, class Clock>
void session<Transport, Clock>::stop() {
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

// ------------------------------------------------------------ transport events

template <class Transport, class Clock>
void session<Transport, Clock>::on_open() noexcept {
  entry([&] {
    if (link_ != link::opening) return;  // a late open of an attempt we gave up on
    link_ = link::open;
    pacer_.restart(now());
    set_state(state::authenticating);
    send_now(encode_client_event(client_events::auth{settings_.token},
                                 new_ref(make_request(request_kind::auth))));
  });
}

template <class Transport, class Clock>
void session<Transport, Clock>::on_message(std::string_view frame) noexcept {
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

template <class Transport, class Clock>
void session<Transport, Clock>::on_close(std::uint16_t code, std::string_view reason) noexcept {
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

template <class Transport, class Clock>
void session<Transport, Clock>::tick(time_point t) noexcept {
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

template <class Transport, class Clock>
void session<Transport, Clock>::join(std::string room) {
  entry([&] {
    if (!valid_room(room, "join_room")) return;
    auto [it, inserted] = rooms_.try_emplace(room, room, settings_.max_history);
    if (!inserted) return;
    if (state_ == state::connected) send_join(it->second, !ready_);
    pump();
  });
}

template <class Transport, class Clock>
void session<Transport, Clock>::leave(std::string room) {
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

template <class Transport, class Clock>
std::string session<Transport, Clock>::send(std::string room, std::string text) {
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
    if (auto* r = find_room(room)) r->history.view().pending.push_back({id, m.text, n});
    if (state_ == state::connected && ready_) schedule(id);
    pump();
  });
  return id;
}

template <class Transport, class Clock>
void session<Transport, Clock>::typing(std::string room, bool on) {
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

template <class Transport, class Clock>
void session<Transport, Clock>::mark_read(std::string room, std::uint64_t seq) {
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

template <class Transport, class Clock>
void session<Transport, Clock>::watch_inbox(bool on) {
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

template <class Transport, class Clock>
template <class Event>
void session<Transport, Clock>::session_action(std::string room) {
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

// ------------------------------------------------------------ local view

template <class Transport, class Clock>
std::vector<std::string> session<Transport, Clock>::rooms() const {
  std::vector<std::string> out;
  out.reserve(rooms_.size());
  for (const auto& [name, r] : rooms_) out.push_back(name);
  return out;
}

template <class Transport, class Clock>
std::vector<presence_entry> session<Transport, Clock>::online() const {
  std::vector<presence_entry> out;
  out.reserve(online_.size());
  for (const auto& [id, e] : online_) out.push_back(e);
  return out;
}

// ------------------------------------------------------------ plumbing

template <class Transport, class Clock>
time_point session<Transport, Clock>::now() const {
  const time_point c = clock_.now();
  return c > last_tick_ ? c : last_tick_;
}

/// Runs `f`, catching everything, then delivers the callbacks it queued
/// once the outermost entry is done.
template <class Transport, class Clock>
template <class F>
void session<Transport, Clock>::entry(F&& f) noexcept {
  callbacks_.enter();
  try {
    f();
  } catch (const std::exception& e) {
    report_noexcept(error_kind::internal, e.what());
  } catch (...) {
    report_noexcept(error_kind::internal, "unknown exception");
  }
  if (callbacks_.leave())
    callbacks_.drain([this](const char* what) noexcept { callback_failed(what); });
}

template <class Transport, class Clock>
void session<Transport, Clock>::callback_failed(const char* what) noexcept {
  if (!on_error_) return;
  try {
    session_error e;
    e.kind = error_kind::callback;
    e.message = std::string("a callback threw: ") + what;
    on_error_(e);
  } catch (...) {
  }
}

template <class Transport, class Clock>
void session<Transport, Clock>::report(session_error e) {
  if (!on_error_) return;
  callbacks_.push([this, e = std::move(e)] {
    if (on_error_) on_error_(e);
  });
}

template <class Transport, class Clock>
void session<Transport, Clock>::report_local(error_kind kind, std::string message,
                                             std::string room) {
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

template <class Transport, class Clock>
void session<Transport, Clock>::report_noexcept(error_kind kind, const char* what) noexcept {
  try {
    report_local(kind, what);
  } catch (...) {
  }
}

template <class Transport, class Clock>
void session<Transport, Clock>::refuse(const char* request_type, const std::string& room,
                                       std::string message) {
  session_error e;
  e.kind = error_kind::invalid_argument;
  e.code = errc::validation_error;
  e.message = std::move(message);
  e.request_type = request_type;
  e.room = room;
  report(std::move(e));
}

template <class Transport, class Clock>
bool session<Transport, Clock>::valid_room(const std::string& room, const char* request_type) {
  if (is_valid_room(room)) return true;
  refuse(request_type, room,
         "room must be conversation:{id} with id matching [A-Za-z0-9_.@:-]{1,128}");
  return false;
}

template <class Transport, class Clock>
std::string session<Transport, Clock>::fallback_id() {
  static thread_local std::function<std::string()> gen = detail::random_id_generator();
  return gen();
}

template <class Transport, class Clock>
void session<Transport, Clock>::set_state(state to) {
  if (to == state_) return;
  const state from = state_;
  state_ = to;
  notify(on_state_change_, from, to);
}

template <class Transport, class Clock>
auto session<Transport, Clock>::find_room(std::string_view name) -> room_state* {
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : &it->second;
}

template <class Transport, class Clock>
std::string session<Transport, Clock>::new_ref(request r) {
  std::string ref = "r" + std::to_string(++ref_counter_);
  requests_.emplace(ref, std::move(r));
  return ref;
}

template <class Transport, class Clock>
auto session<Transport, Clock>::take_request(const std::optional<std::string>& ref)
    -> std::optional<request> {
  if (!ref) return std::nullopt;
  auto it = requests_.find(*ref);
  if (it == requests_.end()) return std::nullopt;
  request r = std::move(it->second);
  requests_.erase(it);
  return r;
}

// ------------------------------------------------------------ connection

template <class Transport, class Clock>
void session<Transport, Clock>::begin_connect(time_point n) {
  set_state(state::connecting);
  attempt_started_ = n;
  if (link_ == link::closing) {  // one connection at a time: wait for the old close
    connect_when_closed_ = true;
    return;
  }
  do_connect(n);
}

template <class Transport, class Clock>
void session<Transport, Clock>::do_connect(time_point n) {
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

template <class Transport, class Clock>
void session<Transport, Clock>::close_link(std::uint16_t code, std::string_view reason) {
  link_ = link::closing;
  closing_since_ = now();
  try {
    transport_.close(code, reason);  // may call on_close before returning
  } catch (const std::exception& e) {
    report_local(error_kind::transport, std::string("close failed: ") + e.what());
  }
}

/// We give up on the current connection (timeout, dead, send failure).
template <class Transport, class Clock>
void session<Transport, Clock>::fail_connection(std::uint16_t code, std::string_view reason) {
  teardown();
  close_link(code, reason);
  schedule_reconnect();
}

/// The transport lost the connection, or the attempt failed.
template <class Transport, class Clock>
void session<Transport, Clock>::lost(std::uint16_t code, std::string_view reason) {
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

template <class Transport, class Clock>
void session<Transport, Clock>::schedule_reconnect() {
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
template <class Transport, class Clock>
void session<Transport, Clock>::teardown() {
  ready_ = false;
  pacer_.clear_pause();
  awaiting_joins_ = 0;
  outbox_.clear();
  requests_.clear();
  scheduled_.clear();
  unanswered_pings_ = 0;
  for (auto& [name, r] : rooms_) {
    r.history.connection_lost();
    r.initial_join = false;
  }
  // In queue order, so that drops are reported oldest first.
  std::vector<std::string> retried;
  for (const auto& m : queue_.pending())
    if (in_flight_.count(m.client_msg_id) != 0) retried.push_back(m.client_msg_id);
  in_flight_.clear();
  for (const auto& id : retried) queue_.retry(id);
}

}  // namespace livechat::client

#endif
