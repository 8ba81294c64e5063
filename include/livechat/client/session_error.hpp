// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_SESSION_ERROR_HPP
#define LIVECHAT_CLIENT_SESSION_ERROR_HPP

// What client::session reports through on_error: the kind of failure and,
// for the server's refusals, its code, field and request type.

#include <optional>
#include <string>

#include <livechat/error.hpp>

namespace livechat::client {

/// What went wrong, for on_error.
enum class error_kind {
  server,               ///< an `error` event from the server (`code`, `field`, `request_type`)
  malformed_frame,      ///< a server frame that could not be decoded; it was ignored
  callback,             ///< a user callback threw; the exception was caught
  transport,            ///< the transport threw from connect/send/close
  invalid_argument,     ///< a call was refused locally (bad room name, empty text …)
  not_connected,        ///< an action that cannot wait for a connection was refused
  connect_timeout,      ///< connecting/authenticating took longer than connect_timeout
  heartbeat_timeout,    ///< pings went unanswered: the connection was declared dead
  auth_failed,          ///< the token was refused (close 4003): no more reconnects
  reconnect_exhausted,  ///< backoff max_attempts reached: no more reconnects
  /// A `session_settings` function gave an unusable value and a safe one was
  /// used instead; the call went through (make_client_msg_id → a random id).
  bad_setting,
  internal,             ///< an unexpected exception inside the session, caught
};

inline const char* to_string(error_kind k) noexcept {
  switch (k) {
    case error_kind::server: return "server";
    case error_kind::malformed_frame: return "malformed_frame";
    case error_kind::callback: return "callback";
    case error_kind::transport: return "transport";
    case error_kind::invalid_argument: return "invalid_argument";
    case error_kind::not_connected: return "not_connected";
    case error_kind::connect_timeout: return "connect_timeout";
    case error_kind::heartbeat_timeout: return "heartbeat_timeout";
    case error_kind::auth_failed: return "auth_failed";
    case error_kind::reconnect_exhausted: return "reconnect_exhausted";
    case error_kind::bad_setting: return "bad_setting";
    case error_kind::internal: return "internal";
  }
  return "unknown";
}

struct session_error {
  error_kind kind = error_kind::server;
  errc code = errc::internal;  ///< the server's code (kind server), else the closest errc
  std::string message;
  /// Server errors: the `type` that failed; malformed frames: their `type`.
  std::optional<std::string> request_type;
  std::optional<std::string> field;  ///< server errors: the offending field
  std::string room;                  ///< when the failed request named one
};

}  // namespace livechat::client

#endif
