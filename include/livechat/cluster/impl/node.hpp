// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_IMPL_NODE_HPP
#define LIVECHAT_CLUSTER_IMPL_NODE_HPP

// The bodies of cluster::node's receiving side: the other nodes' event and
// presence records, the store fills that close a gap, and the remote
// typists whose typing ends when their node goes quiet.
//
// Every body is declared `inline`, as it was implicitly inside the class:
// what GCC's inliner weighs stays as it was.

#include <livechat/cluster/node.hpp>  // first: this file is only the second half of it

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

namespace livechat::cluster {

template <class Hub, class Clock>
inline void node<Hub, Clock>::on_event(bool inbox, std::string_view payload) {
  auto r = decode_event(payload);
  if (!r) {
    ++stats_.received_invalid;
    return;
  }
  if (r->origin == opt_.node_id) return;  // our own, back from the broker
  using server::cluster_audience;
  const std::string room(r->room);
  auto frame = [&] { return std::make_shared<const std::string>(r->frame); };
  if (inbox && r->to == cluster_audience::customer) {
    auto c = decode_customer(r->frame);
    if (!c) {
      ++stats_.received_invalid;
      return;
    }
    pending_.push_back([this, c = std::move(*c)] { hub_.customer_from_cluster(c); });
    return;
  }
  if (inbox) {
    if (r->to != cluster_audience::watchers && r->to != cluster_audience::room_and_watchers) return;
    if (sequencer_.tracked(room))  // after the room's messages it was sent after
      sequenced(room, sequencer_.offer_event(room, r->seq, item{frame(), {}, r->to}, clock_.now()));
    else
      deliver(r->to, room, frame());
    return;
  }
  if (!sequencer_.tracked(room)) return;  // a room we left a moment ago
  switch (r->to) {
    case cluster_audience::message: {
      if (r->frame.empty()) {  // a mark: seq exists; fill up to it if it is new
        if (r->seq >= sequencer_.next_seq(room)) fill(room);
        return;
      }
      if (r->seq < sequencer_.next_seq(room)) {
        ++stats_.duplicates;
        return;
      }
      sequenced(room, sequencer_.offer(room, r->seq, item{frame(), {}, r->to}, clock_.now()));
      return;
    }
    case cluster_audience::typing:
      note_typist(std::string(r->origin), r->frame);
      [[fallthrough]];
    case cluster_audience::room:
      sequenced(room, sequencer_.offer_event(room, r->seq, item{frame(), {}, r->to}, clock_.now()));
      return;
    case cluster_audience::watchers:
    case cluster_audience::room_and_watchers:
    case cluster_audience::customer:
      return;  // inbox channel only
  }
}

template <class Hub, class Clock>
inline void node<Hub, Clock>::fill(const std::string& room) {
  const std::uint64_t next = sequencer_.next_seq(room);
  if (next == 0) return;
  // This node's open batch is visible to its own store connection but
  // not yet handed to the sequencer (that happens at its commit): a read
  // now would deliver our own uncommitted messages from the store, to
  // their senders too, and the commit would then find them delivered.
  // The batch's commit reads instead (batch_committed).
  if (hub_.commit_pending()) {
    fill_wanted_.insert(room);
    return;
  }
  history_query q;
  q.since_seq = next - 1;
  q.limit = opt_.fill_page;
  auto page = store_.history(room, q);
  if (!page) {
    report("cluster: cannot read " + room + " to fill a gap: " + page.error().message());
    return;
  }
  ++stats_.gap_fills;
  std::vector<std::pair<std::uint64_t, item>> from_store;
  from_store.reserve(page->messages.size());
  for (const auto& m : page->messages)
    from_store.emplace_back(
        m.seq, item{std::make_shared<const std::string>(
                        encode(server_events::new_message{m}, clock_.system_now())),
                    {}, server::cluster_audience::message});
  auto out = sequencer_.fill(room, std::move(from_store), clock_.now(), !page->has_more);
  for (const auto& d : out) stats_.filled_messages += d.held ? 0 : 1;
  sequenced(room, std::move(out));
}

template <class Hub, class Clock>
inline void node<Hub, Clock>::note_typist(const std::string& origin, std::string_view frame) {
  rapidjson::Document d;
  d.Parse(frame.data(), frame.size());
  if (d.HasParseError() || !d.IsObject()) return;
  auto p = d.FindMember("payload");
  if (p == d.MemberEnd() || !p->value.IsObject()) return;
  auto room = p->value.FindMember("room");
  auto user = p->value.FindMember("user_id");
  auto name = p->value.FindMember("name");
  auto on = p->value.FindMember("is_typing");
  if (room == p->value.MemberEnd() || !room->value.IsString() || user == p->value.MemberEnd() ||
      !user->value.IsString() || name == p->value.MemberEnd() || !name->value.IsString() ||
      on == p->value.MemberEnd() || !on->value.IsBool())
    return;
  typist t{origin, room->value.GetString(), user->value.GetString(), name->value.GetString(),
           clock_.now() + opt_.typing_timeout + std::chrono::seconds(1)};
  std::string key = origin + '\n' + t.room + '\n' + t.user_id;
  if (on->value.GetBool())
    typists_[std::move(key)] = std::move(t);
  else
    typists_.erase(key);
}

template <class Hub, class Clock>
inline void node<Hub, Clock>::end_typing(const typist& t) {
  auto frame = std::make_shared<const std::string>(
      encode(server_events::typing{t.room, t.user_id, t.name, false}, clock_.system_now()));
  // Behind the typist's own events still waiting there (its typing_start
  // among them), never before.
  if (sequencer_.tracked(t.room))
    sequenced(t.room, sequencer_.offer_event(t.room, 0,
                                             item{std::move(frame), {}, server::cluster_audience::typing},
                                             clock_.now()));
  else
    deliver(server::cluster_audience::typing, t.room, std::move(frame));
}

template <class Hub, class Clock>
inline void node<Hub, Clock>::end_typists_of(const std::string& origin) {
  for (auto it = typists_.begin(); it != typists_.end();) {
    if (it->second.origin != origin) {
      ++it;
      continue;
    }
    end_typing(it->second);
    it = typists_.erase(it);
  }
}

template <class Hub, class Clock>
inline void node<Hub, Clock>::on_presence(std::string_view payload) {
  auto r = decode_presence(payload);
  if (!r) {
    ++stats_.received_invalid;
    return;
  }
  if (r->node == opt_.node_id) return;
  const time_point now = clock_.now();
  switch (r->op) {
    case presence_op::hello:
      publish_share();  // the newcomer needs ours
      return;
    case presence_op::share:
      apply(shares_.replace(r->node, r->users, now));
      return;
    case presence_op::set:
      for (const auto& u : r->users) apply(shares_.set(r->node, u, now));
      return;
    case presence_op::bye:
      apply(shares_.drop(r->node));
      end_typists_of(r->node);
      return;
  }
}

}  // namespace livechat::cluster

#endif
