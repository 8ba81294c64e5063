// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_EXAMPLES_SERVER_HANDSHAKE_HPP
#define LIVECHAT_EXAMPLES_SERVER_HANDSHAKE_HPP

// The WebSocket handshake policy, checked before the upgrade so a refused
// client costs no WebSocket state: only the one path exists (404), nothing
// new during shutdown (503), the Origin allow-list (403), then the caps
// (429). Every refusal has PROTOCOL.md's JSON error body, a metric and a
// rate-limited log line.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include <websocketpp/error.hpp>
#include <websocketpp/http/constants.hpp>

#include <livechat/auth/authenticator.hpp>

#include "http/bearer_token.hpp"
#include "http/metrics.hpp"
#include "log/sink.hpp"
#include "options.hpp"
#include "startup.hpp"
#include "websocket_http.hpp"

namespace livechat_server {

template <class Hub, class Clock>
class handshake_policy {
 public:
  handshake_policy(std::string_view path, const options& opts, logging::sink& log,
                   server_metrics& metrics, livechat::authenticator& auth, Clock& clock, Hub& hub,
                   const bool& shutting_down)
      : path_(path), opts_(opts), log_(log), metrics_(metrics), auth_(auth), clock_(clock),
        hub_(hub), shutting_down_(shutting_down) {}

  /// true: accept (the first offered subprotocol selected: browsers that
  /// offer some drop the connection unless one is); false: refused, the
  /// response written. `client` is the settled address (accept_loop.hpp).
  template <class ConnectionPtr, class Client>
  bool operator()(const ConnectionPtr& con, const Client& client) const {
    using refusal = server_metrics::handshake_refusal;
    namespace status = websocketpp::http::status_code;
    // One line per refusal (rate-limited): the address and why, never
    // the request URI or headers, which may carry tokens. Behind a
    // trusted proxy, the client it named and the proxy.
    auto log_refusal = [&](status::value code, std::string_view reason) {
      if (!log_.enabled(logging::level::warn)) return;
      if (client.from_header)
        log_.warn("handshake_refused", {{"remote", client.address},
                                        {"via", con->peer_address()},
                                        {"status", static_cast<int>(code)},
                                        {"reason", reason}});
      else
        log_.warn("handshake_refused", {{"remote", con->get_remote_endpoint()},
                                        {"status", static_cast<int>(code)},
                                        {"reason", reason}});
    };
    auto refuse = [&](refusal why, status::value code, std::string_view error_code,
                      const std::string& message) {
      metrics_.count_handshake_refused(why);
      log_refusal(code, refusal_name(why));
      refuse_handshake(con, code, error_code, message);
      return false;
    };
    const std::string& resource = con->get_resource();
    if (resource.substr(0, resource.find('?')) != path_) {
      log_refusal(status::not_found, "path");
      refuse_handshake(con, status::not_found, "not_found",
                       "no WebSocket endpoint here; use " + std::string(path_));
      return false;
    }
    if (shutting_down_)
      return refuse(refusal::shutting_down, status::service_unavailable, "unavailable",
                    "the server is shutting down; reconnect in a moment");

    const std::string& origin = con->get_request_header("Origin");
    const auto& allowed = opts_.allowed_origins;
    if (origin.empty() ? opts_.reject_missing_origin
                       : !allowed.empty() &&
                             std::find(allowed.begin(), allowed.end(), origin) == allowed.end())
      return refuse(refusal::origin, status::forbidden, "forbidden",
                    origin.empty() ? "this server requires an Origin header"
                                   : "this Origin is not allowed to open a WebSocket here");

    // A client that can send headers may authenticate in the upgrade
    // request; then a user at the cap is refused before anything opens.
    // The token still has to come again in `auth` (browsers cannot send
    // the header, so that is where identity is settled for everyone); a
    // token refused here is left for `auth` to answer.
    if (const auto token = bearer_token(con->get_request_header("Authorization"))) {
      const auto who = auth_.authenticate(*token, clock_.system_now());
      if (who && hub_.user_at_connection_limit(who->user_id))
        return refuse(refusal::user_cap, status::too_many_requests, "limit_exceeded",
                      "this user already holds " +
                          std::to_string(opts_.hub.max_connections_per_user) +
                          " connections, the most allowed; close one and retry");
    }

    // Counted at accept (accept_loop); this one came past the cap.
    if (con->over_address_cap())
      return refuse(refusal::ip_cap, status::too_many_requests, "limit_exceeded",
                    address_cap_message(opts_.max_connections_per_ip));

    const auto& offered = con->get_requested_subprotocols();
    if (!offered.empty()) {
      websocketpp::lib::error_code ec;
      con->select_subprotocol(offered.front(), ec);
    }
    return true;
  }

 private:
  std::string_view path_;
  const options& opts_;
  logging::sink& log_;
  server_metrics& metrics_;
  livechat::authenticator& auth_;
  Clock& clock_;
  Hub& hub_;
  const bool& shutting_down_;
};

}  // namespace livechat_server

#endif
