// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HTTP_API_ROUTES_HPP
#define LIVECHAT_EXAMPLES_SERVER_HTTP_API_ROUTES_HPP

// The HTTP API of livechat-server (PROTOCOL.md "HTTP") over one hub: the
// LINE webhook (webhook.hpp), the REST fallback (rest.hpp) and the
// Prometheus metrics (metrics.hpp), installed on a router (router.hpp).
// Like the rest of this folder it knows nothing of websocketpp, so a test
// can drive it with a hub over a recording transport and no socket.

#include <cstddef>
#include <functional>
#include <string_view>
#include <utility>

#include <livechat/auth/authenticator.hpp>
#include <livechat/clock.hpp>
#include <livechat/store/message_store.hpp>

#include "message.hpp"
#include "metrics.hpp"
#include "rest.hpp"
#include "router.hpp"
#include "webhook.hpp"

namespace livechat_server {

struct api_options {
  /// Checks `X-Line-Signature` against the raw body; empty: the signature
  /// is not checked (no `--line-channel-secret`).
  std::function<bool(std::string_view body, std::string_view signature)> verify_line_signature;
  /// Most users whose REST write bucket is remembered at once (each costs
  /// about 100 bytes; see user_rate_limiter).
  std::size_t rest_rate_users = 10'000;
  /// Fetches a customer's file content (attachment id, LINE message id)
  /// when due (a new file, or a redelivered one whose fetch is not running
  /// or failed transiently); empty: no channel token, the file is failed at once.
  std::function<void(const std::string&, const std::string&)> fetch_line_content;
  /// A customer's message arrived (their LINE user id): the display name
  /// when known (empty: not yet), and the profile fetched when due; empty:
  /// customers are named by their id.
  std::function<std::string(const std::string&)> line_customer_seen;
};

/// The webhook, REST and metrics handlers over one hub. `install` adds them
/// to a router.
template <class Hub, class Clock = livechat::default_clock>
class api_routes {
 public:
  using logger = std::function<void(std::string_view line)>;

  static constexpr const char* metrics_path = "/metrics";

  api_routes(Hub& hub, livechat::message_store& store, livechat::authenticator& auth, Clock& clock,
             server_metrics& metrics, api_options options = {}, logger log = {})
      : hub_(hub),
        store_(store),
        metrics_(metrics),
        webhook_(hub, metrics, std::move(options.verify_line_signature), log,
                 std::move(options.fetch_line_content), std::move(options.line_customer_seen)),
        rest_(hub, store, auth, clock, metrics, options.rest_rate_users, std::move(log)) {}

  /// Adds the routes and makes the router count every answer in
  /// `livechat_http_requests_total`.
  void install(http_router& router) {
    using rest = rest_routes<Hub, Clock>;
    router.add("POST", webhook_route<Hub>::path, [this](const http_request& r) { return webhook_(r); });
    router.add("GET", rest::conversations_path,
               [this](const http_request& r) { return rest_.list_conversations(r); });
    router.add_prefix("GET", rest::conversation_prefix,
                      [this](const http_request& r) { return rest_.conversation_messages(r); },
                      rest::messages_label);
    router.add_prefix("POST", rest::conversation_prefix,
                      [this](const http_request& r) { return rest_.conversation_messages(r); },
                      rest::messages_label);
    router.add("GET", metrics_path,
               [this](const http_request&) { return metrics_response(hub_, store_, metrics_); });
    router.set_observer([this](std::string_view route, const http_request&, const http_response& resp) {
      metrics_.count_http(route, resp.status);
    });
  }

 private:
  Hub& hub_;
  livechat::message_store& store_;
  server_metrics& metrics_;
  webhook_route<Hub> webhook_;
  rest_routes<Hub, Clock> rest_;
};

}  // namespace livechat_server

#endif
