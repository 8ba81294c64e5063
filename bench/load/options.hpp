// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_BENCH_LOAD_OPTIONS_HPP
#define LIVECHAT_BENCH_LOAD_OPTIONS_HPP

// livechat-load's command line, on CLI11 with the examples' conventions
// (common/command_line.hpp): every value checked as it is read, exit 2 with
// the flag's name for a mistake.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <sys/types.h>

#include <CLI/CLI.hpp>

#include "common/command_line.hpp"

namespace livechat_load {

enum class run_mode { connect, saturate, rate };

inline const char* mode_name(run_mode m) noexcept {
  switch (m) {
    case run_mode::connect:
      return "connect";
    case run_mode::saturate:
      return "saturate";
    case run_mode::rate:
      return "rate";
  }
  return "?";
}

struct options {
  // --- target ---------------------------------------------------------------
  std::string host = "127.0.0.1";  ///< an IPv4 literal
  /// Required unless a server command is given. Several: the nodes of a
  /// cluster; a room's members are spread over them in turn.
  std::vector<std::uint16_t> ports;
  std::string path = "/api/v1/ws/live-chat";
  /// For CPU and RSS, summed over all of them (a cluster's nodes, and its
  /// broker); a spawned server is added.
  std::vector<pid_t> server_pids;
  std::vector<std::string> server_command;  ///< after `--`: started, measured, stopped
  std::string server_log = "/dev/null";     ///< the spawned server's stderr
  std::string label;                        ///< names the run in the output

  // --- population -------------------------------------------------------------
  std::size_t connections = 100;
  std::size_t rooms = 1;               ///< connection i joins room i % rooms
  std::size_t users = 0;               ///< connection i authenticates as user i % users; 0: one each
  std::string user_prefix = "load-u";  ///< dev auth: the token is the user id
  std::string room_prefix = "load-r";  ///< room "conversation:<prefix><n>"
  std::size_t connect_concurrency = 64;

  // --- messages ---------------------------------------------------------------
  run_mode mode = run_mode::saturate;
  std::size_t text_bytes = 100;
  bool client_msg_id = false;
  std::size_t inflight = 32;  ///< saturate: messages on their way per room
  double rate = 0;           ///< rate: messages per second, all rooms together
  bool kernel_timestamps = true;

  // --- phases (milliseconds) ----------------------------------------------------
  std::uint64_t warmup_ms = 1000;
  std::uint64_t duration_ms = 5000;
  std::uint64_t drain_ms = 2000;
  std::uint64_t settle_ms = 300;  ///< after setup, before reading the server's RSS
  std::uint64_t setup_timeout_ms = 60000;
  std::uint64_t message_timeout_ms = 5000;  ///< saturate: a message not delivered by then is lost

