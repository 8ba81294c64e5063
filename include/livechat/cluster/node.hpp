// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_NODE_HPP
#define LIVECHAT_CLUSTER_NODE_HPP

// One node of a cluster: the hub's cluster_link over a bus (Redis). It
//  - publishes each committed event once, the frame as bytes, on the
//    room's channel (`<prefix>room:<room>`) or the inbox channel;
//  - subscribes to the rooms this node's connections joined (dropping a
//    room when its last local member left) and to the inbox and presence
//    channels;
//  - delivers new_message, local and remote alike, in `seq` order per room
//    (room_sequencer.hpp): a message that skips ahead waits; a gap still
//    open after `gap_wait`, or right after a (re)subscription, is filled
//    from the store;
//  - stamps every other event it publishes with the room's newest seq it
//    knew committed, and delivers the other nodes' events of a room it
//    orders only after the message of their stamp (a session_closed sent
//    after message 41 never overtakes 41);
//  - keeps this node's presence share under a lease (a hash per node with
//    an expiry, renewed every third of the lease, and the whole share
//    published with each renewal) and applies the other nodes' shares to
//    the hub; a node not heard from within the lease loses its share and
//    its typists stop typing. A share names each user's rooms, so every
//    node knows every room's members (conversation_update.members) and
//    whether a user's join or leave is their first or last in the room
//    cluster-wide (one operator_joined, one operator_left);
//  - passes a customer profile one node fetched to the others, which
//    answer their own inbox watchers.
// Nothing here waits for the broker: a publish that cannot go out is
// dropped and counted, and what it carried is recovered from the store.
// The receiving side's bodies (the other nodes' records, store fills,
// remote typists) are in <livechat/cluster/impl/node.hpp>.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <livechat/cluster/bus.hpp>
#include <livechat/cluster/envelope.hpp>
#include <livechat/cluster/node_stats.hpp>
#include <livechat/cluster/presence_shares.hpp>
#include <livechat/cluster/room_sequencer.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/server/cluster_link.hpp>
#include <livechat/store/message_store.hpp>

