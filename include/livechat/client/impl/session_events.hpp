// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_IMPL_SESSION_EVENTS_HPP
#define LIVECHAT_CLIENT_IMPL_SESSION_EVENTS_HPP

// client::session bodies: one handler per server event, and the delivery
// of what each room's history applies. Included at the end of
// client/session.hpp; including this one first works too.

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/server_codec.hpp>

// Last, after what the bodies use: session.hpp includes this file back
// (guarded) when this one is included first.
#include <livechat/client/session.hpp>

namespace livechat::client {

// ------------------------------------------------------------ history

/// `m` was applied to `r`'s history: deliver it.
template <class Transport, class Clock>
void session<Transport, Clock>::applied(room_state& r, const message& m) {
  // Our own message, seen in history before its acknowledgement (which a
  // disconnect may have swallowed): it is stored, so no resend is needed.
  if (!m.client_msg_id.empty() && identity_ && m.sender.type == sender_type::operator_ &&
      m.sender.id == identity_->user_id && confirm(m.client_msg_id, r.history.view().name))
    notify(on_message_sent_, m.client_msg_id, m, true);
  notify(on_message_, m);
}

/// A live message (new_message, message_sent): delivered if it is the
/// next one, ignored if already seen, and a gap is filled by rejoining.
template <class Transport, class Clock>
void session<Transport, Clock>::deliver_live(room_state& r, const message& m) {
  const auto what = r.history.on_live(m, [&](const message& x) { applied(r, x); });
  // The fill's conversation_update will contain m.
  if (what == room_history::live::gap && !r.history.filling()) request_fill(r);
}

template <class Transport, class Clock>
void session<Transport, Clock>::update_session(room_state& r, const session_state& s) {
  room_view& v = r.history.view();
  if (v.session && v.session->version >= s.version) {
    if (v.session->version > s.version) return;
    // Same version: nothing new to report.
    v.session = s;
    return;
  }
  v.session = s;
  notify(on_session_, v.name, s);
}

// ------------------------------------------------------------ server events

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::auth_success& e,
                                       const std::optional<std::string>& ref) {
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

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::conversation_update& e,
                                       const std::optional<std::string>& ref) {
  const std::optional<request> req = take_request(ref);
  room_state* r = find_room(e.room);
  const bool was_fill =
      r != nullptr && r->history.filling() && req && req->kind == request_kind::join;
  finish_join(r, req);
  if (r != nullptr) {
    r->history.view().members = e.members;
    update_session(*r, e.session);
    const bool fill = r->history.on_update(
        e, was_fill, [&] { notify(on_history_reset_, r->history.view().name); },
        [&](const message& m) { applied(*r, m); });
    if (fill) request_fill(*r);
  }
  notify(on_conversation_, e);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::new_message& e,
                                       const std::optional<std::string>&) {
  if (room_state* r = find_room(e.message.room)) deliver_live(*r, e.message);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::message_sent& e,
                                       const std::optional<std::string>& ref) {
  const std::optional<request> req = take_request(ref);
  std::string id = e.client_msg_id.value_or(req ? req->client_msg_id : std::string());
  const bool ours = !id.empty() && confirm(id, e.message.room);
  if (room_state* r = find_room(e.message.room)) deliver_live(*r, e.message);
  if (ours) notify(on_message_sent_, id, e.message, e.duplicate);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::error& e,
                                       const std::optional<std::string>& ref) {
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
    pacer_.slow_down(now());
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

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::presence_update& e,
                                       const std::optional<std::string>&) {
  online_.clear();
  for (auto& p : e.online) online_[p.user_id] = p;
  notify(on_presence_, online());
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::presence_diff& e,
                                       const std::optional<std::string>&) {
  for (const auto& id : e.offline) online_.erase(id);
  for (auto& p : e.online) online_[p.user_id] = p;
  notify(on_presence_, online());
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::inbox_update& e,
                                       const std::optional<std::string>& ref) {
  take_request(ref);
  online_.clear();
  for (auto& p : e.online) online_[p.user_id] = p;
  for (const auto& c : e.conversations)
    if (room_state* r = find_room(c.room)) update_session(*r, c.session);
  notify(on_inbox_, e);
  notify(on_presence_, online());
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::inbox_unwatched&,
                                       const std::optional<std::string>& ref) {
  take_request(ref);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::room_left&,
                                       const std::optional<std::string>& ref) {
  take_request(ref);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::pong&,
                                       const std::optional<std::string>& ref) {
  take_request(ref);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::conversation_activity& e,
                                       const std::optional<std::string>&) {
  if (room_state* r = find_room(e.room)) update_session(*r, e.session);
  notify(on_activity_, e);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::typing& e,
                                       const std::optional<std::string>&) {
  notify(on_typing_, e);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::operator_joined& e,
                                       const std::optional<std::string>&) {
  if (room_state* r = find_room(e.room)) {
    auto& ms = r->history.view().members;
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

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::operator_left& e,
                                       const std::optional<std::string>&) {
  if (room_state* r = find_room(e.room)) {
    auto& ms = r->history.view().members;
    ms.erase(std::remove_if(ms.begin(), ms.end(),
                            [&](const user_ref& u) { return u.user_id == e.user_id; }),
             ms.end());
  }
  notify(on_operator_left_, e);
}

template <class Transport, class Clock>
template <class E>
void session<Transport, Clock>::handle_session_event(E& e) {
  if (room_state* r = find_room(e.room)) {
    update_session(*r, e.session);
  } else {
    notify(on_session_, e.room, e.session);  // a watched room we did not join
  }
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::session_claimed& e,
                                       const std::optional<std::string>&) {
  handle_session_event(e);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::session_released& e,
                                       const std::optional<std::string>&) {
  handle_session_event(e);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::session_closed& e,
                                       const std::optional<std::string>&) {
  handle_session_event(e);
}

template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::read_receipt& e,
                                       const std::optional<std::string>&) {
  notify(on_read_receipt_, e);
}

/// The room's copy of the message takes the new attachment (the history
/// keeps seq order, so a binary search finds it), then the callback runs.
template <class Transport, class Clock>
void session<Transport, Clock>::handle(server_events::attachment_updated& e,
                                       const std::optional<std::string>&) {
  auto room = rooms_.find(e.room);
  if (room != rooms_.end()) {
    auto& messages = room->second.history.view().messages;
    auto it = std::lower_bound(messages.begin(), messages.end(), e.seq,
                               [](const message& m, std::uint64_t seq) { return m.seq < seq; });
    if (it != messages.end() && it->seq == e.seq && it->id == e.message_id &&
        std::holds_alternative<file_attachment>(it->attachment))
      it->attachment = e.attachment;
  }
  notify(on_attachment_updated_, e);
}

}  // namespace livechat::client

#endif
