// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_STORE_POSTGRESQL_OPTIONS_HPP
#define LIVECHAT_STORE_POSTGRESQL_OPTIONS_HPP

// How postgresql_store connects (no libpq header needed to fill them in,
// e.g. from a command line).

#include <chrono>
#include <string>

namespace livechat {

/// How `postgresql_store::open` connects.
struct postgresql_options {
  /// A libpq connection string: a URI (`postgresql://user@host:port/db`)
  /// or `key=value` pairs. The tables go into the first schema of the
  /// connection's search_path (`?options=-csearch_path%3Dchat` picks one).
  /// Must not be empty.
  std::string conninfo;
  /// true: writes go into one open transaction that `flush()` commits, so
  /// the writes of one event-loop turn cost one commit. false: every write
  /// commits on its own and `flush()` does nothing.
  bool group_commit = true;
  /// libpq's `connect_timeout` (whole seconds, at least 2), for the first
  /// connection and every reconnection, unless `conninfo` sets its own.
  /// The owner's thread blocks meanwhile.
  std::chrono::seconds connect_timeout{2};
  /// While the server is unreachable, at most one reconnection attempt
  /// per interval; the calls in between fail at once.
  std::chrono::milliseconds reconnect_interval{1000};
};

}  // namespace livechat

#endif
