// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_SERVER_CLUSTER_LINK_HPP
#define LIVECHAT_SERVER_CLUSTER_LINK_HPP

// What the hub tells the rest of a cluster, and nothing more: the hub stays
// a single-process state machine and knows no broker. A node (e.g.
// livechat/cluster/node.hpp over Redis) implements this interface; without
// one (`hub::set_cluster_link` never called) the hub behaves as before.

#include <cstdint>
#include <string>
#include <vector>

#include <livechat/protocol/model.hpp>
#include <livechat/server/transport.hpp>

namespace livechat::server {

/// Who receives an event the hub shares with the other nodes.
enum class cluster_audience : std::uint8_t {
  room = 1,               ///< the room's connections (operator_joined/left, read_receipt)
  typing = 2,             ///< the room's connections, droppable (typing)
  watchers = 3,           ///< the inbox watchers (conversation_activity)
  room_and_watchers = 4,  ///< both, each connection once (the session events)
  message = 5,            ///< new_message: delivered in `seq` order on every node
  /// A customer's profile changed on one node: every other node answers its
  /// own inbox watchers (the frame is the profile, not a client frame: each
  /// watcher's conversation_update carries its own read_seq).
  customer = 6,
};

/// One committed event, encoded once. `frame` is the exact bytes every
/// recipient gets; the other nodes forward them without decoding.
struct cluster_event {
  cluster_audience to = cluster_audience::room;
  std::string room;            ///< the room the event is about (empty: none)
  std::uint64_t seq = 0;       ///< `message` only
  payload_ptr frame;
  std::string except;          ///< not to this connection (its public id), on this node
  bool local = false;          ///< not `message`: the link delivers it to this node's audience too
};

/// The hub's side of a cluster.
///
/// Called on the hub's thread from inside hub calls: an implementation must
/// not call back into the hub from these (it posts, or answers later
/// through `hub::deliver_from_cluster` and `hub::apply_remote_presence`).
/// Nothing here may wait for the network.
///
/// @par Ordering
/// `committed` is called after the store committed what the event depends
/// on (never for a rolled-back write). Every event but `message` the hub
/// has delivered locally already; the other nodes deliver it after the
/// room's messages this node knew committed when it was emitted. A
/// `message` is delivered in `seq` order
/// with the other nodes' (local and remote messages of one room share one
/// order): when it is next in line and nothing waits before it, the link
/// answers true and the hub delivers it to the room at once, in the same
/// turn; otherwise the link delivers it later, through
/// `deliver_from_cluster`. An event of a room whose message is on its way
/// here (in the same batch, or `holding`) comes with `local`: the hub has
/// not delivered it, the link does, after that message.
class cluster_link {
 public:
  virtual ~cluster_link() = default;

  /// A committed event for the other nodes. For `message`: true when the
  /// hub is to deliver it to the room's local members now (see Ordering).
  virtual bool committed(const cluster_event& e) = 0;

  /// The events handed to `committed` since the last call are to go out to
  /// the other nodes now: the hub calls this after a commit's events and
  /// before that commit's local sends, which would otherwise all go first.
  virtual void flush_committed() {}

  /// A batch of this node's writes was just committed (its sends are out):
  /// until the next write, the store holds nothing of this node's that is
  /// not committed, so it may be read as the committed history.
  virtual void batch_committed() {}

  /// True while a message of `room` waits here for an earlier seq.
  virtual bool holding(const std::string& /*room*/) const { return false; }

  /// A local connection joined `room`, whose history it was shown up to
  /// `last_seq`: subscribe to the room, if not yet.
  virtual void joined(const std::string& room, std::uint64_t last_seq) = 0;

  /// A local authenticated connection of `user_id` came (+1) or went (-1).
  virtual void local_presence(const std::string& user_id, const std::string& name, int delta) = 0;

  /// A local authenticated user became (`member`) or stopped being a member
  /// of `room` on this node (its first connection in the room joined, or
  /// its last one left).
  virtual void local_member(const std::string& /*room*/, const std::string& /*user_id*/,
                            const std::string& /*name*/, bool /*member*/) {}

  /// The room's members on the other nodes, sorted by user_id
  /// (conversation_update.members lists them with this node's).
  virtual std::vector<user_ref> remote_members(const std::string& /*room*/) const { return {}; }

  /// True while `user_id` is a member of `room` on another node: then a
  /// local join is not the user's first tab in the room cluster-wide (no
  /// operator_joined), nor a local leave the last (no operator_left).
  virtual bool member_elsewhere(const std::string& /*room*/, const std::string& /*user_id*/) const {
    return false;
  }

  /// The profile of a conversation's customer changed here (fetched from
  /// the messenger): the other nodes' inbox watchers get it too.
  virtual void customer_changed(const customer_profile& /*customer*/) {}
};

}  // namespace livechat::server

#endif
