// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_IMPL_HUB_HPP
#define LIVECHAT_SERVER_IMPL_HUB_HPP

// The bodies of server::hub's entry points and of the plumbing they share:
// encoding, sending under the two backpressure marks, deferred closes and
// the commit. The event handlers are in impl/hub_events.hpp.
//
// Every body is declared `inline`: defined in the class, as they were, they
// were implicitly so, and GCC's inliner weighs that hint; the broadcast
// loop's code depends on it (see `to_room`).

#include <livechat/server/hub.hpp>  // first: this file is only the second half of it

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <livechat/protocol/codec.hpp>

namespace livechat::server {

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_open(const connection_id& id) {
  if (connections_.count(id) != 0) return;
  const time_point now = clock_.now();
  auto c = std::make_unique<connection>();
  c->id = id;
  c->public_id = "c" + std::to_string(++next_connection_number_);
  c->opened_at = now;
  c->last_activity = now;
  c->tokens = livechat::detail::token_bucket<time_point>(config_.rate_burst, now);
  connections_.emplace(id, std::move(c));
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_message(const connection_id& id, std::string_view frame) {
  connection* c = find(id);
  if (c == nullptr || c->closing) return;
  guarded(c, [&] { handle_frame(*c, frame); });
  commit_.end_call();
  finish();
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_binary(const connection_id& id) {
  connection* c = find(id);
  if (c == nullptr || c->closing) return;
  guarded(c, [&] {
    if (!admit(*c, nullptr)) return;
    reply_error(*c, errc::unsupported_frame, "binary frames are not supported; send JSON text",
                std::nullopt, std::nullopt, std::nullopt);
  });
  finish();
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_close(const connection_id& id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  guarded(nullptr, [&] { forget(*it->second); });
  retire(it);
  finish();
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::tick(time_point now) {
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

template <class Transport, class Clock>
inline void hub<Transport, Clock>::shutdown(std::uint16_t code, std::string_view reason) {
  commit();  // finish the writes first: what was stored is acknowledged
  for (auto& [id, c] : connections_) request_close(*c, code, reason);
  drain_closes();
}

template <class Transport, class Clock>
inline bool hub<Transport, Clock>::commit() {
  bool ok = true;
  guarded(nullptr, [&] { ok = commit_outbox(); });
  drain_closes();
  return ok;
}

template <class Transport, class Clock>
inline result<append_result> hub<Transport, Clock>::post_user_message(const inbound_message& m) {
  return guarded_call<result<append_result>>([&] { return ingest_user_message(m); });
}

template <class Transport, class Clock>
inline std::vector<result<append_result>> hub<Transport, Clock>::post_user_messages(
    const std::vector<inbound_message>& ms) {
  using results = std::vector<result<append_result>>;
  auto out = guarded_call<result<results>>(
      [&]() -> result<results> { return ingest_user_messages(ms); });
  inbound_tickets_.clear();  // left by a throw
  inbound_results_.clear();
  if (out) return std::move(out).value();
  return results(ms.size(), result<append_result>(out.error()));
}

template <class Transport, class Clock>
inline result<append_result> hub<Transport, Clock>::post_operator_message(
    const identity& who, std::string_view conversation_id, std::string_view text,
    std::string_view client_msg_id) {
  return guarded_call<result<append_result>>(
      [&] { return ingest_operator_message(who, conversation_id, text, client_msg_id); });
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::deliver_from_cluster(cluster_audience to, const std::string& room,
                                                        const payload_ptr& frame,
                                                        std::string_view except) {
  guarded(nullptr, [&] { to_room_except(to, room, frame, except); });
  finish();
}

/// `p` to this node's audience `to` of `room`, but the connection whose
/// public id is `except` (the sender of a message, on its own node).
template <class Transport, class Clock>
inline void hub<Transport, Clock>::to_room_except(cluster_audience to, const std::string& room,
                                                  const payload_ptr& p, std::string_view except) {
  if (to != cluster_audience::watchers)
    for (handle h : rooms_.members(room)) {
      if (!except.empty() && h->public_id == except) continue;
      if (to == cluster_audience::typing && skip_droppable(*h)) continue;
      deliver(*h, p);
    }
  if (to == cluster_audience::watchers || to == cluster_audience::room_and_watchers)
    for (handle h : watchers_)
      if (to == cluster_audience::watchers || !rooms_.is_member(room, h)) deliver(*h, p);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::apply_remote_presence(const std::string& user_id,
                                                         const std::string& name,
                                                         std::int64_t delta) {
  guarded(nullptr, [&] {
    if (delta == 0) return;
    presence_entry last;
    std::size_t& remote = remote_connections_[user_id];
    for (std::int64_t i = 0; i < delta; ++i, ++remote) last = presence_.connect(user_id, name);
    for (std::int64_t i = 0; i > delta && remote > 0 && presence_.is_online(user_id); --i, --remote)
      last = presence_.disconnect(user_id);
    if (remote == 0) remote_connections_.erase(user_id);
    if (last.user_id.empty()) return;  // nothing changed
    announce_presence(last);
  });
  finish();
}

/// Hands `p` to the cluster link once this turn's writes are committed
/// (`local`: the link delivers it to this node's audience too).
template <class Transport, class Clock>
inline void hub<Transport, Clock>::share(cluster_audience to, const std::string& room,
                                         const payload_ptr& p, std::uint64_t seq,
                                         const connection* except, bool local) {
  cluster_event e{to, room, seq, p, except != nullptr ? except->public_id : std::string(), local};
  if (commit_.holding()) {
    if (to == cluster_audience::message) message_rooms_.insert(room);
    const std::size_t place = commit_.filling();
    (place == commit_queue::no_place ? shares_ : share_places_[place])
        .push_back({commit_.current_write(), std::move(e)});
  } else {
    const bool deliver_now = link_->committed(e);
    link_->flush_committed();
    if (deliver_now && to == cluster_audience::message) to_room_except(to, room, p, e.except);
  }
}

/// After a commit, before its sends go out: the shares that survive it
/// (all, or those that depended on no write), in order. A message the link
/// hands back joins this commit's sends, in line behind the acknowledgement.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::share_committed(bool committed) {
  if (shares_.empty()) return;
  message_rooms_.clear();
  std::vector<pending_share> due;
  due.swap(shares_);
  std::vector<std::vector<pending_share>> places;
  places.swap(share_places_);
  auto hand_over = [&](const pending_share& s) {
    guarded(nullptr, [&] {
      const cluster_event& e = s.event;
      if (link_->committed(e) && e.to == cluster_audience::message)
        to_room_except(e.to, e.room, e.frame, e.except);
    });
  };
  for (auto& s : due) {
    if (s.place != commit_queue::no_place) {  // a queued message's, filled after a commit
      if (committed)
        for (auto& filled : places[s.place]) hand_over(filled);
    } else if (committed || s.write == 0) {
      hand_over(s);
    }
  }
  guarded(nullptr, [&] { link_->flush_committed(); });
}

template <class Transport, class Clock>
inline auto hub<Transport, Clock>::find(const connection_id& id) -> connection* {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

template <class Transport, class Clock>
template <class F>
inline void hub<Transport, Clock>::guarded(connection* c, F&& f) noexcept {
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

template <class Transport, class Clock>
template <class R, class F>
inline R hub<Transport, Clock>::guarded_call(F&& f) {
  R out = errc::internal;
  guarded(nullptr, [&] { out = f(); });
  commit_.end_call();
  drain_closes();
  return out;
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::report(std::string_view what) noexcept {
  if (!on_error_) return;
  try {
    on_error_(what);
  } catch (...) {
  }
}

template <class Transport, class Clock>
template <class Event>
inline payload_ptr hub<Transport, Clock>::make(const Event& e, const ref_type& ref) {
  return std::make_shared<const std::string>(
      encode(e, clock_.system_now(),
             ref ? std::optional<std::string_view>(*ref) : std::nullopt));
}

/// Sends now, or queues behind the uncommitted writes of this turn so
/// that nothing overtakes them on any connection.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::deliver(connection& c, const payload_ptr& p) {
  if (c.closing || commit_.defer(c, p)) return;
  send_now(c, p);
}

/// The hard mark is checked before the send: what is already queued shows
/// a reader that is behind, while one frame larger than the mark (a
/// recovery page of 500 long messages is ~2 MiB) must still go out whole,
/// or the client could never resume. The backlog is thus bounded by
/// max_unsent_bytes plus one frame.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::send_now(connection& c, const payload_ptr& p,
                                            bool queued_before_close) {
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
template <class Transport, class Clock>
inline bool hub<Transport, Clock>::behind(connection& c) {
  return config_.soft_unsent_bytes != 0 &&
         transport_.buffered_amount(c.id) > config_.soft_unsent_bytes;
}

/// True (and counted) when a droppable event is not to be sent to `c`.
template <class Transport, class Clock>
inline bool hub<Transport, Clock>::skip_droppable(connection& c) {
  if (c.closing || !behind(c)) return false;
  ++stats_.events_skipped_backpressure;
  return true;
}

/// The whole online list to a watcher that missed a diff; `online` is
/// encoded once per call site and shared by every watcher it resyncs.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::resync_presence(connection& c, payload_ptr& online) {
  if (!online) online = presence_frame();
  c.presence_stale = false;
  deliver(c, online);
}

/// presence_update of the whole online list, from the array presence_
/// keeps encoded (one copy: no walk, no writer per user). The same frame is handed
/// out again while neither the list nor the timestamp's millisecond moved.
template <class Transport, class Clock>
inline payload_ptr hub<Transport, Clock>::presence_frame() {
  const system_time now = clock_.system_now();
  if (!presence_frame_ || presence_frame_version_ != presence_.version() ||
      presence_frame_time_ != now) {
    presence_frame_ =
        std::make_shared<const std::string>(encode_presence_update(presence_.online_json(), now));
    presence_frame_version_ = presence_.version();
    presence_frame_time_ = now;
  }
  return presence_frame_;
}

template <class Transport, class Clock>
template <class Event>
inline void hub<Transport, Clock>::reply(connection& c, const Event& e, const ref_type& ref) {
  deliver(c, make(e, ref));
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::reply_error(connection& c, errc code, std::string text,
                                               std::optional<std::string> request_type,
                                               std::optional<std::string> field,
                                               const ref_type& ref) {
  const auto index = static_cast<std::size_t>(code);
  if (index < stats_.errors_out.size()) ++stats_.errors_out[index];
  reply(c, server_events::error{code, std::move(text), std::move(request_type), std::move(field)},
        ref);
}

/// Every connection in `room` except `except`; with droppable::yes, not
/// those that are behind. The flag is a constant at every call site, so
/// the message path's loop does not pay for it. (`typing` calls this
/// directly rather than through a wrapper: with fewer call sites GCC 12
/// inlines it into `publish` but stops inlining `deliver` into the loop,
/// ~9 instructions more per recipient.)
template <class Transport, class Clock>
inline void hub<Transport, Clock>::to_room(const std::string& room, const payload_ptr& p,
                                           const connection* except, droppable drop) {
  if (link_ != nullptr) {
    const auto to = drop == droppable::yes ? cluster_audience::typing : cluster_audience::room;
    if (ordered_by_link(room)) return share(to, room, p, 0, except, true);
    share(to, room, p);
  }
  for (handle h : rooms_.members(room))
    if (h != except && !(drop == droppable::yes && skip_droppable(*h))) deliver(*h, p);
}

/// A message of `room` is on its way to this node's members through the
/// link: waiting in this batch for its commit (its local delivery then
/// joins the commit's sends, behind anything queued now), or held by the
/// link for an earlier seq. An event of the room sent now must follow it,
/// so the link delivers the event here too, after the message.
template <class Transport, class Clock>
inline bool hub<Transport, Clock>::ordered_by_link(const std::string& room) const {
  return message_rooms_.count(room) != 0 || link_->holding(room);
}

/// The inbox watchers, about `room`'s newest message
/// (conversation_activity): in a cluster it follows that message, here and
/// on every node where the room has members, so a watcher that is also a
/// member never gets the activity before the message it names.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::to_watchers(const std::string& room, const payload_ptr& p) {
  if (link_ != nullptr) {
    if (ordered_by_link(room)) return share(cluster_audience::watchers, room, p, 0, nullptr, true);
    share(cluster_audience::watchers, room, p);
  }
  for (handle h : watchers_) deliver(*h, p);
}

/// The room and the inbox watchers, each connection once.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::to_room_and_watchers(const std::string& room,
                                                        const payload_ptr& p) {
  if (link_ != nullptr) {
    if (ordered_by_link(room)) return share(cluster_audience::room_and_watchers, room, p, 0, nullptr, true);
    share(cluster_audience::room_and_watchers, room, p);
  }
  for (handle h : rooms_.members(room)) deliver(*h, p);
  for (handle h : watchers_)
    if (!rooms_.is_member(room, h)) deliver(*h, p);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::request_close(connection& c, std::uint16_t code,
                                                 std::string_view reason) {
  if (c.closing) return;
  c.closing = true;
  commit_.defer_close(c.id, code, reason);
}

/// Forgets the connections asked to close, then tells the transport.
/// Forgetting broadcasts (operator_left, presence_diff), which may close
/// more slow consumers: loop until none is left.
///
/// While writes wait for a commit, so do the closes: the frames queued
/// for a connection before it was asked to close (the `auth_failed`
/// before 4003, the error before 1008) are in the outbox and must reach
/// it first (commit_queue holds them). commit() drains them after sending
/// the outbox.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::drain_closes() {
  for (std::size_t round = 0; round <= connections_.size(); ++round) {
    const auto batch = commit_.take_closes();  // none while writes wait for a commit
    if (batch.empty()) return;
    for (const auto& p : batch) {
      auto it = connections_.find(p.id);
      if (it == connections_.end()) continue;
      guarded(nullptr, [&] { forget(*it->second); });
      retire(it);
      guarded(nullptr, [&] { transport_.close(p.id, p.code, p.reason); });
    }
  }
}

/// Erases a forgotten connection; while the commit queue may still point
/// at it, the queue keeps it until the commit.
template <class Transport, class Clock>
template <class It>
inline void hub<Transport, Clock>::retire(It it) {
  it->second->muted = true;
  commit_.retire(std::move(it->second));
  connections_.erase(it);
}

/// The end of every entry point: commit unless the embedder groups
/// commits per turn, then carry out the closes asked for meanwhile.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::finish() {
  if (commit_.holding() && !config_.group_commit) guarded(nullptr, [&] { commit_outbox(); });
  drain_closes();
}

/// Records that `requester` made a write the next commit must carry.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::note_write(connection* requester, const ref_type& ref,
                                              std::string_view request_type) {
  commit_.note_write(requester, ref, request_type, [&] {
    if (config_.group_commit && request_commit_) request_commit_();
  });
}

template <class Transport, class Clock>
inline bool hub<Transport, Clock>::commit_outbox() {
  if (!commit_.holding()) return true;
  auto flushed = store_.flush();
  if (!flushed) report("message store commit failed: " + flushed.error().message());
  // The queued messages' appends are answered now: their sends fill the
  // places they kept in line (nothing of a failed batch is stored, so
  // they are told `internal` with the other writes below).
  std::vector<queued_message> queued;
  queued.swap(queued_messages_);
  auto appended = store_.take_appends();
  if (flushed.ok())
    for (const auto& q : queued) finish_message(q, appended);
  // A delivery's appends are announced by ingest_user_messages, after the
  // commit (see there).
  for (std::size_t ticket : inbound_tickets_)
    inbound_results_.push_back(flushed.ok() && ticket < appended.size()
                                   ? std::move(appended[ticket])
                                   : result<append_result>(errc::store_failure));
  inbound_tickets_.clear();
  // A send that depended on a write goes out only if the commit kept the
  // write (else it was rolled back). A connection asked to close since
  // still gets what was queued for it before: its close waits for this.
  if (link_ != nullptr) share_committed(flushed.ok());
  commit_.settle(
      flushed.ok(), [&](connection& to, const payload_ptr& p) { send_now(to, p, true); },
      [&](const message& m) {
        if (on_outbound_) guarded(nullptr, [&] { on_outbound_(m); });
      },
      [&](const typename commit_queue::write& w) {
        if (w.requester != nullptr && !w.requester->closing)
          reply_error(*w.requester, errc::internal, "could not store; try again", w.request_type,
                      std::nullopt, w.ref);
      });
  share_places_.clear();  // without a link nothing took them
  if (link_ != nullptr) guarded(nullptr, [&] { link_->batch_committed(); });
  return flushed.ok();
}

/// Leaves the connection's rooms and presence, telling whoever is left.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::forget(connection& c) {
  c.closing = true;
  if (c.watching_inbox) watchers_.erase(&c);
  c.watching_inbox = false;
  if (!c.authenticated) return;
  c.authenticated = false;
  const std::string& user = c.who.user_id;
  if (link_ != nullptr) link_->local_presence(user, c.who.name, -1);
  for (auto& [room, out] : rooms_.leave_all(&c, user)) {
    if (typing_.stop_if(room, user, &c))
      to_room(room, make(server_events::typing{room, user, c.who.name, false}), nullptr,
              droppable::yes);
    if (out.last_of_user) {
      if (link_ != nullptr) link_->local_member(room, user, c.who.name, false);
      if (!member_elsewhere(room, user))
        to_room(room, make(server_events::operator_left{room, user, c.who.name}), nullptr);
    }
  }
  announce_presence(presence_.disconnect(user));
}

/// presence_diff to the watchers. One that is behind skips it and is
/// marked stale; a stale one that has caught up gets the whole list
/// instead (it already includes this change), so no diff is ever applied
/// to a list that missed one.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::announce_presence(const presence_entry& e) {
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

}  // namespace livechat::server

#endif
