// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// While the tab is hidden, a customer's message is a desktop notification
// (once the operator allowed them, asked on a click) and a count in the tab
// title; both reset when the tab is seen again.

import { el } from './console_state.js';
import { maybeMarkRead, openRoom } from './conversation.js';
import { renderTitle } from './inbox.js';

let unseen = 0; // customer messages that arrived while the tab was hidden

/** The title's count while the tab is hidden (renderTitle shows the larger of it and the unread total). */
export function unseenWhileHidden() { return unseen; }

/** A customer wrote, in any conversation: noticed only while the tab is hidden. */
export function customerWrote(m) {
  if (document.visibilityState === 'visible') return;
  unseen += 1;
  desktopNotification(m);
  renderTitle();
}

function desktopNotification(m) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    const n = new Notification(m.sender.name || 'customer', { body: m.text.slice(0, 140), tag: m.room });
    n.onclick = () => { window.focus(); openRoom(m.room); n.close(); };
  } catch (_) {
    // Some browsers allow notifications only from a service worker.
  }
}

// Asked for on a click only: browsers ignore (or hold against the page) a request nobody asked for.
el.notify.addEventListener('click', async () => {
  try { await Notification.requestPermission(); } catch (_) { /* old API or refused */ }
  el.notify.hidden = Notification.permission !== 'default';
});
el.notify.hidden = !('Notification' in window) || Notification.permission !== 'default';

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    unseen = 0;
    renderTitle();
    maybeMarkRead();
  }
});
