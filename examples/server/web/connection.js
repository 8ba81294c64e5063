// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The connection: signing in and out, the status pill (state, countdown,
// REST fallback, messages waiting), the buttons that follow the session
// state and the user's role, who is online, and every client event routed
// to the part of the page it changes.

import { LiveChatClient, RestClient, State, isValidRoom } from './livechat/livechat.js';
import { S, STORE, atBottom, connected, el, failed, formatTime, holders, me, myActions, node, notice,
  restoreQueue, saveQueue, timeline, typists, uploads } from './console_state.js';
import { renderUploads } from './composer.js';
import { addTimeline, maybeMarkRead, openRoom, renderMessages, renderSession, renderTyping, saveDraft,
  setTypist } from './conversation.js';
import { renderInbox } from './inbox.js';
import { customerWrote } from './notifications.js';

// ----------------------------------------------------------- rendering
export function renderStatus() {
  const s = S.client ? S.client.state : State.disconnected;
  let text = s;
  let kind = 'off';
  if (s === State.connected) {
    text = 'connected as ' + (me() ? me().name + ' (' + me().role + ')' : '…');
    kind = 'on';
  } else if (s === State.connecting || s === State.authenticating) {
    text = s + '…';
    kind = 'wait';
  } else if (s === State.reconnecting) {
    const ms = S.client.reconnectInMs;
    text = 'offline, reconnecting in ' + Math.ceil((ms || 0) / 1000) + ' s';
    kind = 'error';
  }
  if (S.client && S.client.transport === 'rest') {
    text = 'WebSocket blocked: working over REST (retrying the WebSocket in ' + Math.ceil((S.client.reconnectInMs || 0) / 1000) + ' s)';
    kind = 'wait';
  }
  const queued = S.client ? S.client.queue.length : 0;
  if (queued > 0 && s !== State.connected) text += ' · ' + queued + ' waiting to send';
  el.statusText.textContent = text;
  el.status.className = 'status status-' + kind;
  el.retryNow.hidden = s !== State.reconnecting;
}

export function renderControls() {
  const signedIn = !!S.client;
  el.connect.disabled = signedIn;
  el.token.disabled = signedIn;
  el.disconnect.disabled = !signedIn;
  el.connectForm.classList.toggle('signed-in', signedIn);
  el.join.disabled = !connected();
  const view = S.current && S.client ? S.client.room(S.current) : null;
  const s = view ? view.session : null;
  const u = me();
  const admin = !!u && u.role === 'admin';
  const mineClaim = !!s && s.status === 'claimed' && !!s.claimed_by && !!u && s.claimed_by.user_id === u.user_id;
  const othersClaim = !!s && s.status === 'claimed' && !mineClaim;
  const ok = connected() && !!view && view.loaded;
  el.claim.disabled = !ok || mineClaim || (othersClaim && !admin);
  el.release.disabled = !ok || !s || s.status !== 'claimed' || (!mineClaim && !admin);
  el.closeSession.disabled = !ok || !s || s.status === 'closed' || (othersClaim && !admin);
  el.text.disabled = !S.current || !signedIn;
  el.send.disabled = el.text.disabled;
  el.attach.disabled = el.text.disabled;
  document.body.classList.toggle('in-conversation', !!S.current);
}