namespace livechat::cluster {

struct node_options {
  std::string node_id;                       ///< is_valid_node_id
  std::string prefix = "livechat:";          ///< of every channel and key
  std::chrono::milliseconds presence_ttl{15'000};
  std::chrono::milliseconds gap_wait{150};   ///< how long a skipped seq may stay missing
  std::chrono::milliseconds typing_timeout{3'000};  ///< as the hub's; a remote typist ends 1 s later
  std::size_t max_held = 1000;               ///< per room, before a fill is forced
  std::size_t fill_page = 500;               ///< messages per store read
};

/// @tparam Hub    server::hub<Transport, Clock>
/// @tparam Clock  the hub's clock
/// @par Thread Safety
/// None: the hub's thread drives it (hub callbacks, bus events, `tick`).
template <class Hub, class Clock>
class node final : public server::cluster_link {
 public:
  using time_point = typename Clock::time_point;
  /// Runs a function later on the hub's thread, outside any hub call.
  using post_fn = std::function<void(std::function<void()>)>;
  using error_handler = std::function<void(std::string_view)>;

  node(Hub& hub, message_store& store, bus& b, Clock& clock, node_options o, post_fn post)
      : hub_(hub), store_(store), bus_(b), clock_(clock), opt_(std::move(o)), post_(std::move(post)),
        sequencer_(opt_.max_held) {
    inbox_channel_ = opt_.prefix + "inbox";
    presence_channel_ = opt_.prefix + "presence";
    lease_key_ = opt_.prefix + "presence:" + opt_.node_id;
    bus_.subscribe(inbox_channel_);
    bus_.subscribe(presence_channel_);
  }

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  void set_error_handler(error_handler h) { on_error_ = std::move(h); }
  const node_stats& stats() const noexcept { return stats_; }
  const std::string& id() const noexcept { return opt_.node_id; }
  std::size_t rooms_subscribed() const noexcept { return sequencer_.room_count(); }
  std::size_t nodes_known() const noexcept { return shares_.node_count(); }

  // --- server::cluster_link (inside hub calls: deliveries are posted) ----

  bool committed(const server::cluster_event& e) override {
    // Every node listens to the inbox channel, so an event for the room and
    // the watchers goes there alone and each connection gets it once.
    const bool inbox = e.to == server::cluster_audience::watchers ||
                       e.to == server::cluster_audience::room_and_watchers;
    const std::string& channel = inbox ? inbox_channel_ : room_channel(e.room);
    const bool message = e.to == server::cluster_audience::message;
    if (message) note_own(e.room, e.seq);
    // Any other event carries the newest message it must not overtake.
    const std::uint64_t seq = message ? e.seq : e.room.empty() ? 0 : known_seq(e.room);
    const std::string record = encode_event(opt_.node_id, e.to, seq, e.room, *e.frame);
    if (bus_.publish(channel, record)) {
      ++stats_.published;
    } else {
      ++stats_.publish_dropped;
      // The others find a lost message at the next one, or at this mark.
      if (e.to == server::cluster_audience::message) {
        auto& mark = unannounced_[e.room];
        mark = std::max(mark, e.seq);
      }
    }
    if (!message) {
      if (e.local) {  // this node's members get it after the message it follows, too
        if (sequencer_.tracked(e.room))
          sequenced(e.room, sequencer_.offer_event(e.room, seq, item{e.frame, e.except, e.to}, clock_.now()));
        else
          deliver(e.to, e.room, e.frame, e.except);
        schedule_flush();
      }
      return false;
    }
    auto out = sequencer_.offer(e.room, e.seq, item{e.frame, e.except, e.to}, clock_.now());
    // Next in line with nothing waiting: the hub sends it in this turn (the
    // common case, one node's own message). Else it joins the queue.
    if (out.size() == 1 && !out.front().held && pending_.empty()) return true;
    sequenced(e.room, std::move(out));
    schedule_flush();
    return false;
  }

  void flush_committed() override { bus_.flush(); }

  /// The fills put off while a batch was open run now. Under a steady write
  /// load a batch is open at almost every tick, and they used to wait for
  /// a tick that found none (held messages waited up to a second).
  void batch_committed() override {
    if (fill_wanted_.empty()) return;
    std::unordered_set<std::string> wanted;
    wanted.swap(fill_wanted_);
    for (const auto& room : wanted) fill(room);
    schedule_flush();  // inside a hub call: the deliveries are posted
  }

  bool holding(const std::string& room) const override {
    return sequencer_.held(room) != 0 || sequencer_.waiting(room) != 0;
  }

  void joined(const std::string& room, std::uint64_t last_seq) override {
    if (sequencer_.tracked(room)) return;
    sequencer_.track(room, last_seq);
    tracked_rooms_.insert(room);
    bus_.subscribe(room_channel(room));
  }

  void local_presence(const std::string& user_id, const std::string& name, int delta) override {
    auto& u = local_[user_id];
    u.name = name;
    const std::int64_t n = static_cast<std::int64_t>(u.connections) + delta;
    u.connections = n < 0 ? 0 : static_cast<std::uint32_t>(n);
    presence_record r{opt_.node_id, presence_op::set, {entry(user_id, u)}};
    if (u.connections == 0) {
      local_.erase(user_id);
      bus_.command({"HDEL", lease_key_, user_id});
    } else {
      bus_.command({"HSET", lease_key_, user_id, std::to_string(u.connections)});
      bus_.command({"PEXPIRE", lease_key_, std::to_string(opt_.presence_ttl.count())});
    }
    publish_presence(r);
  }

  void local_member(const std::string& room, const std::string& user_id, const std::string& name,
                    bool member) override {
    auto it = local_.find(user_id);
    if (it == local_.end()) return;  // gone from this node: its `set` with 0 said so
    local_user& u = it->second;
    u.name = name;
    const bool changed = member ? u.rooms.insert(room).second : u.rooms.erase(room) != 0;
    if (changed) publish_presence({opt_.node_id, presence_op::set, {entry(user_id, u)}});
  }

  std::vector<user_ref> remote_members(const std::string& room) const override {
    std::vector<user_ref> out;
    for (auto& [id, name] : shares_.members(room)) out.push_back({std::move(id), std::move(name)});
    return out;
  }

  bool member_elsewhere(const std::string& room, const std::string& user_id) const override {
    return shares_.is_member(room, user_id);
  }

  void customer_changed(const customer_profile& c) override {
    const std::string record = encode_event(opt_.node_id, server::cluster_audience::customer, 0,
                                            room_of(c.id), encode_customer(c));
    if (bus_.publish(inbox_channel_, record))
      ++stats_.published;
    else
      ++stats_.publish_dropped;  // the others see it with the customer's next activity
  }

  // --- bus events (outside hub calls) -------------------------------------

  void on_message(std::string_view channel, std::string_view payload) {
    ++stats_.received;
    if (channel == presence_channel_)
      on_presence(payload);
    else
      on_event(channel == inbox_channel_, payload);
    flush();
  }

  /// A subscription is (again) in place: what was published while it was
  /// not is read from the store now.
  void on_subscribed(std::string_view channel) {
    if (channel == presence_channel_) {
      // Ask the others for their shares and give ours.
      publish_presence({opt_.node_id, presence_op::hello, {}});
      publish_share();
      return;
    }
    const std::string prefix = opt_.prefix + "room:";
    if (channel.substr(0, prefix.size()) != prefix) return;
    fill(std::string(channel.substr(prefix.size())));
    flush();
  }

  /// The broker is reachable again: the others' leases restart (nobody
  /// could be heard meanwhile), rooms whose messages could not be
  /// announced get a mark.
  void on_up() {
    shares_.renew_all(clock_.now());
    for (auto it = unannounced_.begin(); it != unannounced_.end();) {
      const std::string record =
          encode_event(opt_.node_id, server::cluster_audience::message, it->second, it->first, "");
      if (!bus_.publish(room_channel(it->first), record)) break;
      it = unannounced_.erase(it);
    }
    publish_share();
  }

  /// Every ~100 ms: gap fills, the lease, the others' leases, remote
  /// typists, rooms no local connection needs any more.
  void tick() {
    const time_point now = clock_.now();
    {  // while a batch is open, fill() puts them off to its commit
      std::unordered_set<std::string> wanted;
      wanted.swap(fill_wanted_);
      for (const auto& room : wanted) fill(room);
      for (const auto& room : sequencer_.due(now, opt_.gap_wait)) fill(room);
    }
    if (now - last_renewal_ >= opt_.presence_ttl / 3) {
      last_renewal_ = now;
      publish_share();
      if (!local_.empty()) bus_.command({"PEXPIRE", lease_key_, std::to_string(opt_.presence_ttl.count())});
      ++stats_.lease_renewals;
    }
    if (bus_.up()) {
      std::vector<std::string> gone;
      std::vector<membership_end> ended;
      apply(shares_.expire(now, opt_.presence_ttl, &gone, &ended));
      for (const auto& n : gone) {
        ++stats_.nodes_expired;
        end_typists_of(n);
      }
      // A dead node sends no operator_left: each node tells its own members
      // of the users who were in the room there only.
      for (const auto& e : ended)
        if (sequencer_.tracked(e.room) && !hub_.is_local_member(e.room, e.user_id))
          sequenced(e.room, sequencer_.offer_event(
                                e.room, 0,
                                item{std::make_shared<const std::string>(encode(
                                         server_events::operator_left{e.room, e.user_id, e.name},
                                         clock_.system_now())),
                                     {}, server::cluster_audience::room},
                                now));
    }
    for (auto it = typists_.begin(); it != typists_.end();) {
      if (now < it->second.deadline) {
        ++it;
        continue;
      }
      end_typing(it->second);
      it = typists_.erase(it);
    }
    if (now - last_sweep_ >= std::chrono::seconds(1)) {
      last_sweep_ = now;
      std::vector<std::string> idle;
      for (const auto& room : tracked_rooms_)
        if (!hub_.has_local_members(room)) idle.push_back(room);
      for (const auto& room : idle) {
        sequencer_.untrack(room);
        tracked_rooms_.erase(room);
        bus_.unsubscribe(room_channel(room));
      }
      // An event of a room this node does not order is stamped with its own
      // last message there; that matters for the moments after it, not
      // forever (a receiver has long delivered it).
      for (auto it = own_seq_.begin(); it != own_seq_.end();)
        it = now - it->second.at >= std::chrono::seconds(10) ? own_seq_.erase(it) : std::next(it);
    }
    flush();
  }

  /// Clean shutdown: the others drop this node's share at once.
  void leave() {
    publish_presence({opt_.node_id, presence_op::bye, {}});
    bus_.command({"DEL", lease_key_});
  }

 private:
  struct item {
    server::payload_ptr frame;
    std::string except;
    server::cluster_audience to = server::cluster_audience::message;
  };
  struct own_seq {
    std::uint64_t seq = 0;
    time_point at{};
  };
  struct typist {
    std::string origin;
    std::string room;
    std::string user_id;
    std::string name;
    time_point deadline;
  };
  struct local_user {
    std::string name;
    std::uint32_t connections = 0;
    std::set<std::string> rooms;  // where the user is a member on this node
  };

  static presence_share_entry entry(const std::string& user_id, const local_user& u) {
    return {user_id, u.name, u.connections, {u.rooms.begin(), u.rooms.end()}};
  }

  void note_own(const std::string& room, std::uint64_t seq) {
    own_seq& o = own_seq_[room];
    o.seq = std::max(o.seq, seq);
    o.at = clock_.now();
  }

  /// The newest seq of `room` this node knows committed: delivered, held,
  /// or its own.
  std::uint64_t known_seq(const std::string& room) const {
    auto it = own_seq_.find(room);
    return std::max(sequencer_.known(room), it == own_seq_.end() ? 0 : it->second.seq);
  }

  std::string room_channel(const std::string& room) const { return opt_.prefix + "room:" + room; }

  void report(std::string_view what) {
    if (on_error_) on_error_(what);
  }

  void schedule_flush() {
    if (flush_posted_ || pending_.empty()) return;
    flush_posted_ = true;
    post_([this] {
      flush_posted_ = false;
      flush();
    });
  }

  /// Runs the deliveries in the order they were decided.
  void flush() {
    for (int round = 0; round < 16 && !pending_.empty(); ++round) {
      std::vector<std::function<void()>> due;
      due.swap(pending_);
      for (auto& f : due) f();
    }
  }

  void deliver(server::cluster_audience to, const std::string& room, server::payload_ptr frame,
               std::string except = {}) {
    pending_.push_back([this, to, room, frame = std::move(frame), except = std::move(except)] {
      hub_.deliver_from_cluster(to, room, frame, except);
    });
  }

  void sequenced(const std::string& room,
                 std::vector<typename room_sequencer<item, time_point>::delivery> out) {
    if (out.empty()) return;
    const time_point now = clock_.now();
    for (auto& d : out) {
      if (!d.message) {  // an event that may have waited for a message
        stats_.events_held += d.held ? 1 : 0;
        deliver(d.item.to, room, std::move(d.item.frame), std::move(d.item.except));
        continue;
      }
      if (d.held) {
        const double ms = std::chrono::duration<double, std::milli>(now - d.held_since).count();
        std::size_t b = 0;
        while (b < node_stats::hold_back_bounds_ms.size() && ms > node_stats::hold_back_bounds_ms[b]) ++b;
        ++stats_.hold_back[b];
        stats_.hold_back_sum_ms += ms;
        ++stats_.hold_back_count;
      }
      deliver(server::cluster_audience::message, room, std::move(d.item.frame),
              std::move(d.item.except));
    }
  }

  // The receiving side; the bodies are in impl/node.hpp.
  /// Another node's event record, from a room channel or the inbox channel.
  void on_event(bool inbox, std::string_view payload);
  /// Reads `room`'s messages after the last one delivered from the store
  /// and delivers what was missing.
  void fill(const std::string& room);
  /// A remote typing event: keeps the typist (until a deadline) or forgets it.
  void note_typist(const std::string& origin, std::string_view frame);
  /// Tells this node's members that a remote typist stopped, in the room's order.
  void end_typing(const typist& t);
  void end_typists_of(const std::string& origin);
  /// Another node's presence record: hello, share, set or bye.
  void on_presence(std::string_view payload);

  void apply(const std::vector<presence_delta>& deltas) {
    for (const auto& d : deltas)
      pending_.push_back([this, d] { hub_.apply_remote_presence(d.user_id, d.name, d.delta); });
  }

  void publish_share() {
    presence_record r{opt_.node_id, presence_op::share, {}};
    r.users.reserve(local_.size());
    for (const auto& [id, u] : local_) r.users.push_back(entry(id, u));
    publish_presence(r);
  }

  void publish_presence(const presence_record& r) {
    if (bus_.publish(presence_channel_, encode_presence(r)))
      ++stats_.published;
    else
      ++stats_.publish_dropped;  // the next renewal carries the whole share again
  }

  Hub& hub_;
  message_store& store_;
  bus& bus_;
  Clock& clock_;
  node_options opt_;
  post_fn post_;
  error_handler on_error_;
  node_stats stats_;
  room_sequencer<item, time_point> sequencer_;
  std::unordered_set<std::string> tracked_rooms_;
  presence_shares<time_point> shares_;
  std::map<std::string, local_user> local_;
  std::map<std::string, std::uint64_t> unannounced_;  // room -> newest seq not published
  std::unordered_map<std::string, own_seq> own_seq_;  // room -> this node's newest message (10 s)
  std::unordered_set<std::string> fill_wanted_;  // fills put off while a batch was open
  std::unordered_map<std::string, typist> typists_;   // (origin, room, user) -> typist
  std::vector<std::function<void()>> pending_;
  bool flush_posted_ = false;
  time_point last_renewal_{};
  time_point last_sweep_{};
  std::string inbox_channel_;
  std::string presence_channel_;
  std::string lease_key_;
};

}  // namespace livechat::cluster

#include <livechat/cluster/impl/node.hpp>

#endif
