// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_METRICS_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_METRICS_HPP

// GET /metrics (Prometheus text format 0.0.4): the counters the HTTP side
// keeps (`server_metrics`) and the rendering of those, the hub's and the
// store's. Single-threaded like the hub.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <livechat/error.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/version.hpp>

#include "message.hpp"

namespace livechat_server {

namespace metrics_detail {

/// A Prometheus label value with `\`, `"` and newlines escaped.
inline std::string label_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

inline std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

/// One histogram family (cumulative buckets, sum, count) into `out`.
template <std::size_t N>
void render_histogram(std::string& out, const char* name, const char* help,
                      const std::array<double, N>& bounds,
                      const std::array<std::uint64_t, N + 1>& counts, double sum,
                      std::uint64_t count) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += counts[i];
    out += std::string(name) + "_bucket{le=\"" + format_double(bounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += counts[N];
  out += std::string(name) + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += std::string(name) + "_sum " + format_double(sum) + "\n";
  out += std::string(name) + "_count " + std::to_string(count) + "\n";
}

/// The bucket of `v` among `bounds` (N: +Inf).
template <std::size_t N>
std::size_t bucket_of(const std::array<double, N>& bounds, double v) noexcept {
  std::size_t i = 0;
  while (i < N && v > bounds[i]) ++i;
  return i;
}

}  // namespace metrics_detail

/// A store's account of the round trips its write transactions made the
/// loop wait for so far (postgresql_store::batch_round_trips and
/// batch_wait_time).
struct store_waits {
  std::uint64_t round_trips = 0;
  std::chrono::steady_clock::duration waited{};
};

/// Counters the HTTP side keeps for GET /metrics (the hub keeps its own:
/// `hub.stats()`). Single-threaded like the hub.
class server_metrics {
 public:
  /// Upper bounds (seconds) of `livechat_store_commit_seconds`; +Inf implied.
  static constexpr std::array<double, 13> commit_buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

  enum class webhook_outcome { stored, duplicate, ignored, skipped };
  /// Why a WebSocket handshake was refused (the `reason` label).
  enum class handshake_refusal { origin, ip_cap, user_cap, shutting_down };

  void observe_commit(std::chrono::steady_clock::duration d) noexcept {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < commit_buckets.size() && s > commit_buckets[i]) ++i;
    ++commit_counts_[i];  // index commit_buckets.size() is +Inf
    commit_sum_ += s;
    ++commit_count_;
  }

  /// Upper bounds of `livechat_store_turn_round_trips`; +Inf implied.
  static constexpr std::array<double, 16> turn_trip_buckets = {1,  2,  3,  4,  5,   6,   8,   11,
                                                              16, 24, 32, 64, 128, 256, 512, 1024};

  /// The store whose waits each commit observes (see observe_turn); none
  /// for a store without a round trip.
  void set_store_waits(std::function<store_waits()> f) {
    waits_ = std::move(f);
    if (waits_) waits_seen_ = waits_();
  }

  /// After a commit: the round trips and the wait of the write
  /// transactions since the previous one (this turn's writes, the reads
  /// made while they were open, the COMMIT) into
  /// `livechat_store_turn_round_trips` / `_wait_seconds`.
  void observe_turn() {
    if (!waits_) return;
    const store_waits now = waits_();
    const auto trips = static_cast<double>(now.round_trips - waits_seen_.round_trips);
    const double s = std::chrono::duration<double>(now.waited - waits_seen_.waited).count();
    waits_seen_ = now;
    ++turn_trip_counts_[metrics_detail::bucket_of(turn_trip_buckets, trips)];
    ++turn_wait_counts_[metrics_detail::bucket_of(commit_buckets, s)];
    turn_trip_sum_ += trips;
    turn_wait_sum_ += s;
    ++turn_count_;
  }

  /// Runs `f` and leaves the store waits it caused out of every turn (the
  /// health probe's read is not part of any).
  template <class F>
  void outside_turns(F&& f) {
    if (!waits_) return static_cast<void>(f());
    const store_waits before = waits_();
    f();
    const store_waits after = waits_();
    waits_seen_.round_trips += after.round_trips - before.round_trips;
    waits_seen_.waited += after.waited - before.waited;
  }

  void count_http(std::string_view route, int status) { ++http_[{std::string(route), status}]; }

  void count_webhook(webhook_outcome o) noexcept { ++webhook_[static_cast<std::size_t>(o)]; }

