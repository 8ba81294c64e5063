// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_IMPL_HUB_EVENTS_HPP
#define LIVECHAT_SERVER_IMPL_HUB_EVENTS_HPP

// The bodies of server::hub's frame intake (rate limit, decode, validation
// order) and of one handler per client event. The messages that come from
// outside a WebSocket are in impl/hub_ingest.hpp. `inline` as in
// impl/hub.hpp.

#include <livechat/server/hub.hpp>  // first: this file is only a part of it

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/sessions/session_rules.hpp>
#include <livechat/store/page_cap.hpp>
#include <livechat/version.hpp>

namespace livechat::server {

/// Token bucket: false (and answered) when the frame is refused. The
/// answer echoes the `ref` and `type` of a text frame's envelope, so the
/// client knows which frame to send again; only refused frames pay for
/// reading it, and more than max_refused_frames of them close the
/// connection, so that cost stays bounded.
template <class Transport, class Clock>
inline bool hub<Transport, Clock>::admit(connection& c, const std::string_view* frame) {
  const time_point now = clock_.now();
  ++stats_.frames_in;
  c.last_activity = now;
  if (c.tokens.try_take(now, {config_.rate_burst, config_.rate_per_second})) return true;
  c.refused.erase(c.refused.begin(),
                  std::find_if(c.refused.begin(), c.refused.end(), [&](const time_point& t) {
                    return now - t < config_.refused_window;
                  }));
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

template <class Transport, class Clock>
inline void hub<Transport, Clock>::handle_frame(connection& c, std::string_view frame) {
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
template <class Transport, class Clock>
template <class Event>
inline bool hub<Transport, Clock>::require_member(connection& c, const Event& ev,
                                                  const ref_type& ref) {
  if (rooms_.is_member(ev.room, &c)) return true;
  reply_error(c, errc::not_in_room, "join " + ev.room + " first", std::string(Event::type_name),
              std::nullopt, ref);
  return false;
}

/// Answers `internal` for a failed store call; true when it failed.
template <class Transport, class Clock>
template <class R, class Event>
inline bool hub<Transport, Clock>::store_failed(connection& c, const R& r, const Event&,
                                                const ref_type& ref) {
  if (r.ok()) return false;
  report("message store: " + r.error().message());
  reply_error(c, errc::internal, "could not reach the message store; try again",
              std::string(Event::type_name), std::nullopt, ref);
  return true;
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::auth& ev,
                                            const ref_type& ref) {
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
  if (link_ != nullptr) link_->local_presence(c.who.user_id, c.who.name, +1);
  reply(c,
        server_events::auth_success{c.who, c.public_id, protocol_version,
                                    config_.heartbeat_interval_ms, clock_.system_now()},
        ref);
  deliver(c, presence_frame());
  announce_presence(entry);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::join_room& ev,
                                            const ref_type& ref) {
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
  sign_urls(page->messages);  // before the cap: the urls count in the page's size
  cap_history_page(page.value(), config_.max_page_bytes, !since);
  auto session = store_.load_session(ev.room);
  if (store_failed(c, session, ev, ref)) return;
  auto read = store_.read_position(ev.room, c.who.user_id);
  if (store_failed(c, read, ev, ref)) return;

  typename room_registry<handle>::join_outcome joined;
  if (!already) joined = rooms_.join(ev.room, &c, c.who.user_id, c.who.name);
  if (link_ != nullptr) {
    link_->joined(ev.room, page->last_seq);
    if (joined.joined && joined.first_of_user)
      link_->local_member(ev.room, c.who.user_id, c.who.name, true);
  }

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
  u.read_seq = read.value();
  u.customer = customer_of(ev.room);
  reply(c, u, ref);
  if (joined.joined && joined.first_of_user && !member_elsewhere(ev.room, c.who.user_id))
    to_room(ev.room, make(server_events::operator_joined{ev.room, c.who.user_id, c.who.name}), &c);
}

template <class Transport, class Clock>
inline std::vector<user_ref> hub<Transport, Clock>::members_of(const std::string& room) const {
  std::vector<user_ref> out;
  for (const auto& [id, tally] : rooms_.users(room)) out.push_back({id, tally.name});
  const auto by_id = [](const user_ref& a, const user_ref& b) { return a.user_id < b.user_id; };
  std::sort(out.begin(), out.end(), by_id);
  if (link_ != nullptr) {  // and the other nodes' (sorted too); a user on two nodes once
    const std::vector<user_ref> remote = link_->remote_members(room);
    std::vector<user_ref> all;
    all.reserve(out.size() + remote.size());
    std::set_union(out.begin(), out.end(), remote.begin(), remote.end(), std::back_inserter(all),
                   by_id);
    out.swap(all);
  }
  return out;
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::leave_room& ev,
                                            const ref_type& ref) {
  if (!require_member(c, ev, ref)) return;
  const auto out = rooms_.leave(ev.room, &c, c.who.user_id);
  reply(c, server_events::room_left{ev.room}, ref);
  if (typing_.stop_if(ev.room, c.who.user_id, &c))
    to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, false}), &c,
            droppable::yes);
  if (out.last_of_user) {
    if (link_ != nullptr) link_->local_member(ev.room, c.who.user_id, c.who.name, false);
    if (!member_elsewhere(ev.room, c.who.user_id))
      to_room(ev.room, make(server_events::operator_left{ev.room, c.who.user_id, c.who.name}), &c);
  }
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::watch_inbox& ev,
                                            const ref_type& ref) {
  commit_outbox();
  conversation_query q;
  q.limit = config_.inbox_limit;
  q.max_bytes = config_.max_page_bytes;
  auto list = store_.list_conversations(q);
  if (store_failed(c, list, ev, ref)) return;
  for (auto& conversation : list->conversations) {
    if (conversation.last_message) sign_url(*conversation.last_message);
    conversation.customer = customer_of(conversation.room);
  }
  cap_conversation_page(list.value(), config_.max_page_bytes);
  // This user's read positions, one lookup for the page (not one per row).
  auto read = store_.fill_read_seq(c.who.user_id, list->conversations);
  if (store_failed(c, read, ev, ref)) return;
  c.watching_inbox = true;
  c.presence_stale = false;  // inbox_update carries the whole online list
  watchers_.insert(&c);
  deliver(c, std::make_shared<const std::string>(encode_inbox_update(
                 list->conversations, presence_.online_json(), clock_.system_now(),
                 ref ? std::optional<std::string_view>(*ref) : std::nullopt)));
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::unwatch_inbox&,
                                            const ref_type& ref) {
  watchers_.erase(&c);
  c.watching_inbox = false;
  c.presence_stale = false;
  reply(c, server_events::inbox_unwatched{}, ref);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, client_events::send_message& ev,
                                            const ref_type& ref) {
  if (!require_member(c, ev, ref)) return;
  // The decoded event is not read again but for its attachment_id and
  // client_msg_id: its room and text move into the request, which moves
  // into the store (one copy of each on the way, the append's result).
  append_request req;
  req.room = std::move(ev.room);
  req.sender = sender{sender_type::operator_, c.who.user_id, c.who.name};
  req.text = std::move(ev.text);
  req.client_msg_id = ev.client_msg_id.value_or(std::string());
  req.now = clock_.system_now();
  if (ev.attachment_id && !attach_upload(c, ev, req, ref)) return;
  if (store_.defers_appends() && !ev.attachment_id)
    return queue_message(c, std::move(req), ref, std::move(ev.client_msg_id));
  auto stored = store_.append(std::move(req));
  if (store_failed(c, stored, ev, ref)) return;
  sign_url(stored->message);
  message& m = stored->message;
  if (stored->duplicate) {
    // The original may still be in this turn's transaction: the answer
    // waits for the same commit.
    commit_.depend_on_batch();
    reply(c, server_events::message_sent{ev.client_msg_id, m, true}, ref);
    return;
  }
  note_write(&c, ref, "send_message");  // everything below waits for the commit
  // The message is encoded once, for the acknowledgement and the broadcast.
  const std::string json = encode_message_object(m);
  deliver(c, std::make_shared<const std::string>(encode_message_sent(
                 ev.client_msg_id, json, false, clock_.system_now(),
                 ref ? std::optional<std::string_view>(*ref) : std::nullopt)));
  // The message the typist was typing has arrived: the indicator ends,
  // after the message. Only the tracker is asked now (nothing publish
  // sends reads it), so that the message can move into publish.
  std::string typing_room;
  if (typing_.stop(m.room, c.who.user_id)) typing_room = m.room;
  publish(std::move(m), stored->session, &c, json);
  if (!typing_room.empty())
    to_room(typing_room, make(server_events::typing{typing_room, c.who.user_id, c.who.name, false}),
            &c, droppable::yes);
}

