// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The operator console: plain JS, no build step, no external resources, on
// the livechat JavaScript client (served at /livechat/ from clients/js),
// which gives it the reconnects, the heartbeat, the offline queue and the
// ordered, exactly-once history. The console is only the page: what is shown
// and when, one module per part of it (console_state.js, connection.js,
// inbox.js, conversation.js, message_view.js, composer.js,
// notifications.js); each adds its own listeners when loaded. This one signs
// in, opens a conversation by name and starts. Everything received is shown
// with textContent, never innerHTML: message texts come from strangers.

import { State, roomOf, isValidRoom } from './livechat/livechat.js';
import { S, STORE, el, notice } from './console_state.js';
import { renderControls, renderOnline, renderStatus, signIn, signOut } from './connection.js';
import { closeRoom, openRoom, renderSession } from './conversation.js';
import { renderInbox } from './inbox.js';

// ---------------------------------------------------------- UI events
el.connectForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = el.token.value.trim();
  if (token) signIn(token);
});
el.disconnect.addEventListener('click', () => signOut(true));
el.retryNow.addEventListener('click', () => S.client && S.client.retryNow());

el.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = roomOf(el.room.value);
  if (!isValidRoom(room)) {
    notice('a room is conversation:ID, ID made of letters, digits and _ . @ : -');
    return;
  }
  openRoom(room);
});
el.back.addEventListener('click', () => closeRoom());

// The status pill's countdown.
setInterval(() => { if (S.client && S.client.state === State.reconnecting) renderStatus(); }, 250);

// ------------------------------------------------------------- start
const savedToken = STORE.getItem('livechat.token');
if (savedToken) {
  el.token.value = savedToken;
  signIn(savedToken);
}
renderStatus();
renderControls();
renderOnline();
renderInbox();
renderSession();
