// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_API_ROUTES_HPP
#define LIVECHAT_EXAMPLES_SERVER_API_ROUTES_HPP

// The HTTP API of livechat-server (PROTOCOL.md "HTTP"): the LINE webhook,
// the REST fallback and the Prometheus metrics. Like http_routes.hpp it
// knows nothing of websocketpp: every handler maps an `http_request` to an
// `http_response`, so a test can drive it with a hub over a recording
// transport and no socket.
//
// Everything here runs on the hub's thread (the server's one Asio thread).
// Writes go through the hub (`post_user_message`, `post_operator_message`),
// which commits before it returns, so an answer of 200/201 always follows
// the commit. Reads commit the hub's pending writes first, so REST never
// shows history that a failed commit could still take back.

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include <livechat/auth/authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/error.hpp>
#include <livechat/protocol/codec.hpp>
#include <livechat/protocol/events.hpp>
#include <livechat/protocol/line_webhook.hpp>
#include <livechat/protocol/room_name.hpp>
#include <livechat/server/hub.hpp>
#include <livechat/store/message_store.hpp>
#include <livechat/store/page_cap.hpp>
#include <livechat/version.hpp>

#ifdef LIVECHAT_SERVER_WITH_JWT  // libcrypto is linked: HMAC-SHA256 is available
#include <livechat/detail/base64.hpp>
#include <livechat/detail/hmac_sha256.hpp>
#endif

#include "http_routes.hpp"
#include "user_rate_limiter.hpp"

namespace livechat_server {

// ------------------------------------------------------------------ helpers

namespace api_detail {

/// Writes one JSON document with the codec's writer (the same encoding of
/// messages, sessions and conversations as the WebSocket events).
template <class F>
std::string write_json(F&& f) {
  std::string out;
  out.reserve(256);
  livechat::detail::string_output stream{out};
  livechat::detail::json_writer w(stream);
  f(w);
  return out;
}

/// Parses a request body: one JSON value, valid UTF-8, no raw NUL (which
/// RapidJSON's in-memory stream would take for the end of input).
inline bool parse_json(std::string_view body, rapidjson::Document& doc) {
  if (body.empty() || std::char_traits<char>::find(body.data(), body.size(), '\0') != nullptr)
    return false;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.data(),
                                                                                   body.size());
  return !doc.HasParseError();
}

// obj[name] (or nullptr), and the string there: the webhook parser's own.
using livechat::detail::line::member;
using livechat::detail::line::string_member;

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `%XX` decoding (and `+` as space when `plus_is_space`, for queries);
/// nothing on a malformed escape.
inline std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// Decimal digits only (no sign, no space, no empty string), within uint64.
inline std::optional<std::uint64_t> parse_uint(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

/// One query parameter, percent-decoded. `ok` is false when the query is
/// malformed or names the parameter twice (which one would win is a guess).
struct query_value {
  bool ok = true;
  std::optional<std::string> value;
};

inline query_value query_param(std::string_view query, std::string_view name) {
  query_value out;
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (!key) continue;  // a parameter we cannot even name is not ours
    if (*key != name) continue;
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1),
                                true);
    if (!value || out.value) {
      out.ok = false;
      return out;
    }
    out.value = std::move(*value);
  }
  return out;
}

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

}  // namespace api_detail

// ------------------------------------------------------------------ signature

#ifdef LIVECHAT_SERVER_WITH_JWT
/// True when `signature` (the `X-Line-Signature` header) is
/// base64(HMAC-SHA256(channel_secret, body)). Compared in constant time.
inline bool line_signature_valid(std::string_view channel_secret, std::string_view body,
                                 std::string_view signature) {
  const auto mac = livechat::detail::try_hmac_sha256(channel_secret, body);
  if (!mac) return false;  // libcrypto failed: reject rather than guess
  const std::string expected = livechat::detail::base64_encode(mac->data(), mac->size());
  return livechat::detail::constant_time_equal(expected, signature);
}
#endif