/// send_message on a store that defers its appends to the commit (one
/// round trip for the turn's messages and the commit): what needs the
/// stored message (the acknowledgement, the broadcast) is done by
/// finish_message at the commit, in the place in line kept now, so it
/// goes out in the order it would have without the wait.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::queue_message(connection& c, append_request&& req,
                                                 const ref_type& ref,
                                                 std::optional<std::string> client_msg_id) {
  std::string room = req.room;
  auto ticket = store_.queue_append(std::move(req));
  if (store_failed(c, ticket, client_events::send_message{}, ref)) return;
  note_write(&c, ref, "send_message");
  const std::size_t place = commit_.hold_place();
  if (share_places_.size() <= place) share_places_.resize(place + 1);
  if (link_ != nullptr) {
    // The room's events from now on follow this message through the link
    // (see ordered_by_link), as they do once its share is queued.
    message_rooms_.insert(room);
    pending_share marker{commit_.current_write(), cluster_event{}};
    marker.place = place;
    shares_.push_back(std::move(marker));
  }
  // The indicator ends now, so that a typing_start later in this turn
  // starts it again; the typing stop goes out with the message.
  const bool typing_stopped = typing_.stop(room, c.who.user_id);
  queued_messages_.push_back({&c, ref, std::move(client_msg_id), std::move(room), *ticket,
                              commit_.current_write(), place, typing_stopped});
}

