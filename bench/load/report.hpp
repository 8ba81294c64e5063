// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_BENCH_LOAD_REPORT_HPP
#define LIVECHAT_BENCH_LOAD_REPORT_HPP

// One run's figures and their two renderings: a JSON line (flat, numbers or
// null, for scripts: bench/load/compare.sh reads it with sed) and a table
// for people. A figure that could not be measured (no server pid, no
// deliveries) is null in JSON and "-" in the table, never a zero.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "options.hpp"

namespace livechat_load {

struct latency_summary {
  std::size_t samples = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

/// Percentiles of `ns` (reordered in place): nearest rank.
inline latency_summary summarize(std::vector<std::int64_t>& ns) {
  latency_summary s;
  s.samples = ns.size();
  if (ns.empty()) return s;
  auto at = [&](double q) {
    auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ns.size())));
    k = std::clamp<std::size_t>(k, 1, ns.size()) - 1;
    std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(k), ns.end());
    return static_cast<double>(ns[k]) / 1e6;
  };
  s.p50_ms = at(0.50);
  s.p90_ms = at(0.90);
  s.p99_ms = at(0.99);
  s.p999_ms = at(0.999);
  s.max_ms = static_cast<double>(*std::max_element(ns.begin(), ns.end())) / 1e6;
  return s;
}

struct run_report {
  std::string label;
  run_mode mode = run_mode::saturate;
  std::size_t connections = 0, rooms = 0, room_size_min = 0, room_size_max = 0, users = 0;
  std::size_t text_bytes = 0, inflight = 0;
  double rate = 0;
  bool ok = false;
  std::string error;  ///< the first failure, empty when ok

  // setup
  std::size_t ready = 0;
  double setup_seconds = 0;
  std::optional<double> rss_start_kib, rss_setup_kib, rss_end_kib;
  std::optional<double> setup_server_cpu_seconds;  ///< the server's CPU time during the setup

  // the measured window
  double window_seconds = 0;
  std::uint64_t messages_sent = 0, deliveries = 0;
  std::uint64_t delivery_bytes = 0;  ///< payload bytes of those deliveries' frames
  std::optional<double> server_cpu_seconds;
  double generator_cpu_seconds = 0;
  latency_summary latency;
  /// With several nodes: receivers on the sender's node, and on another one.
  std::size_t nodes = 1;
  latency_summary latency_same_node, latency_cross_node;
  bool kernel_timestamps = false;
  std::uint64_t user_timestamps = 0;  ///< receives without a kernel timestamp

  // failures
  std::uint64_t error_frames = 0, lost = 0, duplicates = 0, unknown = 0, failed_connections = 0;
  std::string first_error_code;

  bool messaging() const noexcept { return mode != run_mode::connect; }
  double avg_room_size() const noexcept {
    return rooms == 0 ? 0 : static_cast<double>(connections) / static_cast<double>(rooms);
  }
  std::optional<double> connects_per_second() const {
    if (ready == 0 || setup_seconds <= 0) return std::nullopt;
    return static_cast<double>(ready) / setup_seconds;
  }
  /// Server CPU per connect + auth + join (clock ticks of 10 ms: a setup
  /// of a few hundred ms or more tells it within a few percent).
  std::optional<double> cpu_us_per_connect() const {
    if (!setup_server_cpu_seconds || *setup_server_cpu_seconds <= 0 || ready == 0) return std::nullopt;
    return *setup_server_cpu_seconds * 1e6 / static_cast<double>(ready);
  }
  std::optional<double> kib_per_connection() const {
    if (!rss_start_kib || !rss_setup_kib || ready == 0) return std::nullopt;
    return (*rss_setup_kib - *rss_start_kib) / static_cast<double>(ready);
  }
  std::optional<double> cpu_us_per_delivery() const {
    // Zero CPU time means less than one clock tick: below what /proc can tell.
    if (!server_cpu_seconds || *server_cpu_seconds <= 0 || deliveries == 0) return std::nullopt;
    return *server_cpu_seconds * 1e6 / static_cast<double>(deliveries);
  }
  std::optional<double> cpu_us_per_message() const {
    const auto d = cpu_us_per_delivery();
    if (!d) return std::nullopt;
    return *d * avg_room_size();
  }
  std::optional<double> server_cpu_percent() const {
    if (!server_cpu_seconds || window_seconds <= 0) return std::nullopt;
    return *server_cpu_seconds * 100 / window_seconds;
  }
  std::optional<double> generator_cpu_percent() const {
    if (window_seconds <= 0) return std::nullopt;
    return generator_cpu_seconds * 100 / window_seconds;
  }
  /// The average payload of a delivered frame (what the server builds and
  /// sends per delivery: new_message for livechat-server, the echo for the
  /// raw server), without the WebSocket header.
  std::optional<double> bytes_per_delivery() const {
    if (deliveries == 0) return std::nullopt;
    return static_cast<double>(delivery_bytes) / static_cast<double>(deliveries);
  }
  std::optional<double> deliveries_per_second() const {
    if (window_seconds <= 0) return std::nullopt;
    return static_cast<double>(deliveries) / window_seconds;
  }
};