// ------------------------------------------------------------------ metrics

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
             api_detail::format_double(commit_buckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    cumulative += commit_counts_[commit_buckets.size()];
    out += "livechat_store_commit_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
    out += "livechat_store_commit_seconds_sum " + api_detail::format_double(commit_sum_) + "\n";
    out += "livechat_store_commit_seconds_count " + std::to_string(commit_count_) + "\n";

    out += "# HELP livechat_http_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE livechat_http_requests_total counter\n";
    for (const auto& [key, n] : http_)
      out += "livechat_http_requests_total{route=\"" + api_detail::label_value(key.first) +
             "\",status=\"" + std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";

    out += "# HELP livechat_webhook_events_total LINE webhook events by outcome (stored, "
           "duplicate: webhookEventId seen before, ignored: not a text message from a user, "
           "skipped: invalid).\n"
           "# TYPE livechat_webhook_events_total counter\n";
    static constexpr const char* names[] = {"stored", "duplicate", "ignored", "skipped"};
    for (std::size_t i = 0; i < webhook_.size(); ++i)
      out += std::string("livechat_webhook_events_total{result=\"") + names[i] + "\"} " +
             std::to_string(webhook_[i]) + "\n";

    out += "# HELP livechat_handshakes_refused_total WebSocket handshakes refused, by reason "
           "(origin: Origin not allowed or missing; ip_cap, user_cap: connection caps; "
           "shutting_down: arrived during shutdown).\n"
           "# TYPE livechat_handshakes_refused_total counter\n";
    static constexpr const char* reasons[] = {"origin", "ip_cap", "user_cap", "shutting_down"};
    for (std::size_t i = 0; i < handshakes_refused_.size(); ++i)
      out += std::string("livechat_handshakes_refused_total{reason=\"") + reasons[i] + "\"} " +
             std::to_string(handshakes_refused_[i]) + "\n";
  }

  std::uint64_t commit_count() const noexcept { return commit_count_; }

 private:
  std::array<std::uint64_t, commit_buckets.size() + 1> commit_counts_{};
  double commit_sum_ = 0;
  std::uint64_t commit_count_ = 0;
  std::map<std::pair<std::string, int>, std::uint64_t> http_;
  std::array<std::uint64_t, 4> webhook_{};
  std::array<std::uint64_t, 4> handshakes_refused_{};
};