  void count_handshake_refused(handshake_refusal r) noexcept {
    ++handshakes_refused_[static_cast<std::size_t>(r)];
  }
  std::uint64_t handshakes_refused(handshake_refusal r) const noexcept {
    return handshakes_refused_[static_cast<std::size_t>(r)];
  }

  /// The metrics of this object in Prometheus text format (no trailing
  /// content beyond its own families).
  void render(std::string& out) const {
    out += "# HELP livechat_store_commit_seconds Time to commit writes to the message store "
           "(grouped commits of a loop turn, webhook and REST posts).\n"
           "# TYPE livechat_store_commit_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < commit_buckets.size(); ++i) {
      cumulative += commit_counts_[i];
      out += "livechat_store_commit_seconds_bucket{le=\"" +
             metrics_detail::format_double(commit_buckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += commit_counts_[commit_buckets.size()];
    out += "livechat_store_commit_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += "livechat_store_commit_seconds_sum " + metrics_detail::format_double(commit_sum_) + "\n";
    out += "livechat_store_commit_seconds_count " + std::to_string(commit_count_) + "\n";
    if (waits_) {
      metrics_detail::render_histogram(
          out, "livechat_store_turn_round_trips",
          "Store round trips the event loop waited for per commit: one loop turn's writes, "
          "the reads made while they were open, the COMMIT.",
          turn_trip_buckets, turn_trip_counts_, turn_trip_sum_, turn_count_);
      metrics_detail::render_histogram(
          out, "livechat_store_turn_wait_seconds",
          "Time the event loop waited for those round trips per commit.", commit_buckets,
          turn_wait_counts_, turn_wait_sum_, turn_count_);
    }

    out += "# HELP livechat_http_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE livechat_http_requests_total counter\n";
    for (const auto& [key, n] : http_)
      out += "livechat_http_requests_total{route=\"" + metrics_detail::label_value(key.first) +
             "\",status=\"" + std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";

    static constexpr const char* outcomes[] = {"stored", "duplicate", "ignored", "skipped"};
    labelled_counters(out, "livechat_webhook_events_total",
                      "LINE webhook events by outcome (stored, duplicate: webhookEventId seen "
                      "before, ignored: not a text message from a user, skipped: invalid).",
                      "result", outcomes, webhook_);
    static constexpr const char* reasons[] = {"origin", "ip_cap", "user_cap", "shutting_down"};
    labelled_counters(out, "livechat_handshakes_refused_total",
                      "WebSocket handshakes refused, by reason (origin: Origin not allowed or "
                      "missing; ip_cap, user_cap: connection caps; shutting_down: arrived during "
                      "shutdown).",
                      "reason", reasons, handshakes_refused_);
    if (extra_) extra_(out);
  }

  std::uint64_t commit_count() const noexcept { return commit_count_; }

  /// More families, rendered after these (the cluster's, the store probe's).
  void set_extra(std::function<void(std::string&)> f) { extra_ = std::move(f); }

 private:
  /// A counter family with one sample per value of its one label.
  template <std::size_t N>
  static void labelled_counters(std::string& out, const char* name, const char* help,
                                const char* label, const char* const (&values)[N],
                                const std::array<std::uint64_t, N>& counts) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (std::size_t i = 0; i < N; ++i)
      out += std::string(name) + "{" + label + "=\"" + values[i] + "\"} " +
             std::to_string(counts[i]) + "\n";
  }

  std::array<std::uint64_t, commit_buckets.size() + 1> commit_counts_{};
  double commit_sum_ = 0;
  std::uint64_t commit_count_ = 0;
  std::function<store_waits()> waits_;
  store_waits waits_seen_;
  std::array<std::uint64_t, turn_trip_buckets.size() + 1> turn_trip_counts_{};
  std::array<std::uint64_t, commit_buckets.size() + 1> turn_wait_counts_{};
  double turn_trip_sum_ = 0;
  double turn_wait_sum_ = 0;
  std::uint64_t turn_count_ = 0;
  std::map<std::pair<std::string, int>, std::uint64_t> http_;
  std::array<std::uint64_t, 4> webhook_{};
  std::array<std::uint64_t, 4> handshakes_refused_{};
  std::function<void(std::string&)> extra_;
};

/// `hub.commit()` timed into `livechat_store_commit_seconds` when writes
/// were pending (a commit with nothing to write is not a store commit).
template <class Hub>
bool timed_commit(Hub& hub, server_metrics& metrics) {
  if (!hub.commit_pending()) return hub.commit();
  const auto start = std::chrono::steady_clock::now();
  const bool ok = hub.commit();
  metrics.observe_commit(std::chrono::steady_clock::now() - start);
  metrics.observe_turn();
  return ok;
}

