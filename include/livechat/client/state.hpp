// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_CLIENT_STATE_HPP
#define LIVECHAT_CLIENT_STATE_HPP

// The connection states of client::session (docs/architecture.md, "The
// client"), apart from the session so a UI can name them without the
// session's template.

namespace livechat::client {

enum class state {
  disconnected,    ///< not started, stopped, auth refused, or gave up
  connecting,      ///< transport.connect() called, waiting for on_open
  authenticating,  ///< open, `auth` sent, waiting for auth_success
  connected,       ///< authenticated: rooms (re)joined, sends flow
  reconnecting,    ///< lost; waiting for the backoff delay before connecting again
};

inline const char* to_string(state s) noexcept {
  switch (s) {
    case state::disconnected: return "disconnected";
    case state::connecting: return "connecting";
    case state::authenticating: return "authenticating";
    case state::connected: return "connected";
    case state::reconnecting: return "reconnecting";
  }
  return "unknown";
}

}  // namespace livechat::client

#endif
