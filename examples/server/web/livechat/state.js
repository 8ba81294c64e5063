// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The connection states of LiveChatClient, apart so that its pieces (and a
// user interface) can name them without importing the client.

/** The connection states. */
export const State = Object.freeze({
  disconnected: 'disconnected',     // not started, stopped, token refused, or gave up
  connecting: 'connecting',         // WebSocket opening
  authenticating: 'authenticating', // open, `auth` sent
  connected: 'connected',           // authenticated: rooms rejoined, sends flow
  reconnecting: 'reconnecting',     // lost; waiting for the backoff delay
});