/// What send_message does with its stored message, for a queued one
/// (see queue_message), once the batch is committed.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::finish_message(const queued_message& q,
                                                  std::vector<result<append_result>>& appended) {
  commit_.fill(q.place, q.write, [&] {
    connection& c = *q.from;
    guarded(&c, [&] {
      if (q.ticket >= appended.size() || !appended[q.ticket]) {
        report("message store: a queued append has no result");
        reply_error(c, errc::internal, "could not reach the message store; try again",
                    std::string("send_message"), std::nullopt, q.ref);
        return;
      }
      append_result& stored = *appended[q.ticket];
      sign_url(stored.message);
      message& m = stored.message;
      if (stored.duplicate) {
        reply(c, server_events::message_sent{q.client_msg_id, m, true}, q.ref);
      } else {
        const std::string json = encode_message_object(m);
        deliver(c, std::make_shared<const std::string>(encode_message_sent(
                       q.client_msg_id, json, false, clock_.system_now(),
                       q.ref ? std::optional<std::string_view>(*q.ref) : std::nullopt)));
        publish(std::move(m), stored.session, &c, json);  // the result is not read again
      }
      if (q.typing_stopped)
        to_room(q.room, make(server_events::typing{q.room, c.who.user_id, c.who.name, false}), &c,
                droppable::yes);
    });
  });
}

/// new_message to the room (but `except`), conversation_activity to the
/// inbox watchers, and, for an operator's message, the outbound channel.
/// `session`: the room's, as the append returned it (or as the caller
/// changed it since), so a message costs no session read.
/// `message_json`: `m` as encode_message_object wrote it, or empty.
template <class Transport, class Clock>
template <class Message>
inline void hub<Transport, Clock>::publish(Message&& m, const session_state& session,
                                           const connection* except,
                                           std::string_view message_json) {
  ++stats_.messages_stored;
  std::string own;
  if (message_json.empty()) message_json = own = encode_message_object(m);
  auto frame =
      std::make_shared<const std::string>(encode_new_message(message_json, clock_.system_now()));
  if (link_ != nullptr)  // the link delivers it here too, in seq order with the other nodes'
    share(cluster_audience::message, m.room, std::move(frame), m.seq, except);
  else
    to_room(m.room, std::move(frame), except);
  if (!watchers_.empty() || link_ != nullptr)  // other nodes' watchers too
    to_watchers(m.room, make(server_events::conversation_activity{
        m.room, std::string(conversation_id_of(m.room).value_or("")), m, session,
        customer_of(m.room)}));
  // Queued only for a handler (set before the message is published).
  if (m.sender.type == sender_type::operator_ && on_outbound_)
    commit_.defer_outbound(std::forward<Message>(m));
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::typing_start& ev,
                                            const ref_type& ref) {
  if (!require_member(c, ev, ref)) return;
  if (typing_.start(ev.room, c.who.user_id, c.who.name, &c, clock_.now() + config_.typing_timeout))
    to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, true}), &c,
            droppable::yes);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::typing_stop& ev,
                                            const ref_type& ref) {
  if (!require_member(c, ev, ref)) return;
  if (typing_.stop(ev.room, c.who.user_id))
    to_room(ev.room, make(server_events::typing{ev.room, c.who.user_id, c.who.name, false}), &c,
            droppable::yes);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::claim_session& ev,
                                            const ref_type& ref) {
  change_session<server_events::session_claimed>(
      c, ev, ref, [&](session_state& s) { return claim_session(s, c.who, clock_.system_now()); });
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::release_session& ev,
                                            const ref_type& ref) {
  change_session<server_events::session_released>(
      c, ev, ref, [&](session_state& s) { return release_session(s, c.who, clock_.system_now()); });
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::close_session& ev,
                                            const ref_type& ref) {
  change_session<server_events::session_closed>(
      c, ev, ref, [&](session_state& s) { return close_session(s, c.who, clock_.system_now()); });
}

