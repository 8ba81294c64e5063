// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_IMPL_SESSION_SEND_HPP
#define LIVECHAT_CLIENT_IMPL_SESSION_SEND_HPP

// client::session bodies: what goes out and when. The outbox paced by the
// send pacer, the queued messages scheduled behind the rejoins, the resends
// after `rate_limited`, the joins and the readiness they gate. Included at
// the end of client/session.hpp; including this one first works too.

#include <algorithm>
#include <deque>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/server_codec.hpp>

// Last, after what the bodies use: session.hpp includes this file back
// (guarded) when this one is included first.
#include <livechat/client/session.hpp>

namespace livechat::client {

template <class Transport, class Clock>
void session<Transport, Clock>::send_now(std::string frame) {
  pacer_.consume(now());
  try {
    transport_.send(std::move(frame));
  } catch (const std::exception& e) {
    report_local(error_kind::transport, std::string("send failed: ") + e.what());
    if (link_ == link::open) fail_connection(close_codes::timeout, "send failed");
  }
}

template <class Transport, class Clock>
void session<Transport, Clock>::schedule(const std::string& client_msg_id) {
  if (scheduled_.count(client_msg_id) != 0 || in_flight_.count(client_msg_id) != 0) return;
  scheduled_.insert(client_msg_id);
  outbox_.push_back({{}, client_msg_id});
}

/// Sends what the token bucket allows, in order; nothing while paused
/// after a `rate_limited`.
template <class Transport, class Clock>
void session<Transport, Clock>::pump() {
  if (pumping_ || link_ != link::open) return;
  if (pacer_.paused(now())) return;
  pumping_ = true;
  pacer_.refill(now());
  while (!outbox_.empty() && link_ == link::open && pacer_.ready()) {
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

/// Sends again, after the pause, the request a `rate_limited` named by its
/// `ref`. A message keeps its client_msg_id and counts one retry (the
/// queue drops it beyond max_retries); it goes out before the messages
/// queued after it, although one of those that the server accepted
/// meanwhile stays ahead of it (seq tells the order).
template <class Transport, class Clock>
void session<Transport, Clock>::resend_refused(request req) {
  switch (req.kind) {
    case request_kind::send:
      in_flight_.erase(req.client_msg_id);
      if (queue_.retry(req.client_msg_id)) reschedule_messages();
      break;
    case request_kind::auth:
      if (state_ == state::authenticating)
        enqueue_frame(
            encode_client_event(client_events::auth{settings_.token}, new_ref(std::move(req))));
      break;
    case request_kind::join: {
      room_state* r = find_room(req.room);
      if (r == nullptr || !r->history.join_outstanding()) break;  // left meanwhile
      enqueue_frame(encode_client_event(r->history.join_request(), new_ref(std::move(req))));
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
        enqueue_frame(
            encode_client_event(client_events::unwatch_inbox{}, new_ref(std::move(req))));
      break;
  }
}

/// Puts every queued message that is not on the wire back in the outbox
/// in queue order, behind the other frames waiting there.
template <class Transport, class Clock>
void session<Transport, Clock>::reschedule_messages() {
  if (!ready_) return;  // become_ready() schedules them all
  std::deque<outgoing> frames;
  for (auto& o : outbox_)
    if (o.client_msg_id.empty()) frames.push_back(std::move(o));
  outbox_ = std::move(frames);
  scheduled_.clear();
  for (const auto& m : queue_.pending()) schedule(m.client_msg_id);  // skips those in flight
}

/// A join of `r`, with since_seq and epoch once its history is known;
/// `initial`: a rejoin the queue flush waits for; `fill`: to repair a gap.
template <class Transport, class Clock>
void session<Transport, Clock>::send_join(room_state& r, bool initial, bool fill) {
  client_events::join_room j = r.history.join_request();
  request q = make_request(request_kind::join);
  q.room = r.history.view().name;
  q.initial = initial;
  r.history.join_sent(fill);
  r.initial_join = initial;
  if (initial) ++awaiting_joins_;
  enqueue_frame(encode_client_event(j, new_ref(std::move(q))));
}

/// Rejoins `r` with since_seq to fill a gap, unless a join is on its way.
template <class Transport, class Clock>
void session<Transport, Clock>::request_fill(room_state& r) {
  if (state_ != state::connected || r.history.join_outstanding()) return;
  send_join(r, false, true);
}

/// Forgets a remembered room, dropping its queued messages with `why`.
template <class Transport, class Clock>
bool session<Transport, Clock>::forget_room(const std::string& room, drop_reason why) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return false;
  if (it->second.history.join_outstanding() && it->second.initial_join) join_answered();
  rooms_.erase(it);
  std::vector<std::string> ids;
  for (const auto& m : queue_.pending())
    if (m.room == room) ids.push_back(m.client_msg_id);
  for (const auto& id : ids) queue_.drop(id, why);
  return true;
}

/// The join of `r` was answered (conversation_update or error).
template <class Transport, class Clock>
void session<Transport, Clock>::finish_join(room_state* r, const std::optional<request>& req) {
  if (r == nullptr || !req || req->kind != request_kind::join || !r->history.join_answered())
    return;
  if (req->initial && r->initial_join) {
    r->initial_join = false;
    join_answered();
  }
}

/// A rejoin of this connection was answered (or abandoned).
template <class Transport, class Clock>
void session<Transport, Clock>::join_answered() {
  if (awaiting_joins_ > 0 && --awaiting_joins_ == 0 && state_ == state::connected) become_ready();
}

/// Every room is rejoined: the queued messages go out, oldest first.
template <class Transport, class Clock>
void session<Transport, Clock>::become_ready() {
  ready_ = true;
  for (const auto& m : queue_.pending()) schedule(m.client_msg_id);
}

// ------------------------------------------------------------ queue

template <class Transport, class Clock>
void session<Transport, Clock>::on_queue_drop(const queued_message& m, drop_reason why) {
  in_flight_.erase(m.client_msg_id);
  scheduled_.erase(m.client_msg_id);
  remove_pending(m.room, m.client_msg_id);
  if (on_dropped_)
    callbacks_.push([this, m, why] {
      if (on_dropped_) on_dropped_(m, why);
    });
}

template <class Transport, class Clock>
bool session<Transport, Clock>::remove_pending(std::string_view room,
                                               std::string_view client_msg_id) {
  room_state* r = find_room(room);
  if (r == nullptr) return false;
  auto& p = r->history.view().pending;
  auto it = std::find_if(p.begin(), p.end(), [&](const pending_message& x) {
    return x.client_msg_id == client_msg_id;
  });
  if (it == p.end()) return false;
  p.erase(it);
  return true;
}

/// The message is stored: take it out of the queue and the optimistic
/// list. True when it was still ours to confirm.
template <class Transport, class Clock>
bool session<Transport, Clock>::confirm(const std::string& client_msg_id,
                                        const std::string& room) {
  in_flight_.erase(client_msg_id);
  scheduled_.erase(client_msg_id);
  const bool queued = queue_.remove(client_msg_id);
  const bool shown = remove_pending(room, client_msg_id);
  return queued || shown;
}

}  // namespace livechat::client

#endif
