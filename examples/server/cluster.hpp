// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_CLUSTER_HPP
#define LIVECHAT_EXAMPLES_SERVER_CLUSTER_HPP

// The server's part of a cluster (`--broker redis://...`): the Redis
// broker and the node (livechat/cluster/node.hpp) on the server's one Asio
// thread, plus what /healthz and /metrics say about them and the store:
// the store is probed once a second (one cheap read, timed into a
// round-trip histogram), so /healthz can name it while it is down.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <livechat/cluster/node.hpp>
#include <livechat/redis/broker.hpp>
#include <livechat/store/message_store.hpp>

#include "http/metrics.hpp"

namespace livechat_server {

/// A random node id: 12 hex digits (a restarted node is a new node).
inline std::string random_node_id() {
  std::random_device rd;
  std::mt19937_64 g((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "n";
  std::uint64_t v = g();
  for (int i = 0; i < 12; ++i, v >>= 4) out.push_back(hex[v & 0xf]);
  return out;
}

/// Times store round trips (the probe) and says whether the last one worked.
class store_probe {
 public:
  static constexpr std::array<double, 12> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

  /// One read; false while the store does not answer.
  bool run(livechat::message_store& store) {
    const auto start = std::chrono::steady_clock::now();
    auto r = store.last_seq("conversation:livechat.health");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::size_t i = 0;
    while (i < buckets.size() && s > buckets[i]) ++i;
    ++counts_[i];
    sum_ += s;
    ++count_;
    ok_ = r.ok();
    if (!ok_) why_ = r.error().message();
    return ok_;
  }

  bool ok() const noexcept { return ok_; }
  const std::string& why() const noexcept { return why_; }

  void render(std::string& out) const {
    out += "# HELP livechat_store_roundtrip_seconds One read from the message store (the health "
           "probe, once a second).\n# TYPE livechat_store_roundtrip_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      cumulative += counts_[i];
      out += "livechat_store_roundtrip_seconds_bucket{le=\"" + metrics_detail::format_double(buckets[i]) +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += counts_[buckets.size()];
    out += "livechat_store_roundtrip_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += "livechat_store_roundtrip_seconds_sum " + metrics_detail::format_double(sum_) + "\n";
    out += "livechat_store_roundtrip_seconds_count " + std::to_string(count_) + "\n";
  }

 private:
  std::array<std::uint64_t, buckets.size() + 1> counts_{};
  double sum_ = 0;
  std::uint64_t count_ = 0;
  bool ok_ = true;
  std::string why_;
};

/// The broker and the node of one server, wired to its hub.
template <class Hub, class Clock>
class cluster_member {
 public:
  using node_type = livechat::cluster::node<Hub, Clock>;
  using logger = std::function<void(std::string_view event, std::string_view detail)>;

  cluster_member(asio::io_context& io, Hub& hub, livechat::message_store& store, Clock& clock,
                 const livechat::redis::connection_options& redis, livechat::cluster::node_options o,
                 logger log)
      : broker_(io, redis),
        node_(hub, store, broker_, clock, std::move(o),
              [&io](std::function<void()> f) { asio::post(io, std::move(f)); }),
        log_(std::move(log)) {
    broker_.on_message([this](std::string_view ch, std::string_view m) { node_.on_message(ch, m); });
    broker_.on_subscribed([this](std::string_view ch) { node_.on_subscribed(ch); });
    broker_.on_state([this](bool up, std::string_view why) {
      if (log_) log_(up ? "broker_up" : "broker_down", why);
      if (up) node_.on_up();
    });
    node_.set_error_handler([this](std::string_view what) {
      if (log_) log_("cluster_error", what);
    });
    hub.set_cluster_link(&node_);
  }

  void start() { broker_.start(); }

  /// Clean shutdown: the other nodes drop this one's presence at once.
  void leave() { node_.leave(); }
  void stop() { broker_.stop(); }

  void tick() { node_.tick(); }

  bool broker_up() const { return broker_.up(); }
  const node_type& node() const noexcept { return node_; }

  /// The cluster's families for GET /metrics.
  void render(std::string& out) const {
    const auto& s = node_.stats();
    auto counter = [&](const char* name, const char* help, std::uint64_t v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
             std::to_string(v) + "\n";
    };
    out += "# HELP livechat_broker_up 1 while the broker (Redis) is reachable for publishing and "
           "receiving.\n# TYPE livechat_broker_up gauge\nlivechat_broker_up " +
           std::string(broker_.up() ? "1" : "0") + "\n";
    counter("livechat_broker_published_total", "Records this node published to the broker.", s.published);
    counter("livechat_broker_publish_dropped_total",
            "Records not published (broker down or its output buffer full); recovered from the store.",
            s.publish_dropped);
    counter("livechat_broker_received_total", "Records received from the broker.", s.received);
    counter("livechat_broker_received_invalid_total", "Malformed records received and dropped.",
            s.received_invalid);
    counter("livechat_broker_reconnects_total", "Connections to the broker made again after a loss.",
            broker_.publisher().stats().disconnects + broker_.subscriber().stats().disconnects);
    counter("livechat_cluster_gap_fills_total", "Reads from the store that filled a gap in a room's seqs.",
            s.gap_fills);
    counter("livechat_cluster_filled_messages_total", "Messages delivered from the store, not the broker.",
            s.filled_messages);
    counter("livechat_cluster_duplicates_total", "Messages received again and not delivered again.",
            s.duplicates);
    counter("livechat_cluster_events_held_total",
            "Other room events that waited for the message they were sent after.", s.events_held);
    counter("livechat_presence_lease_renewals_total", "Renewals of this node's presence lease.",
            s.lease_renewals);
    counter("livechat_presence_nodes_expired_total", "Nodes whose presence lease ran out.", s.nodes_expired);
    out += "# HELP livechat_cluster_hold_back_seconds How long a new_message waited for an earlier seq.\n"
           "# TYPE livechat_cluster_hold_back_seconds histogram\n";
    std::uint64_t cumulative = 0;
    const auto& bounds = livechat::cluster::node_stats::hold_back_bounds_ms;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      cumulative += s.hold_back[i];
      out += "livechat_cluster_hold_back_seconds_bucket{le=\"" + metrics_detail::format_double(bounds[i] / 1000) +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += s.hold_back[bounds.size()];
    out += "livechat_cluster_hold_back_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += "livechat_cluster_hold_back_seconds_sum " + metrics_detail::format_double(s.hold_back_sum_ms / 1000) +
           "\n";
    out += "livechat_cluster_hold_back_seconds_count " + std::to_string(s.hold_back_count) + "\n";
  }

 private:
  livechat::redis::broker broker_;
  node_type node_;
  logger log_;
};

}  // namespace livechat_server

#endif