/// `hub.commit()` timed into `livechat_store_commit_seconds` when writes
/// were pending (a commit with nothing to write is not a store commit).
template <class Hub>
bool timed_commit(Hub& hub, server_metrics& metrics) {
  if (!hub.commit_pending()) return hub.commit();
  const auto start = std::chrono::steady_clock::now();
  const bool ok = hub.commit();
  metrics.observe_commit(std::chrono::steady_clock::now() - start);
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
         api_detail::label_value(LIVECHAT_VERSION_STRING) + "\"} 1\n";
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

// ------------------------------------------------------------------ routes

struct api_options {
  /// Checks `X-Line-Signature` against the raw body; empty: the signature
  /// is not checked (no `--line-channel-secret`).
  std::function<bool(std::string_view body, std::string_view signature)> verify_line_signature;
  /// Most users whose REST write bucket is remembered at once (each costs
  /// about 100 bytes; see user_rate_limiter).
  std::size_t rest_rate_users = 10'000;
};

/// The webhook, REST and metrics handlers over one hub. `install` adds them
/// to a router; each handler is also callable on its own.
template <class Hub, class Clock = livechat::default_clock>
class api_routes {
 public:
  using logger = std::function<void(std::string_view line)>;

  static constexpr const char* webhook_path = "/api/v1/webhook";
  static constexpr const char* conversations_path = "/api/v1/conversations";
  static constexpr const char* conversation_prefix = "/api/v1/conversations/";
  static constexpr const char* messages_label = "/api/v1/conversations/{id}/messages";
  static constexpr const char* metrics_path = "/metrics";
  /// GET /api/v1/conversations: `limit` 1-500, 100 by default (PROTOCOL.md).
  static constexpr std::size_t default_list_limit = 100;
  static constexpr std::uint64_t max_list_limit = 500;

  api_routes(Hub& hub, livechat::message_store& store, livechat::authenticator& auth, Clock& clock,
             server_metrics& metrics, api_options options = {}, logger log = {})
      : hub_(hub),
        store_(store),
        auth_(auth),
        clock_(clock),
        metrics_(metrics),
        options_(std::move(options)),
        log_(std::move(log)),
        // A REST write costs what a frame does: the same bucket size and
        // refill as a connection's, so REST is no way around the limit.
        rest_writes_(hub.config().rate_burst, hub.config().rate_per_second,
                     options_.rest_rate_users) {}

  /// Adds the routes and makes the router count every answer in
  /// `livechat_http_requests_total`.
  void install(http_router& router) {
    router.add("POST", webhook_path, [this](const http_request& r) { return webhook(r); });
    router.add("GET", conversations_path,
               [this](const http_request& r) { return list_conversations(r); });
    router.add_prefix("GET", conversation_prefix,
                      [this](const http_request& r) { return conversation_messages(r); },
                      messages_label);
    router.add_prefix("POST", conversation_prefix,
                      [this](const http_request& r) { return conversation_messages(r); },
                      messages_label);
    router.add("GET", metrics_path, [this](const http_request& r) { return metrics(r); });
    router.set_observer([this](std::string_view route, const http_request&, const http_response& resp) {
      metrics_.count_http(route, resp.status);
    });
  }

  // ---------------------------------------------------------------- webhook

  /// POST /api/v1/webhook: the LINE Messaging API webhook.
  http_response webhook(const http_request& req) {
    if (options_.verify_line_signature) {
      const std::string_view signature = req.header("X-Line-Signature");
      if (signature.empty() || !options_.verify_line_signature(req.body, signature))
        return json_error(401, "auth_failed", "X-Line-Signature does not match the body");
    }
    // The body's rules live in the library (livechat/protocol/line_webhook.hpp).
    const auto parsed = livechat::parse_line_webhook(req.body);
    if (!parsed.ok())
      return json_error(400, livechat::wire_code(parsed.error->code), parsed.error->message,
                        parsed.error->field);

    for (const auto& ev : parsed.webhook.events) {
      const std::size_t n = ev.index;
      if (ev.outcome == livechat::line_event_outcome::invalid) {
        log("webhook: event " + std::to_string(n) + " skipped: " + ev.reason);
        metrics_.count_webhook(server_metrics::webhook_outcome::skipped);
        continue;
      }
      if (ev.outcome == livechat::line_event_outcome::ignored) {
        metrics_.count_webhook(server_metrics::webhook_outcome::ignored);
        continue;
      }
      livechat::server::inbound_message in;
      in.conversation_id = ev.message.user_id;
      in.user_id = ev.message.user_id;
      in.name.clear();  // the user id (PROTOCOL.md)
      in.text = ev.message.text;
      in.webhook_event_id = ev.message.webhook_event_id;
      const auto start = std::chrono::steady_clock::now();
      auto stored = hub_.post_user_message(in);
      if (!stored) {
        if (stored.error() == livechat::errc::validation_error) {
          log("webhook: event " + std::to_string(n) +
              " skipped: message.text is longer than the text limit");
          metrics_.count_webhook(server_metrics::webhook_outcome::skipped);
          continue;
        }
        // LINE redelivers on a 5xx; what was stored before is deduplicated
        // by webhookEventId, so stopping here loses nothing.
        log("webhook: event " + std::to_string(n) + " not stored: " + stored.error().message());
        return json_error(500, "internal", "could not store the message; retry later");
      }
      if (stored->duplicate) {
        metrics_.count_webhook(server_metrics::webhook_outcome::duplicate);
      } else {
        metrics_.observe_commit(std::chrono::steady_clock::now() - start);
        metrics_.count_webhook(server_metrics::webhook_outcome::stored);
      }
    }
    return json_response(200, "{}");
  }

  // ---------------------------------------------------------------- REST

  /// GET /api/v1/conversations?limit=&cursor=&status=&claimed_by=
  http_response list_conversations(const http_request& req) {
    livechat::identity who;
    if (auto refused = authenticate(req, who)) return std::move(*refused);
    livechat::conversation_query q;
    q.limit = default_list_limit;
    const auto limit_param = api_detail::query_param(req.query, "limit");
    if (!limit_param.ok)
      return json_error(400, "validation_error", "limit is malformed or given twice", "limit");
    if (limit_param.value) {
      const auto n = api_detail::parse_uint(*limit_param.value);
      if (!n || *n == 0 || *n > max_list_limit)
        return json_error(400, "validation_error",
                          "limit must be an integer from 1 to " + std::to_string(max_list_limit),
                          "limit");
      q.limit = static_cast<std::size_t>(*n);
    }
    const auto cursor_param = api_detail::query_param(req.query, "cursor");
    if (!cursor_param.ok || (cursor_param.value && !livechat::parse_cursor(*cursor_param.value)))
      return json_error(400, "validation_error",
                        "cursor must be a next_cursor of an earlier page, given once", "cursor");
    if (cursor_param.value) q.cursor = *cursor_param.value;
    const auto status_param = api_detail::query_param(req.query, "status");
    if (status_param.value) q.status = livechat::parse_session_status(*status_param.value);
    if (!status_param.ok || (status_param.value && !q.status))
      return json_error(400, "validation_error", "status must be open, claimed or closed, given once",
                        "status");
    const auto claimed_param = api_detail::query_param(req.query, "claimed_by");
    if (claimed_param.value) q.claimed_by = *claimed_param.value;
    // The user-id rule of the authenticators: 1-128 bytes of printable UTF-8.
    if (!claimed_param.ok ||
        (claimed_param.value && !livechat::authenticator::is_valid_user_id(q.claimed_by)))
      return json_error(400, "validation_error",
                        "claimed_by must be a user id (1-128 printable characters), given once",
                        "claimed_by");

    commit_pending();
    const std::size_t cap = hub_.config().max_page_bytes;
    q.max_bytes = cap;
    auto page = store_.list_conversations(q);
    if (!page) {
      if (page.error() == livechat::errc::validation_error)
        return json_error(400, "validation_error", "the cursor was refused", "cursor");
      return store_error("list conversations", page.error());
    }
    livechat::cap_conversation_page(page.value(), cap);
    return json_response(200, api_detail::write_json([&](livechat::detail::json_writer& w) {
      w.StartObject();
      livechat::detail::key(w, "conversations");
      livechat::detail::write_array(w, page->conversations);
      livechat::detail::key(w, "next_cursor");
      if (page->next_cursor.empty())
        w.Null();
      else
        livechat::detail::write_string(w, page->next_cursor);
      w.EndObject();
    }));
  }

  /// GET or POST /api/v1/conversations/{id}/messages
  http_response conversation_messages(const http_request& req) {
    // Only {id}/messages exists under the prefix; the id may be
    // percent-encoded (':' and '@' are allowed in it).
    const std::string_view rest = req.path.substr(std::string_view(conversation_prefix).size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash + 1) != "messages")
      return json_error(404, "no such resource");
    livechat::identity who;
    if (auto refused = authenticate(req, who)) return std::move(*refused);
    const auto id = api_detail::percent_decode(rest.substr(0, slash), false);
    if (!id || !livechat::is_valid_conversation_id(*id))
      return json_error(400, "validation_error",
                        "the conversation id must match [A-Za-z0-9_.@:-]{1,128}", "conversation_id");
    if (req.method == "POST") return post_message(req, who, *id);
    return history(req, *id);
  }

  // ---------------------------------------------------------------- metrics

  /// GET /metrics (Prometheus text format 0.0.4).
  http_response metrics(const http_request&) {
    http_response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(hub_, store_, metrics_);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

 private:
  void log(const std::string& line) const {
    if (log_) log_(line);
  }

  /// Commits the hub's pending writes (timed), so reads see only
  /// committed history.
  void commit_pending() { timed_commit(hub_, metrics_); }

  http_response store_error(const char* what, std::error_code ec) const {
    log(std::string("api: ") + what + ": " + ec.message());
    return json_error(500, "internal", "the message store failed; try again");
  }

  /// The identity of `Authorization: Bearer <token>`, or the 401 to answer.
  std::optional<http_response> authenticate(const http_request& req, livechat::identity& who) {
    std::string_view h = req.header("Authorization");
    auto refuse = [](std::string_view code, std::string_view message, bool invalid_token) {
      auto r = json_error(401, code, message);
      r.headers.emplace_back("WWW-Authenticate", invalid_token
                                                     ? R"(Bearer realm="livechat", error="invalid_token")"
                                                     : R"(Bearer realm="livechat")");
      return r;
    };
    constexpr std::string_view scheme = "bearer ";
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    bool is_bearer = h.size() > scheme.size();
    for (std::size_t i = 0; is_bearer && i < scheme.size(); ++i) is_bearer = lower(h[i]) == scheme[i];
    if (!is_bearer)
      return refuse("not_authenticated", "send Authorization: Bearer <token>", false);
    std::string_view token = h.substr(scheme.size());
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    auto id = auth_.authenticate(token, clock_.system_now());
    if (!id) return refuse("auth_failed", "the token was rejected", true);
    who = std::move(id.value());
    return std::nullopt;
  }

  http_response history(const http_request& req, const std::string& conversation_id) {
    const auto& cfg = hub_.config();
    std::optional<std::uint64_t> since;
    std::optional<std::uint64_t> before;
    std::optional<std::size_t> limit;
    const auto since_param = api_detail::query_param(req.query, "since_seq");
    if (!since_param.ok)
      return json_error(400, "validation_error", "since_seq is malformed or given twice", "since_seq");
    if (since_param.value) {
      since = api_detail::parse_uint(*since_param.value);
      if (!since)
        return json_error(400, "validation_error", "since_seq must be an integer >= 0", "since_seq");
    }
    const auto before_param = api_detail::query_param(req.query, "before_seq");
    if (!before_param.ok)
      return json_error(400, "validation_error", "before_seq is malformed or given twice", "before_seq");
    if (before_param.value) {
      before = api_detail::parse_uint(*before_param.value);
      if (!before || *before == 0)
        return json_error(400, "validation_error", "before_seq must be an integer >= 1", "before_seq");
      if (since)
        return json_error(400, "validation_error", "before_seq cannot be combined with since_seq",
                          "before_seq");
    }
    const auto limit_param = api_detail::query_param(req.query, "limit");
    if (!limit_param.ok)
      return json_error(400, "validation_error", "limit is malformed or given twice", "limit");
    if (limit_param.value) {
      const auto n = api_detail::parse_uint(*limit_param.value);
      if (!n || *n == 0 || *n > cfg.recovery_limit)
        return json_error(400, "validation_error",
                          "limit must be an integer from 1 to " + std::to_string(cfg.recovery_limit),
                          "limit");
      limit = static_cast<std::size_t>(*n);
    }

    commit_pending();
    const std::string room = livechat::room_of(conversation_id);
    auto epoch = store_.epoch(room);
    if (!epoch) return store_error("epoch", epoch.error());
    // As conversation_update: the store stops at the byte budget, then the
    // page is cut to 1 MiB of encoded messages (has_more: page on).
    livechat::history_query hq;
    hq.since_seq = since;
    hq.before_seq = before;
    hq.limit = limit.value_or(since ? cfg.recovery_limit : cfg.history_page);
    hq.max_bytes = cfg.max_page_bytes;
    auto page = store_.history(room, hq);
    if (!page) return store_error("history", page.error());
    if (since && *since > page->last_seq) {
      // As conversation_update: a since_seq beyond the room's history
      // belongs to another lineage, so answer as without it (the epoch in
      // the answer tells the client).
      since.reset();
      hq.since_seq.reset();
      hq.limit = limit.value_or(cfg.history_page);
      page = store_.history(room, hq);
      if (!page) return store_error("history", page.error());
    }
    livechat::cap_history_page(page.value(), cfg.max_page_bytes, !since);
    return json_response(200, api_detail::write_json([&](livechat::detail::json_writer& w) {
      namespace d = livechat::detail;
      w.StartObject();
      d::key(w, "room"); d::write_string(w, room);
      d::key(w, "conversation_id"); d::write_string(w, conversation_id);
      d::key(w, "messages"); d::write_array(w, page->messages);
      d::key(w, "last_seq"); w.Uint64(page->last_seq);
      d::key(w, "has_more"); w.Bool(page->has_more);
      d::key(w, "epoch"); d::write_string(w, epoch.value());
      w.EndObject();
    }));
  }

  http_response post_message(const http_request& req, const livechat::identity& who,
                             const std::string& conversation_id) {
    // Counted before the body is read: a refused or invalid post still
    // cost a parse, as a refused frame does on a connection.
    if (const std::uint64_t wait = rest_writes_.acquire(who.user_id, clock_.now()); wait != 0) {
      auto r = json_error(429, "rate_limited", "too many messages, slow down");
      r.headers.emplace_back("Retry-After", std::to_string(wait));
      return r;
    }
    rapidjson::Document doc;
    if (!api_detail::parse_json(req.body, doc) || !doc.IsObject())
      return json_error(400, "invalid_json", "the body must be a JSON object");
    // The send_message payload rules, from the codec itself.
    const auto& limits = hub_.config().codec;
    livechat::detail::payload_reader reader(&doc, limits);
    const std::string text = reader.text();
    const auto client_msg_id = reader.optional_string("client_msg_id", limits.max_client_msg_id_length);
    if (reader.bad_encoding()) return json_error(400, "invalid_json", "the body is not valid UTF-8");
    if (const auto& e = reader.error())
      return json_error(400, "validation_error", e->message, e->field);

    const auto start = std::chrono::steady_clock::now();
    auto stored =
        hub_.post_operator_message(who, conversation_id, text, client_msg_id.value_or(std::string()));
    if (!stored) {
      if (stored.error() == livechat::errc::validation_error)
        return json_error(400, "validation_error", "the message was refused");
      log("api: message not stored: " + stored.error().message());
      return json_error(500, "internal", "could not store the message; try again");
    }
    if (!stored->duplicate) metrics_.observe_commit(std::chrono::steady_clock::now() - start);
    return json_response(stored->duplicate ? 200 : 201,
                         api_detail::write_json([&](livechat::detail::json_writer& w) {
                           w.StartObject();
                           livechat::detail::key(w, "message");
                           livechat::detail::write(w, stored->message);
                           livechat::detail::key(w, "duplicate");
                           w.Bool(stored->duplicate);
                           w.EndObject();
                         }));
  }

  Hub& hub_;
  livechat::message_store& store_;
  livechat::authenticator& auth_;
  Clock& clock_;
  server_metrics& metrics_;
  api_options options_;
  logger log_;
  user_rate_limiter rest_writes_;
};

}  // namespace livechat_server

#endif