namespace detail {

/// `s` as a JSON string literal, escaped by RapidJSON as the server's codec
/// escapes (the label and error text may hold any bytes).
inline std::string json_string(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buf.GetString(), buf.GetSize());
}

inline std::string number(std::optional<double> v, int decimals) {
  if (!v || !std::isfinite(*v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
  return buf;
}

inline std::string cell(std::optional<double> v, int decimals, const char* unit = "") {
  if (!v || !std::isfinite(*v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, *v, unit);
  return buf;
}

}  // namespace detail

/// One line of JSON, no newline.
inline std::string to_json(const run_report& r) {
  using detail::number;
  const bool lat = r.messaging() && r.latency.samples > 0;
  auto opt = [](bool has, double v) { return has ? std::optional<double>(v) : std::nullopt; };
  std::string j = "{\"tool\":\"livechat-load\"";
  auto field = [&j](const char* name, const std::string& raw) {
    j += ",\"";
    j += name;
    j += "\":";
    j += raw;
  };
  auto str = [](const std::string& s) { return detail::json_string(s); };
  auto integer = [](std::uint64_t v) { return std::to_string(v); };
  field("label", str(r.label));
  field("mode", str(mode_name(r.mode)));
  field("ok", r.ok ? "true" : "false");
  field("error", r.error.empty() ? "null" : str(r.error));
  field("connections", integer(r.connections));
  field("rooms", integer(r.rooms));
  field("room_size_min", integer(r.room_size_min));
  field("room_size_max", integer(r.room_size_max));
  field("users", integer(r.users));
  field("text_bytes", integer(r.text_bytes));
  field("inflight", r.mode == run_mode::saturate ? integer(r.inflight) : "null");
  field("rate_messages_per_second", r.mode == run_mode::rate ? number(r.rate, 3) : "null");
  field("ready_connections", integer(r.ready));
  field("setup_seconds", number(r.setup_seconds, 4));
  field("connects_per_second", number(r.connects_per_second(), 1));
  field("cpu_us_per_connect", number(r.cpu_us_per_connect(), 1));
  field("server_rss_start_kib", number(r.rss_start_kib, 0));
  field("server_rss_setup_kib", number(r.rss_setup_kib, 0));
  field("server_rss_end_kib", number(r.rss_end_kib, 0));
  field("kib_per_connection", number(r.kib_per_connection(), 2));
  field("window_seconds", number(opt(r.messaging() && r.window_seconds > 0, r.window_seconds), 4));
  field("messages_sent", r.messaging() ? integer(r.messages_sent) : "null");
  field("deliveries", r.messaging() ? integer(r.deliveries) : "null");
  field("deliveries_per_second", number(r.messaging() ? r.deliveries_per_second() : std::nullopt, 1));
  field("bytes_per_delivery", number(r.messaging() ? r.bytes_per_delivery() : std::nullopt, 1));
  field("server_cpu_seconds", number(r.messaging() ? r.server_cpu_seconds : std::nullopt, 3));
  field("server_cpu_percent", number(r.messaging() ? r.server_cpu_percent() : std::nullopt, 1));
  field("cpu_us_per_delivery", number(r.cpu_us_per_delivery(), 4));
  field("cpu_us_per_message", number(r.cpu_us_per_message(), 2));
  field("generator_cpu_percent", number(r.messaging() ? r.generator_cpu_percent() : std::nullopt, 1));
  field("latency_samples", r.messaging() ? integer(r.latency.samples) : "null");
  field("latency_p50_ms", number(opt(lat, r.latency.p50_ms), 3));
  field("latency_p90_ms", number(opt(lat, r.latency.p90_ms), 3));
  field("latency_p99_ms", number(opt(lat, r.latency.p99_ms), 3));
  field("latency_p999_ms", number(opt(lat, r.latency.p999_ms), 3));
  field("latency_max_ms", number(opt(lat, r.latency.max_ms), 3));
  field("nodes", integer(r.nodes));
  const bool same = lat && r.nodes > 1 && r.latency_same_node.samples > 0;
  const bool cross = lat && r.nodes > 1 && r.latency_cross_node.samples > 0;
  field("latency_same_node_p50_ms", number(opt(same, r.latency_same_node.p50_ms), 3));
  field("latency_same_node_p99_ms", number(opt(same, r.latency_same_node.p99_ms), 3));
  field("latency_cross_node_p50_ms", number(opt(cross, r.latency_cross_node.p50_ms), 3));
  field("latency_cross_node_p99_ms", number(opt(cross, r.latency_cross_node.p99_ms), 3));
  field("timestamps", str(r.kernel_timestamps ? "kernel" : "user"));
  field("user_timestamps", integer(r.user_timestamps));
  field("error_frames", integer(r.error_frames));
  field("first_error_code", r.first_error_code.empty() ? "null" : str(r.first_error_code));
  field("lost", integer(r.lost));
  field("duplicates", integer(r.duplicates));
  field("unknown", integer(r.unknown));
  field("failed_connections", integer(r.failed_connections));
  j += '}';
  return j;
}

/// The table for people (several lines, newline-terminated).
inline std::string to_table(const run_report& r) {
  using detail::cell;
  std::string t;
  char line[512];
  std::snprintf(line, sizeof line, "%s: %zu connections, %zu rooms (%zu-%zu each), %zu users, %s%s%s\n",
                r.label.empty() ? "livechat-load" : r.label.c_str(), r.connections, r.rooms, r.room_size_min,
                r.room_size_max, r.users, mode_name(r.mode),
                r.nodes > 1 ? (", " + std::to_string(r.nodes) + " nodes").c_str() : "",
                r.ok ? "" : "  ** FAILED **");
  t += line;
  std::snprintf(line, sizeof line, "  %-16s %zu ready in %.3f s: %s connect+auth+join/s, %s us of server CPU each\n",
                "setup", r.ready, r.setup_seconds, cell(r.connects_per_second(), 0).c_str(),
                cell(r.cpu_us_per_connect(), 0).c_str());
  t += line;
  std::snprintf(line, sizeof line, "  %-16s %s KiB at start, %s KiB after setup: %s KiB per connection\n",
                "server RSS", cell(r.rss_start_kib, 0).c_str(), cell(r.rss_setup_kib, 0).c_str(),
                cell(r.kib_per_connection(), 2).c_str());
  t += line;
  if (r.messaging()) {
    std::snprintf(line, sizeof line,
                  "  %-16s %.2f s, %zu-byte texts: %llu messages sent, %llu deliveries (%s/s), %s bytes each\n",
                  "window", r.window_seconds, r.text_bytes, static_cast<unsigned long long>(r.messages_sent),
                  static_cast<unsigned long long>(r.deliveries), cell(r.deliveries_per_second(), 0).c_str(),
                  cell(r.bytes_per_delivery(), 1).c_str());
    t += line;
    std::snprintf(line, sizeof line, "  %-16s %s s (%s %%): %s us per delivery, %s us per message\n",
                  "server CPU", cell(r.server_cpu_seconds, 3).c_str(),
                  cell(r.server_cpu_percent(), 0).c_str(), cell(r.cpu_us_per_delivery(), 3).c_str(),
                  cell(r.cpu_us_per_message(), 1).c_str());
    t += line;
    std::snprintf(
        line, sizeof line, "  %-16s %s %% of a core%s\n", "generator CPU",
        cell(r.generator_cpu_percent(), 0).c_str(),
        r.generator_cpu_percent().value_or(0) > 90 ? " (near saturation: it may set the pace)" : "");
    t += line;
    if (r.latency.samples > 0) {
      std::snprintf(line, sizeof line,
                    "  %-16s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (%zu, %s timestamps)\n",
                    "latency", r.latency.p50_ms, r.latency.p90_ms, r.latency.p99_ms, r.latency.p999_ms,
                    r.latency.max_ms, r.latency.samples, r.kernel_timestamps ? "kernel" : "user");
      t += line;
      const std::pair<const char*, const latency_summary*> split[] = {
          {"  same node", &r.latency_same_node}, {"  cross node", &r.latency_cross_node}};
      for (const auto& [name, l] : split) {
        if (r.nodes < 2 || l->samples == 0) continue;
        std::snprintf(line, sizeof line, "  %-16s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (%zu)\n",
                      name, l->p50_ms, l->p90_ms, l->p99_ms, l->p999_ms, l->max_ms, l->samples);
        t += line;
      }
    }
  }
  std::snprintf(
      line, sizeof line,
      "  %-16s %llu error frames%s%s, %llu lost, %llu duplicate, %llu unknown, %llu failed connections\n",
      "errors", static_cast<unsigned long long>(r.error_frames),
      r.first_error_code.empty() ? "" : " (first: ",
      r.first_error_code.empty() ? "" : (r.first_error_code + ")").c_str(),
      static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.duplicates),
      static_cast<unsigned long long>(r.unknown), static_cast<unsigned long long>(r.failed_connections));
  t += line;
  if (!r.error.empty()) {
    t += "  error            ";
    t += r.error;
    t += '\n';
  }
  return t;
}

}  // namespace livechat_load

#endif
