// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_IMPL_HUB_CUSTOMERS_HPP
#define LIVECHAT_SERVER_IMPL_HUB_CUSTOMERS_HPP

// hub's bodies for customers (PROTOCOL.md "Rich messages ... and
// customers"): a profile that arrived after the customer's first message
// reaches the inbox watchers, on every node of a cluster. Included by
// server/hub.hpp.

#include <string>
#include <string_view>

#include <livechat/protocol/room_name.hpp>
#include <livechat/server/hub.hpp>

namespace livechat::server {

template <class Transport, class Clock>
inline void hub<Transport, Clock>::customer_changed(std::string_view conversation_id) {
  guarded(nullptr, [&] {
    push_customer(conversation_id, nullptr);
    // The profile lives in this node's memory: the others learn it from
    // the record and tell their own watchers.
    if (link_ == nullptr || !is_valid_conversation_id(conversation_id)) return;
    if (auto c = customer_of(room_of(conversation_id))) link_->customer_changed(*c);
  });
  commit_.end_call();
  drain_closes();
}

template <class Transport, class Clock>
inline void hub<Transport, Clock>::customer_from_cluster(const customer_profile& c) {
  guarded(nullptr, [&] {
    if (learn_customer_) learn_customer_(c);
    push_customer(c.id, &c);
  });
  commit_.end_call();
  drain_closes();
}

/// A full conversation_update, as a join without since_seq would get: a
/// client that has the room keeps its history (same epoch, nothing newer
/// than it has), one whose join is still on its way gets a consistent
/// snapshot, and every client already knows the event. Each watcher's
/// own read_seq, so it is encoded per watcher.
template <class Transport, class Clock>
inline void hub<Transport, Clock>::push_customer(std::string_view conversation_id,
                                                 const customer_profile* known) {
  if (watchers_.empty() || !is_valid_conversation_id(conversation_id)) return;
  commit_outbox();  // only committed history, as a join shows
  const std::string room = room_of(conversation_id);
  auto epoch = store_.epoch(room);
  if (!epoch) return report("message store: " + epoch.error().message());
  history_query hq;
  hq.limit = config_.history_page;
  hq.max_bytes = config_.max_page_bytes;
  auto page = store_.history(room, hq);
  if (!page) return report("message store: " + page.error().message());
  sign_urls(page->messages);
  cap_history_page(page.value(), config_.max_page_bytes, true);
  auto session = store_.load_session(room);
  if (!session) return report("message store: " + session.error().message());
  server_events::conversation_update u;
  u.room = room;
  u.conversation_id = std::string(conversation_id);
  u.session = std::move(session.value());
  u.members = members_of(room);
  u.messages = std::move(page->messages);
  u.last_seq = page->last_seq;
  u.has_more = page->has_more;
  u.epoch = std::move(epoch.value());
  // Another node's profile as it sent it, whether or not this node's
  // resolver has learned it.
  if (known != nullptr)
    u.customer = *known;
  else
    u.customer = customer_of(room);
  for (handle h : watchers_) {
    auto read = store_.read_position(room, h->who.user_id);
    if (!read) return report("message store: " + read.error().message());
    u.read_seq = read.value();
    deliver(*h, make(u));
  }
}

}  // namespace livechat::server

#endif
