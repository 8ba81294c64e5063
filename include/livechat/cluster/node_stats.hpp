// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLUSTER_NODE_STATS_HPP
#define LIVECHAT_CLUSTER_NODE_STATS_HPP

// A cluster node's counters (cluster/node.hpp), which the server renders
// for GET /metrics.

#include <array>
#include <cstddef>
#include <cstdint>

namespace livechat::cluster {

/// Counters for /metrics.
struct node_stats {
  static constexpr std::array<double, 9> hold_back_bounds_ms{1, 5, 10, 25, 50, 100, 250, 500, 1000};
  std::uint64_t published = 0;
  std::uint64_t publish_dropped = 0;
  std::uint64_t received = 0;
  std::uint64_t received_invalid = 0;
  std::uint64_t duplicates = 0;        ///< a seq delivered already (e.g. filled first)
  std::uint64_t events_held = 0;       ///< other events that waited for a message
  std::uint64_t gap_fills = 0;         ///< store reads that filled a gap
  std::uint64_t filled_messages = 0;   ///< messages delivered from the store
  std::uint64_t lease_renewals = 0;
  std::uint64_t nodes_expired = 0;
  std::array<std::uint64_t, hold_back_bounds_ms.size() + 1> hold_back{};  ///< held messages, by wait
  double hold_back_sum_ms = 0;
  std::uint64_t hold_back_count = 0;
};

}  // namespace livechat::cluster

#endif