  // --- output -------------------------------------------------------------------
  bool table = true;
};

using parse_result = livechat_examples::parse_result<options>;

namespace detail {

inline constexpr const char* program = "livechat-load";
inline constexpr const char* target_group = "target (the server measured)";
inline constexpr const char* load_group = "load";
inline constexpr const char* phase_group = "phases, in milliseconds";
inline constexpr const char* output_group = "output";

template <class Set>
void add_uint(CLI::App& app, const char* group, const std::string& flag, const std::string& help,
              std::uint64_t min, std::uint64_t max, Set set) {
  livechat_examples::add_value(app, flag, "N", help, [flag, min, max, set](const std::string& value) {
    const auto v = livechat_examples::parse_digits(value, 19, max);
    if (!v || *v < min)
      livechat_examples::bad_value(flag + " must be an integer from " + std::to_string(min) + " to " +
                                   std::to_string(max) + ", got '" + value + "'");
    set(*v);
  })->group(group);
}

inline void add_flags(CLI::App& app, options& o) {
  using livechat_examples::add_switch;
  using livechat_examples::add_value;
  using livechat_examples::bad_value;

  add_value(app, "--host", "IPV4", "server address (default 127.0.0.1)", [&o](const std::string& v) {
    o.host = v;
  })->group(target_group);
  add_uint(app, target_group, "--port",
           "server port (required without a server command); repeat\n"
           "for the nodes of a cluster: each room's members are\n"
           "spread over them in turn; latency split same/cross node",
           1, 65535, [&o](std::uint64_t v) { o.ports.push_back(static_cast<std::uint16_t>(v)); });
  add_value(app, "--path", "PATH", "WebSocket path (default /api/v1/ws/live-chat)",
            [&o](const std::string& v) {
              if (v[0] != '/') bad_value("--path must start with '/', got '" + v + "'");
              o.path = v;
            })
      ->group(target_group);
  add_uint(app, target_group, "--server-pid",
           "read CPU time and RSS of this process; repeat for a\n"
           "cluster's nodes and its broker (figures are summed)", 1, 4'194'304,
           [&o](std::uint64_t v) { o.server_pids.push_back(static_cast<pid_t>(v)); });
  add_value(app, "--server-log", "FILE", "the started server's stderr (default /dev/null)",
            [&o](const std::string& v) { o.server_log = v; })
      ->group(target_group);
  add_value(app, "--label", "NAME", "names the run in the table and the JSON line",
            [&o](const std::string& v) { o.label = v; })
      ->group(target_group);

  add_uint(app, load_group, "--connections", "WebSocket connections (default 100)", 1, 200'000,
           [&o](std::uint64_t v) { o.connections = static_cast<std::size_t>(v); });
  add_uint(app, load_group, "--rooms", "rooms; connection i joins room i % R (default 1)", 1, 100'000,
           [&o](std::uint64_t v) { o.rooms = static_cast<std::size_t>(v); });
  add_uint(app, load_group, "--users", "distinct users; connection i is user i % U (default: one each)", 1,
           200'000, [&o](std::uint64_t v) { o.users = static_cast<std::size_t>(v); });
  add_value(app, "--user-prefix", "P", "user ids P0, P1, ...; dev auth: token = user id (default load-u)",
            [&o](const std::string& v) { o.user_prefix = v; })
      ->group(load_group);
  add_value(app, "--room-prefix", "P", "rooms conversation:P0, ... (default load-r)",
            [&o](const std::string& v) { o.room_prefix = v; })
      ->group(load_group);
  add_uint(app, load_group, "--connect-concurrency", "handshakes in progress at once (default 64)", 1,
           100'000, [&o](std::uint64_t v) { o.connect_concurrency = static_cast<std::size_t>(v); });
  add_value(app, "--mode", "MODE",
            "connect: setup only (connect rate, RSS per connection);\n"
            "saturate: closed loop, --inflight messages per room;\n"
            "rate: --rate messages per second, latency (default saturate)",
            [&o](const std::string& v) {
              if (v == "connect")
                o.mode = run_mode::connect;
              else if (v == "saturate")
                o.mode = run_mode::saturate;
              else if (v == "rate")
                o.mode = run_mode::rate;
              else
                bad_value("--mode must be connect, saturate or rate, got '" + v + "'");
            })
      ->group(load_group);
  add_uint(app, load_group, "--text-bytes", "bytes of each message text (default 100)", 16, 5000,
           [&o](std::uint64_t v) { o.text_bytes = static_cast<std::size_t>(v); });
  add_switch(app, "--client-msg-id", "send a client_msg_id with every message", [&o]() {
    o.client_msg_id = true;
  })->group(load_group);
  add_uint(app, load_group, "--inflight", "saturate: messages on their way per room (default 32)", 1, 1000,
           [&o](std::uint64_t v) { o.inflight = static_cast<std::size_t>(v); });
  add_value(app, "--rate", "MSG/S", "rate: messages per second, all rooms (deliveries = x room size)",
            [&o](const std::string& v) {
              char* end = nullptr;
              const double r = std::strtod(v.c_str(), &end);
              if (end == v.c_str() || *end != '\0' || !std::isfinite(r) || r <= 0 || r > 1e6)
                bad_value("--rate must be a number above 0 and at most 1000000, got '" + v + "'");
              o.rate = r;
            })
      ->group(load_group);
  add_switch(app, "--no-kernel-timestamps", "time receives with clock_gettime, not SO_TIMESTAMPNS", [&o]() {
    o.kernel_timestamps = false;
  })->group(load_group);

  add_uint(app, phase_group, "--warmup-ms", "messages before the measured window (1000)", 0, 3'600'000,
           [&o](std::uint64_t v) { o.warmup_ms = v; });
  add_uint(app, phase_group, "--duration-ms", "the measured window (5000)", 100, 3'600'000,
           [&o](std::uint64_t v) { o.duration_ms = v; });
  add_uint(app, phase_group, "--drain-ms", "wait for deliveries after the window (2000)", 0, 600'000,
           [&o](std::uint64_t v) { o.drain_ms = v; });
  add_uint(app, phase_group, "--settle-ms", "pause after setup before reading RSS (300)", 0, 600'000,
           [&o](std::uint64_t v) { o.settle_ms = v; });
  add_uint(app, phase_group, "--setup-timeout-ms", "connect + auth + join of all (60000)", 100, 3'600'000,
           [&o](std::uint64_t v) { o.setup_timeout_ms = v; });
  add_uint(app, phase_group, "--message-timeout-ms",
           "saturate: a message still short of deliveries\n"
           "after this is counted lost (5000)",
           10, 600'000, [&o](std::uint64_t v) { o.message_timeout_ms = v; });

  add_switch(app, "--no-table", "only the JSON line (stdout), no table (stderr)", [&o]() {
    o.table = false;
  })->group(output_group);

  app.add_option("command", o.server_command,
                 "after --: the server to start (its stdout must print\n"
                 "'listening on http://HOST:PORT'), measure and stop")
      ->group(target_group);
}

}  // namespace detail

inline parse_result parse_options(int argc, const char* const* argv) {
  parse_result r;
  options& o = r.opts;
  CLI::App app{"", detail::program};
  detail::add_flags(app, o);
  livechat_examples::add_help_and_version(app, "usage: livechat-load [options] [-- SERVER COMMAND...]", 26,
                                          std::string(detail::program) + " 1", detail::output_group);
  app.description(
      "Load generator for livechat-server (PROTOCOL.md: auth, join_room, send_message)\n"
      "and for the raw websocketpp broadcast baseline, on one thread over epoll.");
  app.footer(
      "Prints a table on stderr and one JSON line on stdout.\n"
      "Exit codes: 0 clean run, 1 failed run (a connection failed, a delivery was\n"
      "lost or repeated, an error frame came back), 2 usage error.");
  if (!livechat_examples::parse(app, argc, argv, r)) return r;

  const auto usage_error = [](const std::string& what) {
    return livechat_examples::usage_error<options>(detail::program, what);
  };
  if (o.server_command.empty() && o.ports.empty())
    return usage_error("give --port, or the server command to start after --");
  if (!o.server_command.empty() && !o.ports.empty())
    return usage_error("--port and a server command to start exclude each other");
  if (o.rooms > o.connections)
    return usage_error("--rooms (" + std::to_string(o.rooms) + ") must not exceed --connections (" +
                       std::to_string(o.connections) + ")");
  if (o.mode == run_mode::rate && o.rate <= 0) return usage_error("--mode rate needs --rate");
  if (o.users == 0) o.users = o.connections;
  return r;
}

}  // namespace livechat_load

#endif
