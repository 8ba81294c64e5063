// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_BUS_HPP
#define LIVECHAT_CLUSTER_BUS_HPP

// The publish/subscribe service a cluster node needs from its broker
// (livechat/redis/broker.hpp is the Redis one; the unit tests use an
// in-memory one). A run-time interface: the broker is picked from the
// command line, like the store.

#include <string>
#include <string_view>
#include <vector>

namespace livechat::cluster {

/// @par Thread Safety
/// None; called on the hub's thread. Never blocks: what cannot be sent now
/// is dropped and counted, never queued without bound.
class bus {
 public:
  virtual ~bus() = default;

  /// Fire and forget. False when dropped (the broker is down, or too much
  /// is already waiting to be written to it).
  virtual bool publish(std::string_view channel, std::string_view message) = 0;

  /// Subscribes (again after every reconnect) until `unsubscribe`; the
  /// embedder reports each confirmed subscription to the node
  /// (`node::on_subscribed`), then the channel's messages (`node::on_message`).
  virtual void subscribe(const std::string& channel) = 0;
  virtual void unsubscribe(const std::string& channel) = 0;

  /// A command nobody waits for the answer of (the presence lease). False
  /// when dropped.
  virtual bool command(const std::vector<std::string>& argv) = 0;

  /// Sends what was published and commanded so far now, in one write if
  /// the broker allows, instead of whenever the event loop gets to it.
  virtual void flush() {}

  /// True while the broker is reachable for both publishing and receiving.
  virtual bool up() const = 0;
};

}  // namespace livechat::cluster

#endif