/// The whole GET /metrics body: the hub's and the store's counters, then
/// `metrics`'s own.
template <class Hub>
std::string render_metrics(const Hub& hub, const livechat::message_store& store,
                           const server_metrics& metrics) {
  std::string out;
  out.reserve(8192);
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&](const char* name, std::uint64_t v) {
    out += std::string(name) + " " + std::to_string(v) + "\n";
  };
  const auto& hs = hub.stats();
  const auto& ss = store.stats();

  family("livechat_build_info", "gauge", "Always 1; the version of this server.");
  out += std::string("livechat_build_info{version=\"") +
         metrics_detail::label_value(LIVECHAT_VERSION_STRING) + "\"} 1\n";
  family("livechat_connections", "gauge", "Open WebSocket connections.");
  sample("livechat_connections", hub.connection_count());
  family("livechat_users_online", "gauge", "Authenticated users with at least one connection.");
  sample("livechat_users_online", hub.users_online());
  family("livechat_rooms", "gauge", "Rooms with at least one connection.");
  sample("livechat_rooms", hub.room_count());
  family("livechat_inbox_watchers", "gauge", "Connections that watch the inbox.");
  sample("livechat_inbox_watchers", hub.inbox_watcher_count());

  family("livechat_messages_stored_total", "counter", "Messages appended to the store.");
  sample("livechat_messages_stored_total", ss.appended);
  family("livechat_messages_duplicate_total", "counter",
         "Messages not stored again (repeated client_msg_id or webhookEventId).");
  sample("livechat_messages_duplicate_total", ss.duplicates);
  family("livechat_store_failures_total", "counter", "Failed message store operations.");
  sample("livechat_store_failures_total", ss.failures);

  family("livechat_frames_in_total", "counter", "WebSocket frames received (refused ones included).");
  sample("livechat_frames_in_total", hs.frames_in);
  family("livechat_frames_out_total", "counter", "WebSocket frames sent.");
  sample("livechat_frames_out_total", hs.frames_out);

  family("livechat_events_in_total", "counter", "Client events decoded, by type.");
  static constexpr std::string_view event_names[] = {
      livechat::client_events::auth::type_name,          livechat::client_events::join_room::type_name,
      livechat::client_events::leave_room::type_name,    livechat::client_events::watch_inbox::type_name,
      livechat::client_events::unwatch_inbox::type_name, livechat::client_events::send_message::type_name,
      livechat::client_events::typing_start::type_name,  livechat::client_events::typing_stop::type_name,
      livechat::client_events::claim_session::type_name, livechat::client_events::release_session::type_name,
      livechat::client_events::close_session::type_name, livechat::client_events::mark_read::type_name,
      livechat::client_events::ping::type_name};
  static_assert(std::size(event_names) == std::tuple_size_v<decltype(hs.events_in)>,
                "one name per client event type");
  for (std::size_t i = 0; i < std::size(event_names); ++i)
    out += "livechat_events_in_total{type=\"" + std::string(event_names[i]) + "\"} " +
           std::to_string(hs.events_in[i]) + "\n";

  family("livechat_errors_total", "counter", "error events sent to clients, by code.");
  for (int code = 1; code <= static_cast<int>(livechat::errc::internal); ++code) {
    const auto idx = static_cast<std::size_t>(code);
    const std::uint64_t n = idx < hs.errors_out.size() ? hs.errors_out[idx] : 0;
    out += "livechat_errors_total{code=\"" +
           std::string(livechat::wire_code(static_cast<livechat::errc>(code))) + "\"} " +
           std::to_string(n) + "\n";
  }

  family("livechat_closes_slow_consumer_total", "counter",
         "Connections closed with 1013 for not reading fast enough.");
  sample("livechat_closes_slow_consumer_total", hs.closes_slow_consumer);
  family("livechat_events_skipped_backpressure_total", "counter",
         "typing and presence_diff frames not sent to connections above the soft unsent-bytes "
         "mark.");
  sample("livechat_events_skipped_backpressure_total", hs.events_skipped_backpressure);

  metrics.render(out);
  return out;
}

/// The answer to GET /metrics.
template <class Hub>
http_response metrics_response(const Hub& hub, const livechat::message_store& store,
                               const server_metrics& metrics) {
  http_response r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = render_metrics(hub, store, metrics);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace livechat_server

#endif