template <class Transport, class Clock>
template <class Broadcast, class Event, class Rule>
inline void hub<Transport, Clock>::change_session(connection& c, const Event& ev,
                                                  const ref_type& ref, Rule&& rule) {
  if (!require_member(c, ev, ref)) return;
  // The save is a compare-and-set on the version the rule saw: with a
  // store several servers share, another one may change the session
  // between the load and the save. The loser loads what won and applies
  // the rule again (a claim then meets a claimed session). Bounded: each
  // lost round means another writer got through.
  constexpr int max_rounds = 4;
  for (int round = 1;; ++round) {
    auto s = store_.load_session(ev.room);
    if (store_failed(c, s, ev, ref)) return;
    const std::uint64_t seen = s->version;
    const session_outcome out = rule(s.value());
    if (out.error) {
      std::string text = "another operator holds this session";
      if (*out.error != errc::session_already_claimed)
        text = std::is_same_v<Event, client_events::close_session>
                   ? "only the holder or an admin can close a claimed session"
                   : "only the holder or an admin can release a claimed session";
      reply_error(c, *out.error, std::move(text), std::string(Event::type_name), std::nullopt,
                  ref);
      return;
    }
    if (out.effect == session_effect::reply_only) reply(c, Broadcast{ev.room, s.value()});
    if (out.effect != session_effect::changed) return;
    auto saved = store_.save_session_if(ev.room, seen, s.value());
    if (store_failed(c, saved, ev, ref)) return;
    if (!*saved) {
      // Lost, but the compare-and-set ran in this turn's batch, and a shared
      // store keeps the row it re-checked locked until that batch ends: it
      // must be committed like a write, or every other server's write to
      // the room waits for this one's next write.
      note_write(&c, ref, Event::type_name);
      if (round < max_rounds) continue;
      reply_error(c, errc::internal, "the session keeps changing; try again",
                  std::string(Event::type_name), std::nullopt, ref);
      return;
    }
    note_write(&c, ref, Event::type_name);
    to_room_and_watchers(ev.room, make(Broadcast{ev.room, s.value()}));
    return;
  }
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::mark_read& ev,
                                            const ref_type& ref) {
  if (!require_member(c, ev, ref)) return;
  auto newest = store_.last_seq(ev.room);
  if (store_failed(c, newest, ev, ref)) return;
  if (ev.seq > *newest) {
    reply_error(c, errc::validation_error, "seq is beyond the room's last message",
                std::string("mark_read"), std::string("seq"), ref);
    return;
  }
  auto position = store_.mark_read(ev.room, c.who.user_id, ev.seq);
  if (store_failed(c, position, ev, ref)) return;
  note_write(&c, ref, "mark_read");
  // The room's other connections, and this user's other tabs that watch
  // the inbox (their unread counts), each connection once.
  const payload_ptr receipt =
      make(server_events::read_receipt{ev.room, c.who.user_id, position.value()});
  to_room(ev.room, receipt, &c);
  for (handle h : watchers_)
    if (h != &c && h->who.user_id == c.who.user_id && !rooms_.is_member(ev.room, h))
      deliver(*h, receipt);
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::on_event(connection& c, const client_events::ping&,
                                            const ref_type& ref) {
  reply(c, server_events::pong{clock_.system_now()}, ref);
}

}  // namespace livechat::server

#endif