export function renderOnline() {
  el.online.replaceChildren();
  const users = S.client ? S.client.online : [];
  for (const u of users) {
    const li = node('li', null, u.name);
    if (u.connections > 1) li.append(node('span', 'badge', u.connections + ' tabs'));
    if (me() && u.user_id === me().user_id) li.append(node('span', 'badge', 'you'));
    el.online.append(li);
  }
  el.onlineCount.textContent = String(users.length);
}
// ---------------------------------------------------------- the client
export function signIn(token) {
  if (S.client) return;
  try { STORE.setItem('livechat.token', token); } catch (_) { /* disabled */ }
  S.rest = new RestClient({ token });
  // With a RestClient the module falls back to REST where a proxy refuses the WebSocket.
  S.client = new LiveChatClient({ token, rest: S.rest });
  S.client.on('state', ({ to }) => {
    if (to !== State.connected) {
      for (const t of typists.values()) clearTimeout(t.timer);
      typists.clear();
      renderTyping();
    }
    renderStatus();
    renderControls();
    renderOnline();
  });
  S.client.on('auth', () => { renderStatus(); renderControls(); });
  S.client.on('transport', () => { renderStatus(); renderControls(); });
  S.client.on('inbox', () => renderInbox());
  S.client.on('summary', () => renderInbox());
  S.client.on('presence', () => renderOnline());
  S.client.on('conversation', (c) => {
    if (c.room !== S.current) return;
    const view = S.client.room(S.current);
    if (!S.firstUnreadSeq && view && view.readSeq < view.lastSeq) S.firstUnreadSeq = view.readSeq + 1;
    renderMessages();
    renderSession();
    maybeMarkRead();
  });
  S.client.on('history_reset', (room) => {
    if (room === S.current) {
      timeline.delete(room);
      renderMessages({ stick: true });
    }
  });
  // Every conversation's news comes as conversation_activity (the inbox), joined or not.
  S.client.on('conversation_activity', (a) => {
    const m = a.last_message;
    if (m && m.sender && m.sender.type === 'user') customerWrote(m);
  });
  S.client.on('message', (m) => {
    if (m.room !== S.current) return;
    // The thread is redrawn as a whole; the live region says only what is new.
    if (!me() || !m.sender || m.sender.id !== me().user_id) el.announce.textContent = (m.sender ? m.sender.name : '') + ': ' + m.text;
    const stick = atBottom();
    renderMessages({ stick });
    if (!stick) el.newMessages.hidden = false;
    if (m.sender && me() && m.sender.id !== me().user_id) setTypist(m.sender.id, m.sender.name, false);
    maybeMarkRead();
  });
  S.client.on('message_state', (s) => {
    if (s.state === 'sent' && s.message && s.message.sender && !S.sentAs) {
      S.sentAs = { user_id: s.message.sender.id, name: s.message.sender.name, role: 'operator' };
    }
    if (s.state === 'failed' && s.reason !== 'cancelled') {
      if (!failed.has(s.room)) failed.set(s.room, []);
      failed.get(s.room).push({ clientMsgId: s.clientMsgId, text: s.text, attachmentId: s.attachmentId,
        reason: s.error ? s.error.code : s.reason.replace(/_/g, ' ') });
      notice('not sent: ' + (s.error ? s.error.message : s.reason.replace(/_/g, ' ')));
    }
    if (s.room === S.current) renderMessages();
    renderStatus();
    saveQueue();
  });
  S.client.on('session', (room, s) => {
    if (s && s.status === 'claimed' && s.claimed_by && !holders.has(room)) holders.set(room, s.claimed_by.name);
    if (room === S.current) renderSession();
    renderInbox();
  });
  S.client.on('session_event', (e) => {
    const s = e.session || {};
    const by = s.claimed_by ? s.claimed_by.name : 'someone';
    const at = formatTime(s.updated_at);
    // The events say what the session became, not who did it: our own recent action we know.
    const mine = myActions.get(e.room) === e.type;
    if (mine) myActions.delete(e.room);
    const previous = holders.get(e.room);
    holders.set(e.room, s.status === 'closed' ? null : s.claimed_by ? s.claimed_by.name : null);
    let text;
    if (e.type === 'claimed') text = (mine ? 'you' : by) + ' claimed the conversation';
    else if (e.type === 'released') text = (mine ? 'you released' : 'released') + (previous ? " the claim of " + previous : ' the claim');
    else text = (mine ? 'you closed the conversation' : 'the conversation was closed') + (s.claimed_by ? ' (handled by ' + by + ')' : '');
    addTimeline(e.room, text + (at ? ' · ' + at : ''));
    if (e.room === S.current) renderMessages();
  });
  S.client.on('typing', (t) => {
    if (t.room === S.current && (!me() || t.user_id !== me().user_id)) setTypist(t.user_id, t.name, t.is_typing);
  });
  S.client.on('operator_joined', (e) => {
    if (e.room === S.current) { addTimeline(e.room, e.name + ' joined'); renderMessages(); renderSession(); }
  });
  S.client.on('operator_left', (e) => {
    if (e.room === S.current) {
      setTypist(e.user_id, e.name, false);
      addTimeline(e.room, e.name + ' left');
      renderMessages();
      renderSession();
    }
  });
  S.client.on('read_receipt', () => renderInbox());
  S.client.on('attachment_updated', (u) => {
    if (u.room === S.current) renderMessages();
    renderInbox();
  });
  S.client.on('error', (e) => {
    if (e.kind === 'auth_failed') {
      notice('the server refused the token');
      signOut(false);
      return;
    }
    if (e.kind === 'server' || e.kind === 'not_connected' || e.kind === 'invalid_argument') {
      notice((e.code || e.kind) + ': ' + e.message);
    }
  });
  S.client.watchInbox(true);
  restoreQueue();
  S.client.start();
  const room = STORE.getItem('livechat.room');
  if (room && isValidRoom(room)) openRoom(room);
  renderStatus();
  renderControls();
}

export function signOut(forget = true) {
  if (!S.client) return;
  saveDraft();
  const c = S.client;
  S.client = null;
  S.sentAs = null;
  c.stop();
  S.current = null;
  for (const u of uploads.splice(0)) if (u.ctrl) u.ctrl.abort();
  renderUploads();
  if (forget) {
    try {
      STORE.removeItem('livechat.token');
      STORE.removeItem('livechat.room');
      STORE.removeItem('livechat.queue');
    } catch (_) { /* disabled */ }
  } else {
    try { STORE.removeItem('livechat.token'); } catch (_) { /* disabled */ }
  }
  el.messages.replaceChildren();
  el.text.value = '';
  renderStatus();
  renderOnline();
  renderInbox();
  renderSession();
}
