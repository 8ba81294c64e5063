// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_IMPL_HUB_INGEST_HPP
#define LIVECHAT_SERVER_IMPL_HUB_INGEST_HPP

// hub's bodies for the messages that come from outside a WebSocket: a
// customer's from a channel's webhook (one at a time, or a whole delivery
// in one commit) and an operator's over REST. `inline` as in impl/hub.hpp.
// Included by server/hub.hpp.

#include <livechat/server/hub.hpp>  // first: this file is only a part of it

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <livechat/protocol/room_name.hpp>
#include <livechat/sessions/session_rules.hpp>

namespace livechat::server {

/// post_user_message's checks and request; a file's pending record.
template <class Transport, class Clock>
inline result<void> hub<Transport, Clock>::prepare_user_message(const inbound_message& in,
                                                               append_request& req) {
  if (!is_valid_conversation_id(in.conversation_id) || in.user_id.empty())
    return errc::validation_error;
  const std::string_view text = livechat::detail::trim(in.text);
  const std::size_t length = livechat::detail::utf8_length(text);
  if (length == 0 || length > config_.codec.max_text_length) return errc::validation_error;
  req.room = room_of(in.conversation_id);
  req.sender = sender{sender_type::user, in.user_id, in.name.empty() ? in.user_id : in.name};
  req.text = std::string(text);
  req.webhook_event_id = in.webhook_event_id;
  req.now = clock_.system_now();
  req.kind = in.kind;
  req.attachment = in.attachment;
  return pending_file(in, req.now);
}

/// What a stored (not duplicate) user message does: a closed session
/// reopens (session_released), then new_message and conversation_activity.
/// `own_commit`: the message is committed already (a delivery's batch), so
/// the reopen is a write of its own, committed before anything goes out;
/// else it joins the message's batch. Returns the session it announced.
template <class Transport, class Clock>
inline session_state hub<Transport, Clock>::announce_user_message(append_result& stored,
                                                                  const std::string& room,
                                                                  bool own_commit) {
  // The message is stored whatever happens to the session: a failure
  // there is reported and the message still goes out. The append read
  // the session (no round trip of its own).
  session_state session = stored.session;
  const std::uint64_t seen = session.version;
  if (reopen_on_user_message(session, clock_.system_now()).effect == session_effect::changed) {
    if (own_commit) note_write(nullptr, std::nullopt, "webhook");
    // Compare-and-set: when another server changed the session since
    // the append read it, its change stands (and is what the watchers see).
    auto saved = store_.save_session_if(room, seen, session);
    if (own_commit && !commit_outbox() && saved) saved = errc::store_failure;
    if (saved && *saved) {  // back to open with nobody holding it: what a release looks like
      to_room_and_watchers(room, make(server_events::session_released{room, session}));
    } else if (!saved) {
      report("message store: " + saved.error().message());
      session = stored.session;
    } else if (auto now = store_.load_session(room); now) {
      session = std::move(now.value());
    } else {
      report("message store: " + now.error().message());
      session = stored.session;
    }
  }
  sign_url(stored.message);
  publish(stored.message, session, nullptr);
  return session;
}

template <class Transport, class Clock>
inline result<append_result> hub<Transport, Clock>::ingest_user_message(const inbound_message& in) {
  append_request req;
  if (auto ready = prepare_user_message(in, req); !ready) return ready.error();
  auto stored = store_.append(std::move(req));
  if (!stored) return stored.error();
  if (!stored->duplicate) {
    note_write(nullptr, std::nullopt, "webhook");
    announce_user_message(*stored, stored->message.room, false);
  }
  if (!commit_outbox()) return errc::store_failure;
  return stored;
}

/// post_user_messages: on a store that defers its appends, every message
/// is queued and the commit carries them all (one round trip); each is
/// then announced as ingest_user_message would, in request order. Their
/// sends go out at once: what they depend on is committed.
template <class Transport, class Clock>
inline std::vector<result<append_result>> hub<Transport, Clock>::ingest_user_messages(
    const std::vector<inbound_message>& ms) {
  std::vector<result<append_result>> out;
  out.reserve(ms.size());
  if (!store_.defers_appends()) {
    // The delivery stops at its first store failure (the sender retries
    // it; what was stored is deduplicated): the rest are not tried.
    for (const auto& in : ms) {
      if (!out.empty() && !out.back() && out.back().error() != errc::validation_error)
        out.push_back(out.back().error());
      else
        out.push_back(ingest_user_message(in));
    }
    return out;
  }
  std::vector<std::string> rooms(ms.size());
  std::vector<std::size_t> queued;  // indexes into ms, in ticket order
  inbound_tickets_.clear();
  inbound_results_.clear();
  for (std::size_t i = 0; i < ms.size(); ++i) {
    append_request req;
    auto ready = prepare_user_message(ms[i], req);
    if (ready) {
      // Before the append: the batch is held (its commit carries the
      // queue) whatever the append turns out to be.
      note_write(nullptr, std::nullopt, "webhook");
      rooms[i] = req.room;
      auto ticket = store_.queue_append(std::move(req));
      if (ticket) {
        inbound_tickets_.push_back(*ticket);
        queued.push_back(i);
        out.push_back(errc::store_failure);  // until the commit answers
        continue;
      }
      out.push_back(ticket.error());
    } else {
      out.push_back(ready.error());
    }
  }
  if (!commit_outbox()) {
    inbound_tickets_.clear();
    inbound_results_.clear();
    for (std::size_t i : queued) out[i] = errc::store_failure;  // nothing of the batch is stored
    return out;
  }
  std::vector<result<append_result>> appended;
  appended.swap(inbound_results_);
  // One pipeline's appends to a room all return the session as it was
  // before them: the later ones go out with the one the first announced
  // (a closed session reopens once, not once per message).
  std::map<std::string, session_state, std::less<>> announced;
  for (std::size_t k = 0; k < queued.size() && k < appended.size(); ++k) {
    const std::size_t i = queued[k];
    out[i] = std::move(appended[k]);
    if (!out[i] || out[i]->duplicate) continue;
    if (auto seen = announced.find(rooms[i]); seen != announced.end())
      out[i]->session = seen->second;
    announced[rooms[i]] = announce_user_message(*out[i], rooms[i], true);
  }
  return out;
}

template <class Transport, class Clock>
inline result<append_result> hub<Transport, Clock>::ingest_operator_message(
    const identity& who, std::string_view conversation_id, std::string_view raw_text,
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
  auto stored = store_.append(std::move(req));
  if (!stored) return stored.error();
  if (!stored->duplicate) {
    note_write(nullptr, std::nullopt, "send_message");
    sign_url(stored->message);
    publish(stored->message, stored->session, nullptr);
  }
  if (!commit_outbox()) return errc::store_failure;
  return stored;
}

}  // namespace livechat::server

#endif
